"""A service's event log: internal events through the service's registry, published ones through
the catalogue; streams read and folded; decided drafts sealed and appended all or nothing."""

import asyncio
import gc
import json
from collections.abc import Collection, Iterator, Sequence
from typing import ClassVar
from uuid import RFC_4122, UUID

import pytest

from bilet.application import EventLog, Part, RequestContext, Transactor, eventlog, seal_all
from bilet.application.eventlog import (
    DECODED_EVENTS_KEPT,
    FORGOTTEN_KEPT,
    WRITTEN_COMMIT_SHARE,
    WRITTEN_EVENTS_KEPT,
)
from bilet.contracts import (
    DomainEvent,
    EventMetadata,
    EventRegistry,
    SealedValue,
    health_key_subject,
    unseal,
)
from bilet.contracts.catalogue.identity import CorrectionReason, ParticipantDetailsCorrected
from bilet.contracts.codec import StoredEvent
from bilet.contracts.drafts import Decided, Unsealed
from bilet.contracts.registry import UnknownEventType
from bilet.contracts.sealed import Personal, seal_many
from bilet.crypto import DataKey, FieldCipher, InMemoryKeyStore
from bilet.crypto.fields import ToSeal
from bilet.eventstore import NO_STREAM, ExpectedVersion, RecordedEvent, WrongExpectedVersion
from bilet.eventstore.memory import InMemoryEventStore
from bilet.http.auth import Principal, Role

PID = UUID("6c1c1c1c-0000-4000-8000-000000000001")
OTHER = UUID("6c1c1c1c-0000-4000-8000-000000000002")
NOTES = EventRegistry()


@NOTES.register
class NoteTaken(DomainEvent):
    """An internal event: in the `note` category, never published."""

    event_type: ClassVar[str] = "NoteTaken"
    service: ClassVar[str] = "identity"
    stream_category: ClassVar[str] = "note"
    stream_key: ClassVar[str] = "participant_id"

    participant_id: UUID
    text: str


@NOTES.register
class CaseClosed(DomainEvent):
    """An internal event about someone it does not name (as a reservation's
    `DuplicateReviewResolved`: a keyed hash, no `participant_id`)."""

    event_type: ClassVar[str] = "CaseClosed"
    service: ClassVar[str] = "identity"
    stream_category: ClassVar[str] = "case"
    stream_key: ClassVar[str] = "case_key"

    case_key: str


LOG = EventLog(NOTES, ["note", "case"])
META = EventMetadata(correlation_id="c-1", actor="registrar-1", actor_role="registrar")


def corrected(grade: int, participant_id: UUID = PID) -> ParticipantDetailsCorrected:
    return ParticipantDetailsCorrected(
        participant_id=participant_id, reason=CorrectionReason.TYPING_ERROR, grade=grade
    )


def snils_draft(snils: str) -> Unsealed[ParticipantDetailsCorrected]:
    return Unsealed(
        ParticipantDetailsCorrected,
        {"participant_id": PID, "reason": CorrectionReason.TYPING_ERROR},
        {"snils": snils},
    )


@pytest.fixture
def cipher() -> FieldCipher:
    return FieldCipher(InMemoryKeyStore())


def test_internal_events_are_encoded_through_the_services_registry_with_their_version() -> None:
    note = NoteTaken(participant_id=PID, text="позвонить")
    encoded = LOG.encode(note, META)
    assert encoded.type == "NoteTaken"
    assert json.loads(encoded.data) == {"participant_id": str(PID), "text": "позвонить"}
    metadata = json.loads(encoded.metadata)
    assert (metadata["schema_version"], metadata["correlation_id"]) == (1, "c-1")
    # The catalogue knows no NoteTaken: a log without the registry cannot write it.
    with pytest.raises(UnknownEventType):
        EventLog(EventRegistry(), ["note"]).encode(note, META)


def test_an_internal_category_is_decoded_by_the_registry_and_any_other_by_the_catalogue() -> None:
    note = LOG.encode(NoteTaken(participant_id=PID, text="позвонить"), META)
    assert LOG.decode(note, f"note-{PID}") == NoteTaken(participant_id=PID, text="позвонить")
    with pytest.raises(UnknownEventType):
        LOG.decode(note, f"participant-{PID}")
    published = LOG.encode(corrected(9), META)
    assert LOG.decode(published, f"participant-{PID}") == corrected(9)


