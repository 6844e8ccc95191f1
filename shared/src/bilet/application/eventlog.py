"""Between deciders and a service's event store: reading and folding streams, sealing what was
decided, and encoding it with its metadata.

A service's store holds published events (the catalogue of `bilet.contracts`: `encode`/`decode`,
the newest version) and internal ones that are never relayed: those live in the service's own
stream categories and are read and written through the service's own registry. An `EventLog`
is bound to that registry and those categories once, in the service's application layer.
"""

import contextlib
import functools
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Generic, NamedTuple, TypeVar
from uuid import UUID

from bilet.contracts import (
    DomainEvent,
    EventMetadata,
    EventRegistry,
    decode,
    encode,
    seal_many,
    sealed_scopes,
)
from bilet.contracts.codec import StoredEvent, require_newest
from bilet.contracts.drafts import Decided, Unsealed
from bilet.contracts.sealed import KeyScope, Personal, generation_fields, key_generations
from bilet.crypto import FieldCipher
from bilet.eventstore import (
    NO_STREAM,
    AppendResult,
    EventStore,
    ExpectedVersion,
    NewEvent,
    StreamAppend,
    category_of,
)
from bilet.eventstore.model import new_event_ids

S = TypeVar("S")

# How many decoded events of the streams commands decide on an `EventLog` keeps (`read`).
DECODED_EVENTS_KEPT: Final = 2048
# How many events of its own latest commits an `EventLog` that reads them back keeps for readers
# of everything (`decode_own`, `keep_written`): enough for the commits of a few hundred commands
# in flight.
WRITTEN_EVENTS_KEPT: Final = 1024
# A commit of more events than this share of what is kept is not kept at all (a class list's
# chunk: ~2,500 events): it would push out the commits of every command in flight, read back by
# nobody sooner than theirs.
WRITTEN_COMMIT_SHARE: Final = 4
# Of how many participants forgotten lately a cache refuses every event (`_KeptEvents.forget`):
# erasures learned between the one that forgets a participant and the purge of their streams by
# another process (the identity worker), which no `forget` in this process follows.
FORGOTTEN_KEPT: Final = 4096


@dataclass(frozen=True)
class Stream:
    """A stream's decoded events, with what an append and a read-your-writes token need."""

    stream_id: str
    events: tuple[DomainEvent, ...]
    version: int | None  # of the last event; None: no stream
    position: int  # of the last event; 0: none

    @property
    def expected(self) -> ExpectedVersion:
        """The expected version of an append that builds on what was read."""
        return NO_STREAM if self.version is None else self.version


@dataclass(frozen=True)
class Loaded(Stream, Generic[S]):
    """A stream folded into its state."""

    state: S


class Part(NamedTuple):
    """One stream's share of a commit: what was decided for it, on the version it was read at."""

    stream_id: str
    decided: Sequence[Decided]
    expected: ExpectedVersion


async def seal_all(cipher: FieldCipher, decided: Iterable[Decided]) -> list[DomainEvent]:
    """The decided events as they are stored: personal plaintext sealed with the subject's key
    of each field's scope (health data with the health key, of the generation the event names).
    All their values in one `seal_many` call: one erasure check, and the keys not cached fetched
    (created where new) in one key-store call, after every value was checked (a registration
    seals with a participant key and a health key, which were two key-store transactions)."""
    return await _sealed_together(cipher, [list(decided)])


async def _sealed_together(
    cipher: FieldCipher, streams: Sequence[Sequence[Decided]]
) -> list[DomainEvent]:
    """`seal_all` of several streams' decided events at once (a commit's), in order: one
    `seal_many` call for the commit, not one per stream (docs/adr/0099)."""
    drafts = [event for decided in streams for event in decided if isinstance(event, Unsealed)]
    values = await seal_many(cipher, _personal(drafts))
    # Each draft takes the next value: one value too many or too few would seal a draft with
    # another's values, or fail further on with a baffling StopIteration.
    if len(values) != len(drafts):
        raise AssertionError(f"{len(drafts)} drafts sealed into {len(values)} values")
    each = iter(values)
    return [
        event.sealed_with(next(each)) if isinstance(event, Unsealed) else event
        for decided in streams
        for event in decided
    ]


