"""Every command's path, written once: load the streams it decides on, fold them, call a pure
`decide`, seal personal plaintext, append with the versions the streams were read at (several
streams in one atomic commit), decide again when another writer was faster, and answer with the
read-your-writes position. As Equinox's `Decider.Transact`, a handler reads

    outcome = await self.transactor.transact(ctx, streams.participant(pid), decide)

and the loading, retrying and appending live here and nowhere else.
"""

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

from bilet.application.context import RequestContext
from bilet.application.eventlog import EventLog, Loaded, Part, Stream
from bilet.application.kept import KeptFolds
from bilet.application.retry import MAX_ATTEMPTS, retrying
from bilet.audit import Audited, AuditLog, AuditRecord, audit_appends
from bilet.contracts import DomainEvent
from bilet.contracts.drafts import Decided
from bilet.crypto import FieldCipher
from bilet.eventstore import (
    AppendResult,
    EventStore,
    ExpectedVersion,
    StreamAppend,
    WrongExpectedVersion,
    category_of,
)

if TYPE_CHECKING:
    from bilet.application.combined import CombinedCommits

S = TypeVar("S")
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

_log = logging.getLogger(__name__)

# An append whose answer was lost (a dropped connection, a timeout) may or may not have been
# committed. Sending the very same events again is safe: the store recognises their ids and
# answers with the original result instead of writing twice.
UNKNOWN_OUTCOME_ATTEMPTS: Final = 3
UNKNOWN_OUTCOME_ERRORS: Final = (OSError, TimeoutError)


@dataclass(frozen=True)
class Fold(Generic[S]):
    """How one stream becomes the state a decider decides on: its id, the decider's `initial`
    state and its `evolve`."""

    stream_id: str
    initial: S
    evolve: Callable[[S, Any], S]


Decision = Sequence[Decided]


@dataclass(frozen=True)
class OwnCommit:
    """A commit a `Transactor` made, told to its observers (`Transactor.on_commit`): every
    position from `first` to `last` is this commit's (its audit records' too), and `events` are
    its events with their positions, as a read of the store would decode them (personal fields
    sealed; the audit records left out)."""

    first: int
    last: int
    events: tuple[tuple[DomainEvent, int], ...]


CommitObserver = Callable[[OwnCommit], None]


@dataclass(frozen=True)
class OwnAppend:
    """One stream's part of a commit made through `Transactor.commit` (not combined commits nor
    `EventLog.append`), told to its `on_append` observers on any store: its `events` (sealed, as
    a read would decode them) took the stream's versions up to `version`, consecutively (one
    append's events are consecutive in their stream on any store, unlike positions)."""

    stream_id: str
    version: int
    events: tuple[DomainEvent, ...]


AppendObserver = Callable[[OwnAppend], None]


@dataclass(frozen=True)
class Outcome(Generic[T_co]):
    """What a command did: what its body returned, the read-your-writes position of its commit
    (or of what it read, when it decided nothing), and each stream's version after it."""

    value: T_co
    position: int
    versions: Mapping[str, int | None]
    appended: bool

    def version(self, stream_id: str) -> int | None:
        return self.versions.get(stream_id)