def test_an_append_names_only_events_of_its_own_stream() -> None:
    append = LOG.stream_append(f"participant-{PID}", [corrected(8), corrected(9)], 1, META)
    assert (append.stream_id, append.expected_version) == (f"participant-{PID}", 1)
    assert [e.type for e in append.events] == ["ParticipantDetailsCorrected"] * 2
    with pytest.raises(ValueError, match="belongs to"):
        LOG.stream_append(f"participant-{PID}", [corrected(8, OTHER)], NO_STREAM, META)
    # Checked once per run of events naming the same stream (docs/adr/0111), and still for an
    # event after such a run; a note of the same participant is of another category.
    note = NoteTaken(participant_id=PID, text="позвонить")
    for events in (
        [corrected(7), corrected(8), corrected(9, OTHER)],
        [corrected(7), corrected(8), note],
    ):
        with pytest.raises(ValueError, match="belongs to"):
            LOG.stream_append(f"participant-{PID}", events, 1, META)


def test_a_commits_events_get_new_time_ordered_ids_of_their_own() -> None:
    """Drawn for a commit at once (`new_event_ids`, docs/adr/0111): each the UUIDv7 every new event
    gets (docs/adr/0110), one each, never the same twice."""
    append = LOG.stream_append(f"participant-{PID}", [corrected(g) for g in (6, 7, 8)], 1, META)
    again = LOG.stream_append(f"participant-{PID}", [corrected(6)], 1, META)
    ids = [event.event_id for event in (*append.events, *again.events)]
    assert len(set(ids)) == 4
    assert all((i.version, i.variant) == (7, RFC_4122) for i in ids)


async def test_a_stream_that_does_not_exist_reads_empty_at_no_version() -> None:
    stream = await LOG.read(InMemoryEventStore(), f"participant-{PID}")
    assert (stream.events, stream.version, stream.position) == ((), None, 0)
    assert stream.expected == NO_STREAM


async def test_loading_folds_the_decoded_events_and_keeps_the_version_for_the_next_append(
    cipher: FieldCipher,
) -> None:
    store = InMemoryEventStore()
    stream_id = f"participant-{PID}"
    [first] = await LOG.append(store, cipher, META, [Part(stream_id, [corrected(7)], NO_STREAM)])
    [second] = await LOG.append(
        store, cipher, META, [(stream_id, [corrected(8), corrected(9)], first.version)]
    )

    def grades(seen: list[int], event: DomainEvent) -> list[int]:
        assert isinstance(event, ParticipantDetailsCorrected)
        assert event.grade is not None
        return [*seen, event.grade]

    nothing: list[int] = []
    loaded = await LOG.load(store, stream_id, grades, nothing)
    assert loaded.state == [7, 8, 9]
    assert loaded.events == (corrected(7), corrected(8), corrected(9))
    assert (loaded.version, loaded.position) == (second.version, second.position)
    assert loaded.expected == second.version == 2


async def test_drafts_are_sealed_with_the_subjects_key_and_real_events_pass_as_they_are(
    cipher: FieldCipher,
) -> None:
    decided: list[Decided] = [snils_draft("112-233-445 95"), corrected(8)]
    sealed, plain = await seal_all(cipher, decided)
    assert isinstance(sealed, ParticipantDetailsCorrected)
    assert isinstance(sealed.snils, SealedValue)
    assert "112-233" not in sealed.model_dump_json()
    assert await unseal(cipher, sealed) == {"snils": "112-233-445 95"}
    assert plain == corrected(8)