def _personal(drafts: Sequence[Unsealed[DomainEvent]]) -> list[Personal]:
    """Each draft's values to seal with what chooses their keys. A commit's drafts come in runs
    of one class about one participant (a sheet's answers): a class's scopes and whether it
    names key generations, and a subject's id as text, are taken once per run, not per draft
    (docs/adr/0111); `None` generations are the first, as an empty mapping."""
    out: list[Personal] = []
    kind: type[DomainEvent] | None = None
    scopes: Mapping[str, KeyScope] = {}
    named = False  # whether `kind` names key generations
    about: object = None  # the subject's id the run is about (`subject` is its text)
    subject = ""
    for draft in drafts:
        if draft.event_class is not kind:
            kind = draft.event_class
            scopes, named = sealed_scopes(kind), bool(generation_fields(kind))
            about = None
        key = draft.clear[kind.subject_key]
        if key is not about or about is None:
            about, subject = key, draft.subject
        generations = key_generations(kind, draft.clear) if named else None
        out.append(Personal(subject, draft.personal, scopes, generations))
    return out


async def seal_streams(
    cipher: FieldCipher, streams: Sequence[Sequence[Decided]]
) -> list[list[DomainEvent]]:
    """`seal_all` of each stream's decided events, all in one `seal_many` call (a commit's, a
    combined command's): each stream's sealed events, in order."""
    sealed = await _sealed_together(cipher, streams)
    out, start = [], 0
    for decided in streams:
        out.append(sealed[start : start + len(decided)])
        start += len(decided)
    return out


def _metadata_json(
    metadata: EventMetadata, schema_version: int, encoded: dict[int, bytes]
) -> bytes:
    """The metadata's JSON with `schema_version` stamped in, made once per version (`encoded`)."""
    meta = encoded.get(schema_version)
    if meta is None:
        if metadata.schema_version != schema_version:
            metadata = metadata.model_copy(update={"schema_version": schema_version})
        meta = encoded[schema_version] = metadata.to_json()
    return meta


_StoredKey = tuple[str, bytes, bytes, str]  # type, data, metadata, stream category


def _subject_of(event: DomainEvent) -> str | None:
    """The participant an event is about (its `subject_key`, the id its keys are of), if any."""
    subject = getattr(event, event.subject_key, None)
    return None if subject is None else str(subject)


class _KeptEvents:
    """Decoded events by their stored bytes, the least recently used beyond `limit` dropped,
    with each participant's (their `subject_key`) found at once, so that an erasure or a purge
    takes them out of memory rather than leaving them to age out (`forget`); and events of the
    participants forgotten lately never kept again (`FORGOTTEN_KEPT` of them)."""

    def __init__(self, limit: int, forgotten: "OrderedDict[str, None]") -> None:
        """`forgotten`: the participants forgotten lately, their log's (`EventLog.forget`)."""
        self.limit = limit
        # Each event with its participant (None: about nobody), named once when kept.
        self._events: OrderedDict[_StoredKey, tuple[DomainEvent, str | None]] = OrderedDict()
        self._of: dict[str, set[_StoredKey]] = {}
        self._forgotten = forgotten

    def get(self, key: _StoredKey) -> DomainEvent | None:
        kept = self._events.get(key)
        if kept is None:
            return None
        self._events.move_to_end(key)
        return kept[0]

    def put(self, key: _StoredKey, event: DomainEvent, *, unnamed: bool) -> None:
        """Keep `event`; one that names no participant only if `unnamed` (it is about nobody):
        `forget` could never take out an event about someone it does not name (a reservation's
        `DuplicateReviewResolved`, with the keyed hash of a СНИЛС and no `participant_id`)."""
        if not self.limit:
            return
        if key in self._events:
            self._events.move_to_end(key)
            return  # the same bytes: the same event
        subject = _subject_of(event)
        if subject is None and not unnamed:
            return
        if subject is not None and subject in self._forgotten:
            return  # read or sealed after (or while) they were forgotten
        self._events[key] = (event, subject)
        if subject is not None:
            self._of.setdefault(subject, set()).add(key)
        if len(self._events) > self.limit:
            oldest, (_, held_by) = self._events.popitem(last=False)
            self._unlist(oldest, held_by)

    def drop(self, key: _StoredKey) -> None:
        kept = self._events.pop(key, None)
        if kept is not None:
            self._unlist(key, kept[1])

    def _unlist(self, key: _StoredKey, held_by: str | None) -> None:
        if held_by is not None and (keys := self._of.get(held_by)) is not None:
            keys.discard(key)
            if not keys:
                del self._of[held_by]

    def forget(self, subject: str) -> None:
        """Take the participant's events out (their log keeps none of theirs from now on)."""
        for key in self._of.pop(subject, ()):
            self._events.pop(key, None)