class Attempt:
    """One try at a command: the streams it read (and the versions it read them at) and what it
    decided for them. A retry starts a new attempt from scratch."""

    def __init__(self, store: EventStore, log: EventLog, kept: KeptFolds | None = None) -> None:
        self._store = store
        self._log = log
        self._kept = kept
        self._read: dict[str, Stream] = {}
        self._decided: dict[str, list[Decided]] = {}
        self._expected: dict[str, ExpectedVersion] = {}
        # The store's change marks, taken at the attempt's first kept fold (`_mark_of`).
        self._marks: Callable[[str], Hashable] | None = None
        self._marks_taken = False
        self._audited: Audited | None = None  # `audit`: recorded only if the attempt writes

    def audit(self, log: AuditLog, *records: AuditRecord) -> None:
        """Audit records of what this attempt writes, known only as it decides (whose data it
        touched): committed with its events as `transact_many(audited=...)`'s are, if it writes
        anything; none if it decides nothing, fails or is tried again (the retry's own are).
        Not in a command given `transact_many(audited=...)`: that fails once the body has run."""
        if self._audited is not None and self._audited.log is not log:
            raise ValueError("an attempt's audit records go to one log")
        known = () if self._audited is None else self._audited.records
        self._audited = Audited(log, (*known, *records))

    @property
    def audited(self) -> Audited | None:
        """The records `audit` was given, for a commit that writes something."""
        return self._audited

    async def read(self, stream_id: str) -> Stream:
        """The stream's events, read once per attempt. An append to it expects the version read
        here, so a decision taken on it is never committed on top of a change it did not see."""
        stream = self._read.get(stream_id)
        if stream is None:
            stream = await self._fetch(stream_id)
            self._read[stream_id] = stream
        return stream

    async def _fetch(self, stream_id: str) -> Stream:
        """Where a first read of the stream comes from: the store (a combined commit's attempt
        adds what the commands before it in the batch decided, `bilet.application.combined`)."""
        return await self._log.read(self._store, stream_id)

    async def load(self, fold: Fold[S]) -> Loaded[S]:
        """The stream folded into its state (read as `read` does; a reference stream's kept
        fold is brought up to date instead, `bilet.application.kept`)."""
        if (
            self._kept is not None
            and fold.stream_id not in self._read
            and self._kept.keeps(fold.stream_id)
        ):
            mark = await self._mark_of(fold.stream_id)
            loaded = await self._kept.load(
                self._store, fold.stream_id, fold.evolve, fold.initial, mark
            )
            self._read[fold.stream_id] = loaded
            return loaded
        stream = await self.read(fold.stream_id)
        state = fold.initial
        for event in stream.events:
            state = fold.evolve(state, event)
        return Loaded(stream.stream_id, stream.events, stream.version, stream.position, state)

    async def _mark_of(self, stream_id: str) -> Hashable | None:
        """The stream's category's change mark, from one look at the store per attempt: the
        kept folds an attempt reads are then as of that look (a consistent moment), and a
        decision appended on a stale one is still refused by its expected version."""
        if not self._marks_taken:
            self._marks = await self._store.change_marks()
            self._marks_taken = True
        return None if self._marks is None else self._marks(category_of(stream_id))

    async def state(self, fold: Fold[S]) -> S:
        """Only the state of `load`."""
        return (await self.load(fold)).state

    def append(
        self, stream_id: str, decided: Decision, expected: ExpectedVersion | None = None
    ) -> None:
        """Commit `decided` to `stream_id` with the rest of this attempt. `expected` defaults to
        the version the stream was loaded at; a stream that was not loaded needs one (NO_STREAM
        for a new stream, ANY for an additive, unordered one)."""
        if expected is None:
            read = self._read.get(stream_id)
            if read is None:
                raise ValueError(f"{stream_id} was not loaded: say which version to expect")
            expected = read.expected
        known = self._expected.setdefault(stream_id, expected)
        if known != expected:
            raise ValueError(f"{stream_id}: two expectations ({known!r}, {expected!r})")
        self._decided.setdefault(stream_id, []).extend(decided)

    @property
    def parts(self) -> list[Part]:
        """What this attempt commits, stream by stream (streams with nothing decided left out)."""
        return [
            Part(stream_id, decided, self._expected[stream_id])
            for stream_id, decided in self._decided.items()
            if decided
        ]

    def outcome(self, value: T, results: Sequence[AppendResult]) -> Outcome[T]:
        versions: dict[str, int | None] = {sid: s.version for sid, s in self._read.items()}
        versions.update({r.stream_id: r.version for r in results})
        return Outcome(value, self._position(results), versions, bool(results))

    def _position(self, results: Sequence[AppendResult]) -> int:
        """The read-your-writes position: a position a reader of the published streams will
        reach. The commit's last published event; else (nothing published was written) what
        was read of the published streams decided on, else of any published stream read."""
        published = self._log.is_published
        committed = [r.position for r in results if published(r.stream_id)]
        if committed:
            return max(committed)
        read = {sid: s.position for sid, s in self._read.items() if published(sid) and s.position}
        decided_on = [position for sid, position in read.items() if sid in self._decided]
        if decided_on or read:
            return max(decided_on or read.values())
        # Only internal streams, which no reader of the published ones waits for.
        every = [r.position for r in results] + [s.position for s in self._read.values()]
        return max(every, default=0)