async def test_one_commit_spans_streams_all_or_nothing_and_skips_streams_with_nothing_decided(
    cipher: FieldCipher,
) -> None:
    store = InMemoryEventStore()
    participant, note = f"participant-{PID}", f"note-{PID}"
    results = await LOG.append(
        store,
        cipher,
        META,
        [
            Part(participant, [snils_draft("112-233-445 95")], NO_STREAM),
            Part(f"participant-{OTHER}", [], NO_STREAM),
            Part(note, [NoteTaken(participant_id=PID, text="проверить СНИЛС")], NO_STREAM),
        ],
    )
    assert [r.stream_id for r in results] == [participant, note]
    stored = (await LOG.read(store, participant)).events[0]
    assert isinstance(stored, ParticipantDetailsCorrected)
    assert isinstance(stored.snils, SealedValue)
    # A stale expectation on one stream refuses the whole commit.
    with pytest.raises(WrongExpectedVersion):
        await LOG.append(
            store,
            cipher,
            META,
            [
                Part(note, [NoteTaken(participant_id=PID, text="ещё раз")], 0),
                Part(participant, [corrected(9)], NO_STREAM),
            ],
        )
    assert len((await LOG.read(store, note)).events) == 1
    assert await store.stream_version(f"participant-{OTHER}") is None


