"""The command path every service shares (`Transactor`): given a stream, when a decision is taken on
it, then it is appended at the version it was read at, decided again when a faster writer came
first, sent once more unchanged when the store's answer was lost, and spans several streams in
one commit."""

import asyncio
from collections.abc import Sequence
from typing import ClassVar
from uuid import UUID

import pytest

from bilet.application import (
    MAX_ATTEMPTS,
    Attempt,
    Decision,
    EventLog,
    Fold,
    RequestContext,
    Transactor,
)
from bilet.contracts import DomainEvent, EventRegistry, SealedValue, unseal
from bilet.contracts.catalogue.identity import CorrectionReason, ParticipantDetailsCorrected
from bilet.contracts.drafts import Unsealed
from bilet.crypto import FieldCipher, InMemoryKeyStore
from bilet.eventstore import ANY, NO_STREAM, AppendResult, RecordedEvent, StreamAppend
from bilet.eventstore.memory import InMemoryEventStore
from bilet.http.auth import Principal, Role

PID = UUID("7d1c1c1c-0000-4000-8000-000000000001")
PARTICIPANT = f"participant-{PID}"
NOTES_STREAM = f"note-{PID}"
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


LOG = EventLog(NOTES, ["note"])
CTX = RequestContext(Principal(subject="registrar-1", role=Role.REGISTRAR), "c-1")


class Conflict(Exception):
    pass


def corrected(grade: int) -> ParticipantDetailsCorrected:
    return ParticipantDetailsCorrected(
        participant_id=PID, reason=CorrectionReason.TYPING_ERROR, grade=grade
    )


def grade_of(state: int | None, event: DomainEvent) -> int | None:
    assert isinstance(event, ParticipantDetailsCorrected)
    return event.grade


GRADE: Fold[int | None] = Fold(PARTICIPANT, None, grade_of)


def next_grade(state: int | None) -> Decision:
    """A decider: one grade up, at most 11 (then nothing happens)."""
    grade = 6 if state is None else state + 1
    return [] if grade > 11 else [corrected(grade)]


class LostAnswers(InMemoryEventStore):
    """A store whose first `lose` answers to appends are lost after the commit (as when a
    connection drops between the database's commit and its reply)."""

    def __init__(self, lose: int) -> None:
        super().__init__()
        self.lose = lose
        self.sent: list[Sequence[StreamAppend]] = []

    async def append_many(self, appends: Sequence[StreamAppend]) -> list[AppendResult]:
        self.sent.append(appends)
        results = await super().append_many(appends)
        if self.lose:
            self.lose -= 1
            raise ConnectionResetError("the answer was lost")
        return results


class ChangedUnderneath(InMemoryEventStore):
    """A store where another writer appends to the stream right after each of the first `times`
    reads of it: the decision taken on that read is stale when it arrives."""

    def __init__(self, times: int) -> None:
        super().__init__()
        self.times = times
        self.reads = 0

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
        self.reads += 1
        if stream_id == PARTICIPANT and self.times:
            self.times -= 1
            await super().append_many(
                [StreamAppend(PARTICIPANT, [LOG.encode(corrected(6), CTX.metadata())], ANY)]
            )
        return records


def transactor(store: InMemoryEventStore) -> Transactor:
    return Transactor(store, FieldCipher(InMemoryKeyStore()), LOG, Conflict)


async def test_given_no_stream_when_deciding_then_the_events_start_it() -> None:
    store = InMemoryEventStore()
    outcome = await transactor(store).transact(CTX, GRADE, next_grade)
    assert outcome.value is None  # the state the decision was taken on
    assert outcome.appended
    assert outcome.version(PARTICIPANT) == 0
    assert outcome.position == await store.head_position()
    assert [e.grade for e in (await LOG.read(store, PARTICIPANT)).events] == [6]  # type: ignore[attr-defined]


async def test_when_nothing_is_decided_then_nothing_is_appended_and_the_read_is_the_position() -> (
    None
):
    store = InMemoryEventStore()
    tx = transactor(store)
    for _ in range(6):
        await tx.transact(CTX, GRADE, next_grade)
    head = await store.head_position()
    outcome = await tx.transact(CTX, GRADE, next_grade)
    assert outcome.value == 11
    assert not outcome.appended
    assert (outcome.position, outcome.version(PARTICIPANT)) == (head, 5)
    assert await store.head_position() == head