class Transactor:
    """A service's command path over its store: `transact` for one stream, `transact_many` for a
    decision that spans several (one atomic commit). `conflict` is the service's own error for
    a command that kept meeting faster writers."""

    def __init__(
        self,
        store: EventStore,
        cipher: FieldCipher,
        log: EventLog,
        conflict: Callable[[], Exception],
        *,
        attempts: int = MAX_ATTEMPTS,
        kept_categories: Collection[str] = (),
    ) -> None:
        """`kept_categories`: the categories of reference streams (read by most commands,
        rarely changed) whose folded states are kept between commands (`KeptFolds`)."""
        self.store = store
        self.cipher = cipher
        self.log = log
        self.conflict = conflict
        self.attempts = attempts
        self._combined: CombinedCommits | None = None
        self._kept = KeptFolds(log, kept_categories) if kept_categories else None
        self._observers: list[CommitObserver] = []
        self._append_observers: list[AppendObserver] = []
        # An erasure learned by the cipher takes the participant's decoded events out of the
        # log's cache too (the cache must not outlive what the erasure destroyed).
        cipher.when_forgotten(log.forget_key_subject)

    def on_commit(self, observer: CommitObserver) -> None:
        """Tell `observer` of every commit made through `commit` whose positions are known to
        be consecutive (a store that commits one writer at a time), right after it is durable:
        an in-process view can apply what its own process wrote instead of reading it back. It
        runs on the command's path, so it must be quick; should it raise, that is logged and
        the commit stands (the others are still told), so it must leave itself able to read the
        commit from the store. A commit it is not told of (another path, another process) it
        reads from the store as before."""
        self._observers.append(observer)

    def on_append(self, observer: AppendObserver) -> None:
        """Tell `observer` of each stream's part of the commits made through `Transactor.commit`
        (not combined commits nor `EventLog.append`, which tell no one), on any store, right
        after each is durable (by stream versions, which are consecutive within one append
        everywhere; `on_commit` needs positions, which are only where one writer commits at a
        time). Appends it is not told of happen, so it must check the versions it is told of
        rather than count on hearing of every one. The same rules as `on_commit`: quick, and a
        raise is logged."""
        self._append_observers.append(observer)

    def attempt(self) -> Attempt:
        """A fresh attempt: reads through it remember the versions a commit will expect."""
        return Attempt(self.store, self.log, self._kept)

    def position_of(self, results: Sequence[AppendResult]) -> int:
        """The read-your-writes position of a commit's results (its published streams' last)."""
        return self.log.published_position((r.stream_id, r.position) for r in results)

    async def transact(
        self,
        ctx: RequestContext,
        fold: Fold[S],
        decide: Callable[[S], Decision | Awaitable[Decision]],
    ) -> Outcome[S]:
        """Load `fold`'s stream, `decide` on its state, append what was decided; again on a
        conflict. The outcome's value is the state the decision was taken on."""

        async def body(attempt: Attempt) -> S:
            state = await attempt.state(fold)
            decided = decide(state)
            if inspect.isawaitable(decided):
                decided = await decided
            attempt.append(fold.stream_id, decided)
            return state

        return await self.transact_many(ctx, body)

    async def transact_many(
        self,
        ctx: RequestContext,
        body: Callable[[Attempt], Awaitable[T]],
        *,
        retry: bool = True,
        conflict: Callable[[], Exception] | None = None,
        audited: Audited | None = None,
    ) -> Outcome[T]:
        """Run `body` (it loads, decides and appends through the `Attempt`) and commit what it
        decided; with `retry`, run it again from scratch when a stream changed meanwhile. Without
        (a caller who named the version they saw), a change meanwhile raises `conflict`.
        `audited`: the command's audit records, written once it succeeded (`commit`); a body
        that knows its records only as it decides gives them to `Attempt.audit` instead.

        Not both: a command given `audited` whose body calls `Attempt.audit` raises `ValueError`
        once the body has run (nothing is committed). Nothing tells before the body runs, so a
        body that calls `Attempt.audit` on some paths only fails on those paths, at run time: a
        command gives all its records one way, `audited` or `Attempt.audit`, on every path."""

        async def once() -> Outcome[T]:
            attempt = self.attempt()
            value = await body(attempt)
            parts = attempt.parts
            records = audited
            if attempt.audited is not None:
                if audited is not None:
                    raise ValueError("a command's audit records: `audited` or `Attempt.audit`")
                # Only with something written: an attempt that decided nothing audits nothing.
                records = attempt.audited if parts else None
            return attempt.outcome(value, await self.commit(ctx, parts, records))

        refused = conflict or self.conflict
        if retry:
            return await retrying(once, refused, attempts=self.attempts)
        try:
            return await once()
        except WrongExpectedVersion:
            raise refused() from None

    async def transact_combined(
        self,
        ctx: RequestContext,
        key: str,
        body: Callable[[Attempt], Awaitable[T]],
        *,
        reads: Collection[str] = (),
    ) -> Outcome[T]:
        """As `transact_many`, combined with the commands on the same `key` (a stream they all
        decide on) that this process runs meanwhile: they are decided one after another in one
        attempt and committed in one append (`bilet.application.combined`, docs/adr/0035).
        `reads`: the other streams `body` will read, read with the batch's beforehand."""
        if self._combined is None:
            # Imported here: the combined path builds on this module's `Attempt`.
            from bilet.application.combined import CombinedCommits

            self._combined = CombinedCommits(self)
        return await self._combined.transact(ctx, key, body, reads=reads)

    async def commit(
        self, ctx: RequestContext, parts: Sequence[Part], audited: Audited | None = None
    ) -> list[AppendResult]:
        """Seal and append `parts` in one commit (nothing when nothing was decided). The events
        get their ids once, so an append whose answer was lost is sent again unchanged.

        `audited` records go into the same commit when the store commits one writer at a time
        (SQLite: one transaction and one sync fewer per command, and the record is durable
        exactly when what it records is); otherwise, and when nothing was decided, they are
        recorded through their log after the commit (docs/adr/0075)."""
        prepared = await self.log.prepare_sealed(self.cipher, ctx.metadata(), parts)
        appends = [append for append, _ in prepared]
        trail = []
        if appends and audited is not None:
            trail = audit_appends(audited.log, self.store, audited.records)
        sent = [*appends, *trail]
        try:
            results = await self.append_prepared(sent) if appends else []
        except BaseException:
            self.log.not_committed(prepared)
            raise
        if results and self._observers and self.store.one_writer_at_a_time:
            self._tell(prepared, sent, results)
        if results and self._append_observers:
            self._tell_appends(prepared, results)
        if audited is not None and not trail:
            await audited.log.record(*audited.records)
        return results[: len(appends)]

    def _tell(
        self,
        prepared: Sequence[tuple[StreamAppend, Sequence[DomainEvent]]],
        appends: Sequence[StreamAppend],
        results: Sequence[AppendResult],
    ) -> None:
        """Tell the observers of a commit, when its events provably took every position from
        its first to its last (each stream's events consecutive: one writer at a time)."""
        first, last, count = results[0].position, results[0].position, 0
        for append, result in zip(appends, results, strict=True):
            count += len(append.events)
            first = min(first, result.position - len(append.events) + 1)
            last = max(last, result.position)
        if count != last - first + 1:
            return  # not one unbroken run of positions (an earlier commit of these ids, say)
        events: list[tuple[DomainEvent, int]] = []
        for (_, sealed), result in zip(prepared, results, strict=False):
            positions = range(result.position - len(sealed) + 1, result.position + 1)
            events.extend(zip(sealed, positions, strict=True))
        commit = OwnCommit(first, last, tuple(events))  # in the order appended: positions
        for observer in self._observers:
            # The commit is durable whatever an observer does: its caller hears of success and
            # the other observers are told; one that failed reads the commit from the store.
            try:
                observer(commit)
            except Exception:
                _log.exception("a commit observer failed (commit %d..%d)", first, last)

    def _tell_appends(
        self,
        prepared: Sequence[tuple[StreamAppend, Sequence[DomainEvent]]],
        results: Sequence[AppendResult],
    ) -> None:
        for (append, sealed), result in zip(prepared, results, strict=False):
            told = OwnAppend(append.stream_id, result.version, tuple(sealed))
            for observer in self._append_observers:
                try:
                    observer(told)
                except Exception:
                    _log.exception("an append observer failed (%s)", append.stream_id)

    async def append_prepared(self, appends: Sequence[StreamAppend]) -> list[AppendResult]:
        """Append sealed and encoded `appends` in one commit, sending them again unchanged when
        the store's answer was lost."""
        for tries in range(1, UNKNOWN_OUTCOME_ATTEMPTS + 1):
            try:
                return await self.store.append_many(appends)
            except UNKNOWN_OUTCOME_ERRORS:
                if tries == UNKNOWN_OUTCOME_ATTEMPTS:
                    raise
                await asyncio.sleep(0.05 * tries)
        raise AssertionError("unreachable")  # pragma: no cover