class CountingKeyStore(InMemoryKeyStore):
    """A real in-memory key store that counts the calls that fetch or create keys (a call for
    many counts once, however it is made)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, ...]] = []
        self._within_many = False

    async def get_or_create(self, subject: str) -> DataKey:
        if not self._within_many:
            self.calls.append((subject,))
        return await super().get_or_create(subject)

    async def get_or_create_many(self, subjects: Collection[str]) -> dict[str, DataKey]:
        self.calls.append(tuple(subjects))
        self._within_many = True
        try:
            return await super().get_or_create_many(subjects)
        finally:
            self._within_many = False


async def test_a_commit_sealing_with_two_keys_fetches_them_in_one_key_store_call() -> None:
    keys = CountingKeyStore()
    cipher = FieldCipher(keys)
    health_and_snils = Unsealed(
        ParticipantDetailsCorrected,
        {
            "participant_id": PID,
            "reason": CorrectionReason.HEALTH_STATUS_CHANGED,
            "key_generation": 1,
        },
        {
            "snils": "112-233-445 95",
            "health_limitations": {"has_limitations": True, "kind": "visual"},
        },
    )
    parts = [
        Part(f"participant-{PID}", [health_and_snils], NO_STREAM),
        Part(f"participant-{OTHER}", [corrected(8, OTHER)], NO_STREAM),
    ]
    [(append, _), _] = await LOG.prepare_sealed(cipher, META, parts)
    assert keys.calls == [(str(PID), health_key_subject(PID))]
    [event] = (LOG.decode(e, f"participant-{PID}") for e in append.events)
    assert await unseal(cipher, event, health=True) == health_and_snils.personal


def _health(participant_id: UUID, generation: int) -> Unsealed[ParticipantDetailsCorrected]:
    return Unsealed(
        ParticipantDetailsCorrected,
        {
            "participant_id": participant_id,
            "reason": CorrectionReason.HEALTH_STATUS_CHANGED,
            "key_generation": generation,
        },
        {"health_limitations": {"has_limitations": True, "kind": "visual"}},
    )


async def test_a_run_of_one_classs_drafts_seals_each_with_its_own_subject_and_generation(
    cipher: FieldCipher,
) -> None:
    """A class's scopes are taken once per run of its drafts (docs/adr/0111): each draft is
    still sealed with the key of its own participant and generation."""
    drafts = [_health(PID, 2), _health(PID, 3), _health(OTHER, 3), snils_draft("112-233-445 95")]
    sealed = await seal_all(cipher, drafts)
    key_ids = [
        value.kid
        for event in sealed
        for name in ("health_limitations", "snils")
        if isinstance(value := getattr(event, name), SealedValue)
    ]
    assert len(set(key_ids)) == 4  # three health keys and the participant key
    for event, draft in zip(sealed, drafts, strict=True):
        assert await unseal(cipher, event, health=True) == draft.personal


class CountingCipher(FieldCipher):
    """A real cipher that counts its `encrypt_many` calls."""

    sealing_calls = 0

    async def encrypt_many(self, records: Sequence[ToSeal]) -> list[dict[str, object]]:
        self.sealing_calls += 1
        return await super().encrypt_many(records)


async def test_a_commit_seals_the_drafts_of_all_its_streams_in_one_cipher_call() -> None:
    """A registration's drafts are in three streams: one erasure check and one key lookup for
    the commit, not one per stream (docs/adr/0099); each stream keeps its own events, in order."""
    keys = CountingKeyStore()
    cipher = CountingCipher(keys)
    other_snils = Unsealed(
        ParticipantDetailsCorrected,
        {"participant_id": OTHER, "reason": CorrectionReason.TYPING_ERROR},
        {"snils": "348-714-781 14"},
    )
    parts = [
        Part(f"participant-{PID}", [snils_draft("112-233-445 95"), corrected(8)], NO_STREAM),
        Part(f"note-{PID}", [NoteTaken(participant_id=PID, text="x")], NO_STREAM),
        Part(f"note-{OTHER}", [], NO_STREAM),
        Part(f"participant-{OTHER}", [corrected(9, OTHER), other_snils], 0),
    ]
    prepared = await LOG.prepare_sealed(cipher, META, parts)
    assert cipher.sealing_calls == 1
    assert keys.calls == [(str(PID), str(OTHER))]
    streams = [(append.stream_id, [e.event_type for e in events]) for append, events in prepared]
    assert streams == [
        (f"participant-{PID}", ["ParticipantDetailsCorrected"] * 2),
        (f"note-{PID}", ["NoteTaken"]),
        (f"participant-{OTHER}", ["ParticipantDetailsCorrected"] * 2),
    ]
    first, second = prepared[2][1]
    assert isinstance(first, ParticipantDetailsCorrected)
    assert first.grade == 9
    assert await unseal(cipher, second) == {"snils": "348-714-781 14"}
    assert await unseal(cipher, prepared[0][1][0]) == {"snils": "112-233-445 95"}


class CountingLog(EventLog):
    """Counts the events it decodes."""

    def __init__(self, keep_written: int = 0, purged_categories: Sequence[str] = ()) -> None:
        super().__init__(
            NOTES, ["note", "case"], purged_categories=purged_categories, keep_written=keep_written
        )
        self.decoded = 0

    def decode(self, stored: StoredEvent, stream_id: str) -> DomainEvent:
        self.decoded += 1
        return super().decode(stored, stream_id)


async def test_a_stream_read_again_decodes_only_its_new_events_and_the_cache_is_bounded() -> None:
    """Commands read the streams they decide on again and again (a school's, an attempt's
    answers so far): what was decoded lately is not decoded again, what is new is, and the
    cache forgets the oldest events beyond its bound."""
    store, cipher, log = InMemoryEventStore(), FieldCipher(InMemoryKeyStore()), CountingLog()
    stream_id = f"participant-{PID}"
    await log.append(store, cipher, META, [Part(stream_id, [corrected(7)], NO_STREAM)])
    first = await log.read(store, stream_id)
    assert log.decoded == 1
    await log.append(store, cipher, META, [Part(stream_id, [corrected(8)], first.expected)])
    again = await log.read(store, stream_id)
    assert [e.grade for e in again.events] == [7, 8]  # type: ignore[attr-defined]
    assert again.events[0] == first.events[0]
    assert log.decoded == 2
    for n in range(DECODED_EVENTS_KEPT):  # as many other events: the first two are forgotten
        notes = f"note-{OTHER}"
        await store.append(notes, [LOG.encode(NoteTaken(participant_id=OTHER, text=str(n)), META)])
    assert len((await log.read(store, f"note-{OTHER}")).events) == DECODED_EVENTS_KEPT
    decoded = log.decoded
    assert [e.grade for e in (await log.read(store, stream_id)).events] == [7, 8]  # type: ignore[attr-defined]
    assert log.decoded == decoded + 2


async def _cached_sealed_and_other(
    store: InMemoryEventStore, cipher: FieldCipher, log: "CountingLog"
) -> tuple[str, str]:
    """A sealed event of PID's and a note of OTHER's, appended and read once (now cached)."""
    mine, others = f"participant-{PID}", f"note-{OTHER}"
    await log.append(store, cipher, META, [Part(mine, [snils_draft("112-233-445 95")], NO_STREAM)])
    await store.append(others, [LOG.encode(NoteTaken(participant_id=OTHER, text="x"), META)])
    await log.read(store, mine)
    await log.read(store, others)
    assert log.decoded == 2
    return mine, others


async def test_an_erasure_takes_the_participants_cached_events_out_of_memory() -> None:
    """The decoded-event cache holds sealed ciphertext (and keyed hashes of purgeable streams):
    once the participant is erased, their events leave it at once, other participants' stay."""
    store, cipher, log = InMemoryEventStore(), FieldCipher(InMemoryKeyStore()), CountingLog()
    Transactor(store, cipher, log, RuntimeError)  # binds the cipher's erasures to the log
    mine, others = await _cached_sealed_and_other(store, cipher, log)

    await cipher.erase(str(PID))

    await log.read(store, others)
    assert log.decoded == 2  # still cached
    await log.read(store, mine)
    assert log.decoded == 3  # decoded again: the cached copy was gone