async def test_when_another_writer_was_faster_then_it_is_decided_again_on_what_it_wrote() -> None:
    store = ChangedUnderneath(times=2)
    seen: list[int | None] = []

    def decide(state: int | None) -> Decision:
        seen.append(state)
        return next_grade(state)

    outcome = await transactor(store).transact(CTX, GRADE, decide)
    # Read empty (another wrote 6), read 6 (another wrote 6 again), read 6: decided 7.
    assert seen == [None, 6, 6]
    assert outcome.value == 6
    grades = [e.grade for e in (await LOG.read(store, PARTICIPANT)).events]  # type: ignore[attr-defined]
    assert grades == [6, 6, 7]


async def test_when_faster_writers_never_stop_then_the_services_conflict_is_raised() -> None:
    store = ChangedUnderneath(times=MAX_ATTEMPTS)
    with pytest.raises(Conflict):
        await transactor(store).transact(CTX, GRADE, next_grade)
    grades = [e.grade for e in (await LOG.read(store, PARTICIPANT)).events]  # type: ignore[attr-defined]
    assert grades == [6] * MAX_ATTEMPTS  # only the other writer's


async def test_a_caller_who_named_the_version_they_saw_gets_the_conflict_at_once() -> None:
    store = ChangedUnderneath(times=1)
    decisions = 0

    async def body(attempt: Attempt) -> None:
        nonlocal decisions
        decisions += 1
        state = await attempt.state(GRADE)
        attempt.append(PARTICIPANT, next_grade(state))

    class Stale(Exception):
        pass

    with pytest.raises(Stale):
        await transactor(store).transact_many(CTX, body, retry=False, conflict=Stale)
    assert decisions == 1


async def test_concurrent_commands_on_one_stream_each_take_effect_once() -> None:
    store = InMemoryEventStore()
    tx = transactor(store)
    await asyncio.gather(*(tx.transact(CTX, GRADE, next_grade) for _ in range(5)))
    grades = [e.grade for e in (await LOG.read(store, PARTICIPANT)).events]  # type: ignore[attr-defined]
    assert grades == [6, 7, 8, 9, 10]


async def test_an_append_whose_answer_was_lost_is_sent_again_unchanged_and_stored_once() -> None:
    store = LostAnswers(lose=2)
    outcome = await transactor(store).transact(CTX, GRADE, next_grade)
    assert len(store.sent) == 3
    ids = [[e.event_id for a in sent for e in a.events] for sent in store.sent]
    assert ids[0] == ids[1] == ids[2]  # the same events, not a new decision
    assert len((await LOG.read(store, PARTICIPANT)).events) == 1
    assert outcome.version(PARTICIPANT) == 0
    assert outcome.position == await store.head_position()


async def test_an_answer_lost_every_time_is_reported_not_hidden() -> None:
    store = LostAnswers(lose=10)
    with pytest.raises(ConnectionResetError):
        await transactor(store).transact(CTX, GRADE, next_grade)


async def test_several_streams_in_one_commit_sealed_and_at_the_published_position() -> None:
    store = InMemoryEventStore()
    cipher = FieldCipher(InMemoryKeyStore())
    tx = Transactor(store, cipher, LOG, Conflict)

    async def register(attempt: Attempt) -> str:
        state = await attempt.state(GRADE)
        assert state is None
        attempt.append(
            PARTICIPANT,
            [
                Unsealed(
                    ParticipantDetailsCorrected,
                    {"participant_id": PID, "reason": CorrectionReason.TYPING_ERROR},
                    {"snils": "112-233-445 95"},
                )
            ],
        )
        attempt.append(NOTES_STREAM, [NoteTaken(participant_id=PID, text="первая")], NO_STREAM)
        attempt.append(NOTES_STREAM, [NoteTaken(participant_id=PID, text="вторая")], NO_STREAM)
        return "registered"

    outcome = await tx.transact_many(CTX, register)
    assert outcome.value == "registered"
    assert (outcome.version(PARTICIPANT), outcome.version(NOTES_STREAM)) == (0, 1)
    participant = (await LOG.read(store, PARTICIPANT)).events
    notes = (await LOG.read(store, NOTES_STREAM)).events
    # The internal notes are committed after the participant's event, yet the read-your-writes
    # position is the published stream's: no relay ever carries the notes.
    assert outcome.position == (await store.read_stream(PARTICIPANT))[-1].position
    assert outcome.position < await store.head_position()
    [sealed] = participant
    assert isinstance(sealed, ParticipantDetailsCorrected)
    assert isinstance(sealed.snils, SealedValue)
    assert await unseal(cipher, sealed) == {"snils": "112-233-445 95"}
    assert [n.text for n in notes] == ["первая", "вторая"]  # type: ignore[attr-defined]