class EventLog:
    """One service's events in its store: published ones through the catalogue, internal ones
    (in `internal_categories`) through `internal_events`."""

    def __init__(
        self,
        internal_events: EventRegistry,
        internal_categories: Iterable[str],
        *,
        purged_categories: Iterable[str] = (),
        keep_written: int = 0,
    ) -> None:
        """`purged_categories`: the internal categories whose streams are about people and
        purged on their erasure (a store told so by `allow_purging` adds its own): their events
        that name no participant are never kept (`_decode_again`). `keep_written`: how many
        events of its latest commits it keeps for `decode_own` (`WRITTEN_EVENTS_KEPT`); none
        unless a reader of everything in this process reads its own commits back (identity's
        views), else they would be copies held for nobody."""
        self.internal_events = internal_events
        self.internal_categories = frozenset(internal_categories)
        self.purged_categories = frozenset(purged_categories)
        # The participants forgotten lately (the oldest beyond `FORGOTTEN_KEPT` out), whose
        # events neither cache keeps again: in distributed mode the API process learns an
        # erasure (its cipher) before the worker purges the participant's reservation, and a
        # read in between (the child registered again) would keep it after the purge, which no
        # `forget` here follows (docs/adr/0099).
        self._forgotten_lately: OrderedDict[str, None] = OrderedDict()
        # Events of the streams commands decide on, decoded lately (`_decode_again`).
        self._decided_on = _KeptEvents(DECODED_EVENTS_KEPT, self._forgotten_lately)
        # Events of this process's latest commits, as it sealed them (`decode_own`).
        self._written = _KeptEvents(keep_written, self._forgotten_lately)
        # How many times a participant was forgotten (`forget`): events decoded or sealed across
        # an await are kept only if nobody was forgotten meanwhile, since `forget` ran before
        # they were kept and could not take them out (docs/adr/0099, amended). The caches also
        # refuse the events of the participants forgotten lately, but only of the last
        # `FORGOTTEN_KEPT`: this holds however many erasures are learned at once.
        self._forgotten = 0
        # Other caches of this log's events, told of every `forget` (`when_forgotten`); held
        # weakly: a service's log outlives the transactors (apps, tests) that read through it.
        self._forgotten_listeners: list[weakref.WeakMethod[Callable[[str], None]]] = []

    def decode(self, stored: StoredEvent, stream_id: str) -> DomainEvent:
        """The event a record of `stream_id` holds (the newest version of a published one)."""
        if category_of(stream_id) in self.internal_categories:
            return decode(stored, self.internal_events)
        return decode(stored)

    def decode_own(self, stored: StoredEvent, stream_id: str) -> DomainEvent:
        """`decode` for readers of everything (in-process views catching up), which read back
        what this process has just committed: an event of one of its latest commits is the one
        it sealed and encoded into those bytes (`prepare_sealed`, what a `Transactor`'s commit
        observers are told), not decoded again; any other is decoded and not kept
        (docs/adr/0099)."""
        own = self._written.get((stored.type, stored.data, stored.metadata, category_of(stream_id)))
        return self.decode(stored, stream_id) if own is None else own

    def _decode_again(
        self, stored: StoredEvent, stream_id: str, keep: bool, purgeable: bool
    ) -> DomainEvent:
        """`decode` for the streams commands decide on, which are read again on every command
        that decides on them (a school's, a season's, an attempt's answers so far): an event
        decoded lately is taken from a bounded cache. Decoding is a function of the stored bytes
        (events are never rewritten in place), so they are the key; the events are frozen models
        holding personal data only sealed, as the store does. Not `keep`: what is decoded is
        not kept (a participant was forgotten while the stream was read). Of a `purgeable`
        stream (about people, purged on their erasure) only events naming their participant
        are kept: the others `forget` could not find."""
        key = (stored.type, stored.data, stored.metadata, category_of(stream_id))
        event = self._decided_on.get(key)
        if event is None:
            event = self.decode(stored, stream_id)
            if keep:
                self._decided_on.put(key, event, unnamed=not purgeable)
        return event

    def forget(self, subject: str) -> None:
        """Take every cached event of a participant (their id) out of memory: their data was
        erased or purged. The caches hold personal fields only sealed and the store's purgeable
        streams (keyed hashes) as the store did; once the store forgets them, or their key is
        destroyed, this process must not keep a copy until it ages out (docs/adr/0066), nor
        make one afterwards: a stream read before another process purges it (docs/adr/0099)."""
        self._forgotten += 1
        lately = self._forgotten_lately
        lately[subject] = None
        lately.move_to_end(subject)
        if len(lately) > FORGOTTEN_KEPT:
            lately.popitem(last=False)
        self._decided_on.forget(subject)
        self._written.forget(subject)
        # A copy: a listener collected meanwhile takes its entry out of the list (`unlist`).
        for ref in tuple(self._forgotten_listeners):
            if (listener := ref()) is not None:
                listener(subject)

    def names_forgotten(self, events: Iterable[DomainEvent]) -> bool:
        """Whether any of `events` is about a participant forgotten lately (of the last
        `FORGOTTEN_KEPT`): another cache of events read through this log (a combined key's
        kept stream) keeps none of theirs either, as the log's own caches do not."""
        lately = self._forgotten_lately
        return bool(lately) and any(_subject_of(event) in lately for event in events)

    @property
    def forgotten(self) -> int:
        """How many times a participant was forgotten so far: a cache that read events across
        an await keeps them only if this did not move meanwhile (`forget` ran before it kept
        them and could not take them out)."""
        return self._forgotten

    def when_forgotten(self, listener: Callable[[str], None]) -> None:
        """Call `listener(participant)`, a bound method, on every `forget` while its object
        lives: for other caches of the events read through this log (combined commits'). Its
        entry goes with its object: a service's log outlives the transactors (apps, tests) that
        add one each, and a process that never forgets anyone would otherwise keep them all."""
        listeners = self._forgotten_listeners  # never replaced: `unlist` removes from it

        def unlist(ref: "weakref.WeakMethod[Callable[[str], None]]") -> None:
            with contextlib.suppress(ValueError):
                listeners.remove(ref)

        listeners.append(weakref.WeakMethod(listener, unlist))

    def forget_key_subject(self, key_subject: str) -> None:
        """`forget` the participant whose key a key-store subject names (their own id, or
        `<scope>:<id>[:<generation>]`, `bilet.contracts.sealed.key_subject`): a `FieldCipher`
        calls it for every key it forgets, learning erasures made in any process."""
        parts = key_subject.split(":")
        self.forget(parts[1] if len(parts) > 1 else parts[0])

    def encode(
        self, event: DomainEvent, metadata: EventMetadata, event_id: UUID | None = None
    ) -> NewEvent:
        """The event as the store appends it, with its schema version in the metadata."""
        if not self.internal_events.is_published(event.event_type):
            return encode(event, metadata, event_id)
        data = event.model_dump_json().encode()
        meta = _metadata_json(metadata, event.schema_version, {})
        if event_id is None:
            return NewEvent(type=event.event_type, data=data, metadata=meta)
        return NewEvent(type=event.event_type, data=data, metadata=meta, event_id=event_id)

    def _encode_all(
        self, events: Sequence[DomainEvent], metadata: EventMetadata, encoded: dict[int, bytes]
    ) -> list[NewEvent]:
        """`encode` for a commit's events, each with a new id: the metadata is serialised once
        per schema version (`encoded`, shared by the commit's streams), not once per event."""
        out = []
        last: type[DomainEvent] | None = None  # a commit's events come in runs of one class
        meta = b""
        for event, event_id in zip(events, new_event_ids(len(events)), strict=True):
            kind = type(event)
            if kind is not last:
                if not self.internal_events.is_published(kind.event_type):
                    require_newest(kind)  # a published event: as the catalogue writes it
                meta = _metadata_json(metadata, kind.schema_version, encoded)
                last = kind
            out.append(NewEvent(kind.event_type, event.model_dump_json().encode(), meta, event_id))
        return out

    def stream_append(
        self,
        stream_id: str,
        events: Sequence[DomainEvent],
        expected: ExpectedVersion,
        metadata: EventMetadata,
    ) -> StreamAppend:
        """One stream's append; every event must belong to the stream."""
        return self._stream_append(stream_id, events, expected, metadata, {})

    def _stream_append(
        self,
        stream_id: str,
        events: Sequence[DomainEvent],
        expected: ExpectedVersion,
        metadata: EventMetadata,
        encoded: dict[int, bytes],
    ) -> StreamAppend:
        checked: tuple[type[DomainEvent], object] | None = None
        for event in events:
            # An answer sheet's 43 answers name the same attempt (the same object): its stream
            # id is made and compared once, not once per event (docs/adr/0111).
            kind = type(event)
            key = getattr(event, kind.stream_key)
            if checked is not None and checked[0] is kind and checked[1] is key:
                continue
            if event.stream_id != stream_id:
                raise ValueError(
                    f"{event.event_type} belongs to {event.stream_id}, not {stream_id}"
                )
            checked = (kind, key)
        return StreamAppend(stream_id, self._encode_all(events, metadata, encoded), expected)

    async def read(self, store: EventStore, stream_id: str) -> Stream:
        """A stream's events, decoded; an empty stream at version None when there is none."""
        forgotten = self._forgotten
        records = await store.read_stream(stream_id)
        # Records read before an erasure learned meanwhile may hold the participant's events.
        keep = forgotten == self._forgotten
        category = category_of(stream_id)
        purgeable = category in self.purged_categories or category in store.purgeable_categories
        events = tuple(self._decode_again(record, stream_id, keep, purgeable) for record in records)
        version = records[-1].version if records else None
        position = records[-1].position if records else 0
        return Stream(stream_id, events, version, position)

    async def load(
        self, store: EventStore, stream_id: str, evolve: Callable[[Any, Any], S], initial: S
    ) -> Loaded[S]:
        """A stream folded with `evolve` from `initial`."""
        stream = await self.read(store, stream_id)
        state = functools.reduce(evolve, stream.events, initial)
        return Loaded(stream.stream_id, stream.events, stream.version, stream.position, state)

    def is_published(self, stream_id: str) -> bool:
        """Whether the stream's events leave the service (relayed), or are internal."""
        return category_of(stream_id) not in self.internal_categories

    def published_position(self, positions: Iterable[tuple[str, int]]) -> int:
        """The read-your-writes position of what a command wrote or read: the last event on a
        published stream. Internal streams are never relayed, so a reader built from the
        published ones would wait forever for a position only they hold."""
        every = list(positions)
        published = [p for s, p in every if self.is_published(s)]
        return max(published or [p for _, p in every])

    async def prepare_sealed(
        self,
        cipher: FieldCipher,
        metadata: EventMetadata,
        parts: Iterable[tuple[str, Iterable[Decided], ExpectedVersion]],
    ) -> list[tuple[StreamAppend, list[DomainEvent]]]:
        """What was decided for each stream, sealed and encoded (each event with its id), as one
        commit's appends (streams with nothing decided are left out), each with its events as
        they are stored (sealed): what a read of them would decode, for a view fed by its own
        process's commits."""
        # Each part's events copied once: sealing and sharing out read them again, which a
        # one-shot iterable would not survive (its events dropped or given to the next stream).
        copied = ((stream_id, list(decided), expected) for stream_id, decided, expected in parts)
        every = [part for part in copied if part[1]]
        forgotten = self._forgotten
        # One `seal_many` for the whole commit: one erasure check and one key-store call for
        # the keys not cached, not one per stream or per key.
        sealed = await seal_streams(cipher, [decided for _, decided, _ in every])
        # A participant forgotten while the commit was sealed (an erasure learned by the cipher
        # as it fetched keys) may be one of its subjects: its events are not kept then.
        size = sum(len(events) for events in sealed)
        keep = forgotten == self._forgotten and size <= self._written.limit // WRITTEN_COMMIT_SHARE
        prepared = []
        encoded: dict[int, bytes] = {}
        for (stream_id, _, expected), events in zip(every, sealed, strict=True):
            append = self._stream_append(stream_id, events, expected, metadata, encoded)
            if keep:
                category = category_of(stream_id)
                # As `_decode_again` keeps them: of a purged category (about people) only
                # events naming their participant, those `forget` can find; elsewhere, events
                # that name nobody are about nobody (identity's grants, accounts, catalogue,
                # read back by their own catch-ups).
                unnamed = category not in self.purged_categories
                for new, event in zip(append.events, events, strict=True):
                    key = (new.type, new.data, new.metadata, category)
                    self._written.put(key, event, unnamed=unnamed)
            prepared.append((append, events))
        return prepared

    def not_committed(self, prepared: Sequence[tuple[StreamAppend, Sequence[DomainEvent]]]) -> None:
        """Take back what `prepare_sealed` kept of a commit that failed: those bytes are never
        read back (a retry seals anew), and would push out the commits that are. They are kept
        before the append, not after it, because concurrent catch-ups read a commit before its
        own command resumes (docs/adr/0099)."""
        for append, _ in prepared:
            category = category_of(append.stream_id)
            for new in append.events:
                self._written.drop((new.type, new.data, new.metadata, category))

    async def append(
        self,
        store: EventStore,
        cipher: FieldCipher,
        metadata: EventMetadata,
        parts: Iterable[tuple[str, Sequence[Decided], ExpectedVersion]],
    ) -> list[AppendResult]:
        """Seal and append what was decided for each stream (streams with nothing decided are
        left out) in one atomic append: all of it, or nothing."""
        prepared = await self.prepare_sealed(cipher, metadata, parts)
        try:
            return await store.append_many([append for append, _ in prepared])
        except BaseException:
            self.not_committed(prepared)
            raise