async def test_an_erasure_made_by_another_process_is_learned_on_the_ciphers_next_use() -> None:
    keys = InMemoryKeyStore()
    store, cipher, log = InMemoryEventStore(), FieldCipher(keys), CountingLog()
    Transactor(store, cipher, log, RuntimeError)
    mine, _ = await _cached_sealed_and_other(store, cipher, log)

    await FieldCipher(keys).erase(str(PID))  # elsewhere: this cipher was not told
    await cipher.has_key(str(OTHER))  # any use catches up with the key store's erasures

    await log.read(store, mine)
    assert log.decoded == 3


async def test_a_purge_or_a_health_key_destroyed_forgets_that_participants_events() -> None:
    store, cipher, log = InMemoryEventStore(), FieldCipher(InMemoryKeyStore()), CountingLog()
    mine, others = await _cached_sealed_and_other(store, cipher, log)

    log.forget_key_subject(health_key_subject(PID, 2))
    await log.read(store, mine)
    assert log.decoded == 3
    log.forget(str(OTHER))  # what a purge of OTHER's streams calls
    await log.read(store, others)
    assert log.decoded == 4


async def test_a_reader_of_everything_gets_this_process_s_commits_back_undecoded() -> None:
    """In-process views catching up read back what their own process just committed: those
    events come back as sealed and encoded, equal to what decoding gives (docs/adr/0099);
    another writer's are decoded, and kept nowhere; an erasure forgets the participant's."""
    store, cipher, log = (
        InMemoryEventStore(),
        FieldCipher(InMemoryKeyStore()),
        CountingLog(WRITTEN_EVENTS_KEPT),
    )
    Transactor(store, cipher, log, RuntimeError)  # binds the cipher's erasures to the log
    mine, others = f"participant-{PID}", f"note-{OTHER}"
    await log.append(store, cipher, META, [Part(mine, [snils_draft("112-233-445 95")], NO_STREAM)])
    await store.append(others, [LOG.encode(NoteTaken(participant_id=OTHER, text="x"), META)])
    [own, theirs] = await store.read_all()
    back = log.decode_own(own, own.stream_id)
    assert log.decoded == 0
    assert back == LOG.decode(own, own.stream_id)
    for _ in range(2):
        assert log.decode_own(theirs, theirs.stream_id) == NoteTaken(participant_id=OTHER, text="x")
    assert log.decoded == 2  # not kept: decoded each time

    await cipher.erase(str(PID))

    log.decode_own(own, own.stream_id)
    assert log.decoded == 3  # the copy was forgotten with the participant's key


async def test_a_commit_given_its_events_as_one_shot_iterables_gives_each_stream_its_own(
    cipher: FieldCipher,
) -> None:
    """Each part's events are read once: a generator's events are neither dropped nor handed
    to the next stream, and a generator that yields nothing leaves its stream out."""
    mine: list[Decided] = [snils_draft("112-233-445 95"), corrected(8)]
    parts: list[tuple[str, Iterator[Decided], ExpectedVersion]] = [
        (f"participant-{PID}", (e for e in mine), 0),
        (f"note-{OTHER}", iter([]), NO_STREAM),
        (f"note-{PID}", iter([NoteTaken(participant_id=PID, text="x")]), NO_STREAM),
    ]
    prepared = await LOG.prepare_sealed(cipher, META, parts)
    streams = [(append.stream_id, len(append.events), len(events)) for append, events in prepared]
    assert streams == [(f"participant-{PID}", 2, 2), (f"note-{PID}", 1, 1)]
    sealed, plain = prepared[0][1]
    assert await unseal(cipher, sealed) == {"snils": "112-233-445 95"}
    assert (plain, prepared[1][1]) == (corrected(8), [NoteTaken(participant_id=PID, text="x")])