async def test_a_stale_stream_refuses_the_whole_commit() -> None:
    store = InMemoryEventStore()
    tx = transactor(store)
    await tx.transact(CTX, GRADE, next_grade)

    async def both(attempt: Attempt) -> None:
        attempt.append(NOTES_STREAM, [NoteTaken(participant_id=PID, text="x")], NO_STREAM)
        attempt.append(PARTICIPANT, [corrected(9)], NO_STREAM)  # the stream exists: stale

    with pytest.raises(Conflict):
        await tx.transact_many(CTX, both)
    assert await store.stream_version(NOTES_STREAM) is None


async def test_a_refused_decision_writes_nothing_and_is_not_retried() -> None:
    store = InMemoryEventStore()
    tries = 0

    def refuse(state: int | None) -> Decision:
        nonlocal tries
        tries += 1
        raise ValueError("a rule refused")

    with pytest.raises(ValueError, match="a rule refused"):
        await transactor(store).transact(CTX, GRADE, refuse)
    assert tries == 1
    assert await store.head_position() == 0


async def test_an_append_to_a_stream_not_loaded_must_say_what_it_expects() -> None:
    attempt = Attempt(InMemoryEventStore(), LOG)
    with pytest.raises(ValueError, match="was not loaded"):
        attempt.append(PARTICIPANT, [corrected(7)])
    attempt.append(PARTICIPANT, [corrected(7)], NO_STREAM)
    with pytest.raises(ValueError, match="two expectations"):
        attempt.append(PARTICIPANT, [corrected(8)], 0)


async def test_an_async_decide_may_read_what_it_needs_first() -> None:
    store = InMemoryEventStore()

    async def decide(state: int | None) -> Decision:
        await asyncio.sleep(0)
        return next_grade(state)

    outcome = await transactor(store).transact(CTX, GRADE, decide)
    assert outcome.appended


async def test_a_decision_of_nothing_names_the_stream_decided_on_not_another_read() -> None:
    store = InMemoryEventStore()
    tx = transactor(store)
    for _ in range(6):
        await tx.transact(CTX, GRADE, next_grade)  # the participant's stream, up to grade 11
    other: Fold[None] = Fold("season-2019", None, lambda state, event: state)
    await store.append_many(
        [StreamAppend("season-2019", [LOG.encode(corrected(6), CTX.metadata())], ANY)]
    )
    participant_head = (await store.read_stream(PARTICIPANT))[-1].position

    async def nothing(attempt: Attempt) -> None:
        await attempt.state(other)  # read for the decision, a later published position
        attempt.append(PARTICIPANT, next_grade(await attempt.state(GRADE)))

    outcome = await tx.transact_many(CTX, nothing)
    assert not outcome.appended
    assert outcome.position == participant_head < await store.head_position()


async def test_a_commit_of_internal_streams_only_answers_with_a_published_position_read() -> None:
    store = InMemoryEventStore()
    tx = transactor(store)
    await tx.transact(CTX, GRADE, next_grade)
    participant_head = await store.head_position()

    async def note(attempt: Attempt) -> None:
        await attempt.state(GRADE)
        attempt.append(NOTES_STREAM, [NoteTaken(participant_id=PID, text="x")], NO_STREAM)

    outcome = await tx.transact_many(CTX, note)
    assert outcome.appended
    # The note's position is never relayed: a reader waiting for it would wait forever.
    assert outcome.position == participant_head < await store.head_position()