class GatedKeyStore(InMemoryKeyStore):
    """A real in-memory key store whose key fetches, once `gate` is set, wait until it opens
    (`entered` tells that one is waiting): a commit's sealing caught mid-way."""

    def __init__(self) -> None:
        super().__init__()
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def get_or_create_many(self, subjects: Collection[str]) -> dict[str, DataKey]:
        if self.gate is not None:
            self.entered.set()
            await self.gate.wait()
        return await super().get_or_create_many(subjects)


async def test_an_erasure_learned_while_a_commit_is_sealed_leaves_none_of_its_events_kept() -> None:
    """A commit's sealing awaits the key store; an erasure learned meanwhile (the cipher tells
    the log) ran before its events were kept, so they must not be kept after it."""
    keys = GatedKeyStore()
    store, cipher, log = InMemoryEventStore(), FieldCipher(keys), CountingLog(WRITTEN_EVENTS_KEPT)
    Transactor(store, cipher, log, RuntimeError)  # binds the cipher's erasures to the log
    keys.gate = asyncio.Event()
    other = Unsealed(
        ParticipantDetailsCorrected,
        {"participant_id": OTHER, "reason": CorrectionReason.TYPING_ERROR},
        {"snils": "348-714-781 14"},
    )
    parts = [
        Part(f"participant-{PID}", [snils_draft("112-233-445 95")], NO_STREAM),
        Part(f"participant-{OTHER}", [other], NO_STREAM),
    ]
    commit = asyncio.create_task(log.append(store, cipher, META, parts))
    await keys.entered.wait()
    cipher.forget(str(PID))  # what learning PID's erasure does
    keys.gate.set()
    await commit
    keys.gate = None
    await log.append(store, cipher, META, [Part(f"participant-{OTHER}", [corrected(9, OTHER)], 0)])

    for record in await store.read_all():
        log.decode_own(record, record.stream_id)
    # Both decoded: none of that commit's events was kept; the next commit's was.
    assert log.decoded == 2


class GatedStore(InMemoryEventStore):
    """A real in-memory store whose stream reads, once `gate` is set, wait after reading until
    it opens (`entered` tells that one is waiting)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def read_stream(
        self,
        stream_id: str,
        from_version: int | None = None,
        *,
        backwards: bool = False,
        limit: int | None = None,
    ) -> list[RecordedEvent]:
        records = await super().read_stream(
            stream_id, from_version, backwards=backwards, limit=limit
        )
        if self.gate is not None:
            self.entered.set()
            await self.gate.wait()
        return records


async def test_an_erasure_learned_while_a_stream_is_read_leaves_none_of_its_events_kept() -> None:
    store, cipher, log = GatedStore(), FieldCipher(InMemoryKeyStore()), CountingLog()
    mine = f"participant-{PID}"
    await log.append(store, cipher, META, [Part(mine, [snils_draft("112-233-445 95")], NO_STREAM)])
    store.gate = asyncio.Event()
    read = asyncio.create_task(log.read(store, mine))
    await store.entered.wait()
    log.forget(str(PID))  # the erasure learned while the records were on their way
    store.gate.set()
    await read
    store.gate = None

    await log.read(store, mine)
    assert log.decoded == 2  # decoded again: the first read kept nothing


async def test_a_commits_events_that_name_no_participant_are_kept_only_outside_purged_categories(
    cipher: FieldCipher,
) -> None:
    """`forget` finds kept events by their participant: one of a purged category (about someone
    it does not name) would stay after their erasure, so it is never kept; elsewhere an event
    that names nobody is about nobody, and kept as the decoded-event cache keeps it."""
    for purged, decoded in [(["case"], 1), ([], 0)]:
        store, log = InMemoryEventStore(), CountingLog(WRITTEN_EVENTS_KEPT, purged)
        parts = [
            Part("case-k1", [CaseClosed(case_key="k1")], NO_STREAM),
            Part(f"note-{PID}", [NoteTaken(participant_id=PID, text="x")], NO_STREAM),
        ]
        await log.append(store, cipher, META, parts)
        for record in await store.read_all():
            log.decode_own(record, record.stream_id)
        assert log.decoded == decoded  # the note was kept; the case's event where not purged


async def test_a_purgeable_streams_events_that_name_no_participant_are_not_kept(
    cipher: FieldCipher,
) -> None:
    """Streams a service purges on an erasure (its reservations) hold events about people;
    those that name nobody are decoded on every read. Elsewhere they are about nobody: kept."""
    for purgeable, decoded in [(True, 2), (False, 1)]:
        store, log = InMemoryEventStore(), CountingLog()
        if purgeable:
            store.allow_purging(["case"])
        await store.append("case-k1", [LOG.encode(CaseClosed(case_key="k1"), META)])
        await log.read(store, "case-k1")
        await log.read(store, "case-k1")
        assert log.decoded == decoded


async def test_a_log_keeps_its_own_commits_only_when_told_a_reader_reads_them_back(
    cipher: FieldCipher,
) -> None:
    """Only identity's views read their own process's commits back (`decode_own`): by default
    a service's log keeps no copy of what it wrote."""
    for log, kept in [
        (EventLog(NOTES, ["note"]), False),
        (EventLog(NOTES, ["note"], keep_written=WRITTEN_EVENTS_KEPT), True),
    ]:
        store = InMemoryEventStore()
        [(append, [sealed])] = await log.prepare_sealed(
            cipher, META, [Part(f"participant-{PID}", [snils_draft("112-233-445 95")], NO_STREAM)]
        )
        await store.append_many([append])
        [record] = await store.read_all()
        back = log.decode_own(record, record.stream_id)
        assert back == sealed
        assert (back is sealed) is kept


def notes(count: int, first: int = 0) -> list[Decided]:
    """`count` notes of PID's, each text its own (the same bytes are one kept event)."""
    return [NoteTaken(participant_id=PID, text=str(n)) for n in range(first, first + count)]


async def test_a_commit_too_large_for_a_share_of_the_kept_events_is_not_kept(
    cipher: FieldCipher,
) -> None:
    """A class list's chunk (thousands of events) would push out every command's commit in
    flight: a commit of more than a quarter of what is kept is not kept; one of a quarter is."""
    quarter = WRITTEN_EVENTS_KEPT // WRITTEN_COMMIT_SHARE
    for count, kept in [(quarter + 1, False), (quarter, True)]:
        store, log = InMemoryEventStore(), CountingLog(WRITTEN_EVENTS_KEPT)
        await log.append(store, cipher, META, [Part(f"note-{PID}", notes(count), NO_STREAM)])
        for record in await store.read_all():
            log.decode_own(record, record.stream_id)
        assert log.decoded == (0 if kept else count)


@pytest.mark.parametrize("through", ["log", "transactor"])
async def test_a_failed_commits_events_are_not_kept_and_push_out_none_that_were(
    cipher: FieldCipher, through: str
) -> None:
    """A commit refused by the store (another writer was first) is sealed anew if tried again:
    its bytes are never read back, so they are taken out, not left to push out those that are."""
    store, log = InMemoryEventStore(), CountingLog(WRITTEN_EVENTS_KEPT)
    transactor = Transactor(store, cipher, log, RuntimeError)
    ctx = RequestContext(Principal(subject="registrar-1", role=Role.REGISTRAR), "request-1")
    await log.append(
        store, cipher, META, [Part(f"participant-{OTHER}", [corrected(8, OTHER)], NO_STREAM)]
    )
    [first] = await store.read_all()
    quarter = WRITTEN_EVENTS_KEPT // WRITTEN_COMMIT_SHARE
    stale = Part(f"participant-{OTHER}", [corrected(9, OTHER)], NO_STREAM)

    async def commit(parts: list[Part]) -> object:
        if through == "log":
            return await log.append(store, cipher, META, parts)
        return await transactor.commit(ctx, parts)

    for n in range(0, 2 * WRITTEN_EVENTS_KEPT, quarter):  # twice as many events as are kept
        with pytest.raises(WrongExpectedVersion):
            await commit([stale, Part(f"note-{PID}", notes(quarter - 1, n), NO_STREAM)])
    log.decode_own(first, first.stream_id)
    assert log.decoded == 0  # still kept


async def test_a_participant_forgotten_before_their_streams_are_purged_elsewhere_is_not_kept_again(
    cipher: FieldCipher,
) -> None:
    """Distributed mode: the API process learns an erasure (its cipher forgets the participant)
    before the identity worker, another process, purges their reservation; a read in between
    (the child registered again) or a commit naming them must not keep a copy that outlives the
    purge, which no `forget` in this process follows (docs/adr/0099, second review)."""
    store, log = InMemoryEventStore(), CountingLog(WRITTEN_EVENTS_KEPT)
    store.allow_purging(["note"])
    mine = f"note-{PID}"
    await store.append(mine, [LOG.encode(NoteTaken(participant_id=PID, text="x"), META)])
    log.forget(str(PID))  # the cipher learned the erasure
    await log.read(store, mine)  # the reservation read again before the purge
    await log.read(store, mine)
    assert log.decoded == 2  # decoded each time: not kept
    await log.append(
        store, cipher, META, [Part(mine, [NoteTaken(participant_id=PID, text="y")], 0)]
    )
    [_, committed] = await store.read_all()
    log.decode_own(committed, committed.stream_id)
    assert log.decoded == 3  # the commit naming them was not kept either
    # Another participant's events are kept as before.
    others = f"note-{OTHER}"
    await store.append(others, [LOG.encode(NoteTaken(participant_id=OTHER, text="x"), META)])
    await log.read(store, others)
    await log.read(store, others)
    assert log.decoded == 4


async def test_the_participants_a_cache_refuses_are_only_the_latest_forgotten() -> None:
    """The set of forgotten participants is bounded: beyond `FORGOTTEN_KEPT` later ones, the
    first one's events (long since purged or erased everywhere) may be kept again."""
    store, log = InMemoryEventStore(), CountingLog()
    mine = f"note-{PID}"
    await store.append(mine, [LOG.encode(NoteTaken(participant_id=PID, text="x"), META)])
    log.forget(str(PID))
    for n in range(FORGOTTEN_KEPT):
        log.forget(f"someone-{n}")
    await log.read(store, mine)
    await log.read(store, mine)
    assert log.decoded == 1


@pytest.mark.parametrize("off_by", [-1, 1])
async def test_a_sealing_that_gives_back_another_number_of_values_than_drafts_is_refused(
    cipher: FieldCipher, monkeypatch: pytest.MonkeyPatch, off_by: int
) -> None:
    """Drafts take the sealed values in order: a value too many or too few would give a draft
    another's, so the commit stops there (the real `seal_many`'s answer, one dropped or one
    repeated)."""

    async def miscounting(
        cipher: FieldCipher, many: Sequence[Personal]
    ) -> list[dict[str, SealedValue]]:
        values = await seal_many(cipher, many)
        return [*values, values[-1]] if off_by > 0 else values[:-1]

    monkeypatch.setattr(eventlog, "seal_many", miscounting)
    parts = [Part(f"participant-{PID}", [snils_draft("112-233-445 95"), corrected(8)], NO_STREAM)]
    with pytest.raises(AssertionError, match="1 drafts sealed into"):
        await LOG.prepare_sealed(cipher, META, parts)


def test_a_listener_of_forgets_leaves_the_log_with_its_object() -> None:
    """A service's log outlives the transactors that listen to it (each app, each test): the
    entry of a collected listener goes at once, not at the next `forget`, which may never come;
    the living ones are still told."""

    class Listener:
        def __init__(self) -> None:
            self.told: list[str] = []

        def forgotten(self, participant: str) -> None:
            self.told.append(participant)

    log = CountingLog()
    kept, dropped = Listener(), Listener()
    log.when_forgotten(kept.forgotten)
    log.when_forgotten(dropped.forgotten)
    del dropped
    gc.collect()
    assert [ref() for ref in log._forgotten_listeners] == [kept.forgotten]
    log.forget(str(PID))
    assert kept.told == [str(PID)]
