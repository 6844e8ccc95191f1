"""Combined commits (`Transactor.transact_combined`): commands on one key queued in-process are
decided one after another in one attempt and appended in one commit. Given racers on a room's
last places, when they run combined, then exactly the room's capacity take a place, each body
seeing those before it; a refusing body is dropped alone; every event keeps its own request's
metadata; and two processes (two stores, two queues) racing on one database stay exact."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import ClassVar

import pytest

from bilet.application import Attempt, EventLog, Fold, Outcome, RequestContext, Transactor
from bilet.application.combined import (
    CombinedCommits,
    Contradiction,
    expectation_before_batch,
    merged_expectation,
)
from bilet.contracts import DomainEvent, EventRegistry, unseal
from bilet.contracts.catalogue.identity import CorrectionReason, ParticipantDetailsCorrected
from bilet.contracts.drafts import Unsealed
from bilet.crypto import FieldCipher, InMemoryKeyStore
from bilet.eventstore import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    AppendResult,
    EventStore,
    RecordedEvent,
    StreamAppend,
)
from bilet.eventstore.memory import InMemoryEventStore
from bilet.eventstore.sqlite import SqliteEventStore
from bilet.http.auth import Principal, Role
from shared.tests.application.test_eventlog import CountingCipher

ROOMS = EventRegistry()
ROOM_ID = uuid.UUID("5e5e5e5e-0000-4000-8000-000000000001")
ROOM = f"room-{ROOM_ID}"


@ROOMS.register
class PlaceTaken(DomainEvent):
    """A holder took the next place of a room."""

    event_type: ClassVar[str] = "PlaceTaken"
    service: ClassVar[str] = "identity"
    stream_category: ClassVar[str] = "room"
    stream_key: ClassVar[str] = "room_id"

    # The holder stands for a participant: an erasure forgets their places (`EventLog.forget`).
    subject_key: ClassVar[str] = "holder"

    room_id: uuid.UUID
    holder: str


@ROOMS.register
class Joined(DomainEvent):
    """A holder's own record: created once (`NO_STREAM`)."""

    event_type: ClassVar[str] = "Joined"
    service: ClassVar[str] = "identity"
    stream_category: ClassVar[str] = "member"
    stream_key: ClassVar[str] = "holder"

    holder: str


LOG = EventLog(ROOMS, ["room", "member"])


def count_places(state: tuple[str, ...], event: DomainEvent) -> tuple[str, ...]:
    assert isinstance(event, PlaceTaken)
    return (*state, event.holder)


PLACES: Fold[tuple[str, ...]] = Fold(ROOM, (), count_places)


class Conflict(Exception):
    pass


class Full(Exception):
    pass


def ctx(holder: str) -> RequestContext:
    return RequestContext(Principal(subject=holder, role=Role.PUPIL), f"request-{holder}")


def transactor(store: EventStore) -> Transactor:
    return Transactor(store, FieldCipher(InMemoryKeyStore()), LOG, Conflict, attempts=64)


def take_place(holder: str, capacity: int) -> Callable[[Attempt], Awaitable[int]]:
    """A body: the next place of the room while one is left (its number), else `Full`."""

    async def body(attempt: Attempt) -> int:
        taken = await attempt.state(PLACES)
        if len(taken) >= capacity:
            raise Full(holder)
        attempt.append(ROOM, [PlaceTaken(room_id=ROOM_ID, holder=holder)])
        return len(taken) + 1

    return body


class CountingStore(InMemoryEventStore):
    """Counts the commits (appends) that reach the store."""

    def __init__(self) -> None:
        super().__init__()
        self.commits = 0

    async def append_many(self, appends: Sequence[StreamAppend]) -> list[AppendResult]:
        self.commits += 1
        return await super().append_many(appends)


Opener = Callable[[], Awaitable[EventStore]]


@pytest.fixture(params=["sqlite", "postgres"])
async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    """Opens stores on one fresh database: each one is what another process would have."""
    opened: list[EventStore] = []
    schema = f"t{uuid.uuid4().hex[:16]}"

    async def open_one() -> EventStore:
        store: EventStore
        if request.param == "sqlite":
            store = await SqliteEventStore.open(tmp_path / "events.sqlite3")
        else:
            from bilet.eventstore.postgres import PostgresEventStore

            url = request.getfixturevalue("database_url")
            store = await PostgresEventStore.open(url, schema=schema)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        await store.close()
    if request.param == "postgres":
        from bilet.eventstore.postgres import drop_schema

        await drop_schema(request.getfixturevalue("database_url"), schema)


async def holders(store: EventStore) -> list[str]:
    events = (await LOG.read(store, ROOM)).events
    return [event.holder for event in events if isinstance(event, PlaceTaken)]


async def race(
    tx: Transactor, names: Sequence[str], capacity: int
) -> list[Outcome[int] | BaseException]:
    return await asyncio.gather(
        *(tx.transact_combined(ctx(n), ROOM, take_place(n, capacity)) for n in names),
        return_exceptions=True,
    )


async def test_racers_on_the_last_places_take_exactly_the_capacity_each_seeing_those_before(
    open_store: Opener,
) -> None:
    store = await open_store()
    names = [f"pupil-{n:02d}" for n in range(50)]
    answers = await race(transactor(store), names, capacity=20)
    taken = {n: a for n, a in zip(names, answers, strict=True) if isinstance(a, Outcome)}
    assert len(taken) == 20
    assert all(isinstance(a, Full) for a in answers if not isinstance(a, Outcome))
    # Places 1..20, each once, in the order the events were committed.
    assert sorted(a.value for a in taken.values()) == list(range(1, 21))
    stored = await holders(store)
    assert stored == sorted(taken, key=lambda n: taken[n].value)
    for outcome in taken.values():
        assert outcome.appended
        assert outcome.version(ROOM) == outcome.value - 1  # the version its own event got


async def test_every_event_keeps_its_own_requests_metadata(open_store: Opener) -> None:
    store = await open_store()
    names = [f"pupil-{n}" for n in range(8)]
    await race(transactor(store), names, capacity=8)
    for record in await store.read_stream(ROOM):
        holder = json.loads(record.data)["holder"]
        metadata = json.loads(record.metadata)
        assert (metadata["correlation_id"], metadata["actor"]) == (f"request-{holder}", holder)


async def test_two_processes_racing_on_one_database_stay_exact(open_store: Opener) -> None:
    first, second = transactor(await open_store()), transactor(await open_store())
    names = [f"pupil-{n:02d}" for n in range(40)]
    answers = await asyncio.gather(race(first, names[::2], 15), race(second, names[1::2], 15))
    booked = [a for side in answers for a in side if isinstance(a, Outcome)]
    refused = [a for side in answers for a in side if not isinstance(a, Outcome)]
    assert len(booked) == 15
    assert len(refused) == 25
    assert all(isinstance(a, Full) for a in refused)
    assert sorted(a.value for a in booked) == list(range(1, 16))
    assert len(await holders(await open_store())) == 15


async def test_a_refusing_body_is_dropped_alone_and_gets_its_error(open_store: Opener) -> None:
    store = await open_store()
    tx = transactor(store)

    async def refusing(attempt: Attempt) -> int:
        await attempt.state(PLACES)
        attempt.append(ROOM, [PlaceTaken(room_id=ROOM_ID, holder="refused")])
        raise ValueError("refused after deciding")

    calls = [tx.transact_combined(ctx(f"p{n}"), ROOM, take_place(f"p{n}", 10)) for n in range(3)]
    calls.insert(1, tx.transact_combined(ctx("refused"), ROOM, refusing))
    answers = await asyncio.gather(*calls, return_exceptions=True)
    assert isinstance(answers[1], ValueError)
    assert [a.value for a in answers if isinstance(a, Outcome)] == [1, 2, 3]
    assert await holders(store) == ["p0", "p1", "p2"]


async def test_commands_arriving_together_share_commits() -> None:
    store = CountingStore()
    names = [f"pupil-{n:02d}" for n in range(40)]
    answers = await race(transactor(store), names, capacity=40)
    assert all(isinstance(a, Outcome) for a in answers)
    assert len(await holders(store)) == 40
    assert store.commits < 40  # one commit per batch, not per command


async def test_a_batch_is_bounded() -> None:
    store = CountingStore()
    tx = transactor(store)
    combined = CombinedCommits(tx, max_batch=4)
    names = [f"pupil-{n:02d}" for n in range(12)]
    await asyncio.gather(*(combined.transact(ctx(n), ROOM, take_place(n, 12)) for n in names))
    assert store.commits >= 3
    assert len(await holders(store)) == 12


async def test_a_body_that_hangs_is_given_up_and_the_batch_goes_on() -> None:
    store = InMemoryEventStore()
    combined = CombinedCommits(transactor(store), body_timeout=0.2)

    async def hanging(attempt: Attempt) -> int:
        await asyncio.Event().wait()
        return 0

    answers = await asyncio.gather(
        combined.transact(ctx("stuck"), ROOM, hanging),
        combined.transact(ctx("p0"), ROOM, take_place("p0", 5)),
        return_exceptions=True,
    )
    assert isinstance(answers[0], TimeoutError)
    assert await holders(store) == ["p0"]


async def test_a_caller_who_gave_up_before_its_turn_decides_nothing() -> None:
    store = InMemoryEventStore()
    tx = transactor(store)
    given_up = asyncio.create_task(tx.transact_combined(ctx("gone"), ROOM, take_place("gone", 5)))
    stays = asyncio.create_task(tx.transact_combined(ctx("p0"), ROOM, take_place("p0", 5)))
    given_up.cancel()
    assert (await stays).value == 1
    assert given_up.cancelled()
    assert await holders(store) == ["p0"]


async def test_a_stream_created_twice_in_one_batch_is_created_once() -> None:
    """The second body expects no stream, yet the first created it: it runs in the next batch,
    on what was committed, and meets the store's refusal as a conflict."""
    store = InMemoryEventStore()
    tx = transactor(store)

    def join(holder: str) -> Callable[[Attempt], Awaitable[str]]:
        async def body(attempt: Attempt) -> str:
            attempt.append(f"member-{holder}", [Joined(holder=holder)], NO_STREAM)
            return holder

        return body

    answers = await asyncio.gather(
        tx.transact_combined(ctx("a"), ROOM, join("same")),
        tx.transact_combined(ctx("b"), ROOM, join("same")),
        return_exceptions=True,
    )
    assert isinstance(answers[0], Outcome)
    assert isinstance(answers[1], Conflict)
    assert len((await LOG.read(store, "member-same")).events) == 1


def test_expectations_are_moved_back_over_what_the_batch_staged() -> None:
    assert expectation_before_batch(7, 0) == 7
    assert expectation_before_batch(7, 3) == 4
    assert expectation_before_batch(2, 3) == NO_STREAM
    assert expectation_before_batch(ANY, 3) == ANY
    assert expectation_before_batch(STREAM_EXISTS, 1) == ANY
    assert merged_expectation(None, 4) == 4
    assert merged_expectation(ANY, NO_STREAM) == NO_STREAM
    assert merged_expectation(STREAM_EXISTS, 4) == 4
    assert merged_expectation(4, ANY) == 4
    for expected, staged in ((NO_STREAM, 1), (1, 3)):
        with pytest.raises(Contradiction):
            expectation_before_batch(expected, staged)
    with pytest.raises(Contradiction):
        merged_expectation(4, 5)
    with pytest.raises(Contradiction):
        merged_expectation(NO_STREAM, STREAM_EXISTS)


async def test_a_later_batch_sees_what_another_process_wrote_since_the_last(
    open_store: Opener,
) -> None:
    """A key's next batch starts from what its last batch committed and reads only what came
    after: another process's commits in between are decided on."""
    first, second = transactor(await open_store()), transactor(await open_store())
    await race(first, ["a1", "a2"], capacity=10)
    await race(second, ["b1", "b2", "b3"], capacity=10)
    [answer] = await race(first, ["a3"], capacity=10)
    assert isinstance(answer, Outcome)
    assert answer.value == 6
    [full] = await race(first, ["a4"], capacity=6)
    assert isinstance(full, Full)
    assert await holders(await open_store()) == ["a1", "a2", "b1", "b2", "b3", "a3"]


async def test_streams_read_beforehand_are_decided_on_as_read(open_store: Opener) -> None:
    """`reads`: each body's own stream is read with the batch's; a body appending to it expects
    the version read then, so a holder joins once however often they ask."""
    store = await open_store()
    tx = transactor(store)

    def join(holder: str) -> Callable[[Attempt], Awaitable[bool]]:
        async def body(attempt: Attempt) -> bool:
            member = await attempt.read(f"member-{holder}")
            if member.events:
                return False
            attempt.append(f"member-{holder}", [Joined(holder=holder)])
            return True

        return body

    holders_ = ["x", "y", "x", "z", "y"]
    answers = await asyncio.gather(
        *(tx.transact_combined(ctx(h), ROOM, join(h), reads=[f"member-{h}"]) for h in holders_)
    )
    assert [a.value for a in answers] == [True, True, False, True, False]
    for holder in "xyz":
        assert len((await LOG.read(store, f"member-{holder}")).events) == 1


class FailingOnce(InMemoryEventStore):
    """A store whose first append fails outright (the database went away)."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    async def append_many(self, appends: Sequence[StreamAppend]) -> list[AppendResult]:
        if not self.failed:
            self.failed = True
            raise RuntimeError("the database went away")
        return await super().append_many(appends)


async def test_a_failed_commit_fails_its_batch_and_the_next_one_commits() -> None:
    store = FailingOnce()
    tx = transactor(store)
    first = await race(tx, ["p0", "p1"], capacity=5)
    assert all(isinstance(answer, RuntimeError) for answer in first)
    [after] = await race(tx, ["p2"], capacity=5)
    assert isinstance(after, Outcome)
    assert after.value == 1
    assert await holders(store) == ["p2"]


async def test_a_combined_command_seals_the_drafts_of_all_its_streams_in_one_cipher_call() -> None:
    """As a commit of its own (docs/adr/0099): one erasure check and one key lookup for the
    command, not one per stream; each stream keeps its own events."""
    store, cipher = InMemoryEventStore(), CountingCipher(InMemoryKeyStore())
    tx = Transactor(store, cipher, LOG, Conflict)
    people = [uuid.UUID(int=1), uuid.UUID(int=2)]

    async def body(attempt: Attempt) -> None:
        attempt.append(ROOM, [PlaceTaken(room_id=ROOM_ID, holder="p")], NO_STREAM)
        for n, person in enumerate(people):
            draft = Unsealed(
                ParticipantDetailsCorrected,
                {"participant_id": person, "reason": CorrectionReason.TYPING_ERROR},
                {"snils": ["112-233-445 95", "348-714-781 14"][n]},
            )
            attempt.append(f"participant-{person}", [draft], NO_STREAM)

    await tx.transact_combined(ctx("p"), ROOM, body)
    assert cipher.sealing_calls == 1
    for person, snils in zip(people, ["112-233-445 95", "348-714-781 14"], strict=True):
        [event] = (await LOG.read(store, f"participant-{person}")).events
        assert await unseal(cipher, event) == {"snils": snils}


class WatchedStore(InMemoryEventStore):
    """A real in-memory store that records its stream reads (and from which version), and whose
    appends, once `gate` is set, wait until it opens (`entered` tells that one is waiting)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[tuple[str, int | None]] = []
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
        self.reads.append((stream_id, from_version))
        return await super().read_stream(stream_id, from_version, backwards=backwards, limit=limit)

    async def append_many(self, appends: Sequence[StreamAppend]) -> list[AppendResult]:
        if self.gate is not None:
            self.entered.set()
            await self.gate.wait()
        return await super().append_many(appends)


async def test_an_erasure_learned_drops_the_streams_kept_between_batches() -> None:
    """A key's stream kept for its next batch may hold a participant's events (sealed): once
    the cipher learns an erasure, the next batch reads the stream whole from the store."""
    store = WatchedStore()
    cipher = FieldCipher(InMemoryKeyStore())
    tx = Transactor(store, cipher, LOG, Conflict)
    await race(tx, ["a1"], capacity=10)
    await race(tx, ["a2"], capacity=10)
    assert store.reads[-1] == (ROOM, 1)  # only what came after the last batch
    cipher.forget(str(uuid.uuid4()))  # an erasure learned
    await race(tx, ["a3"], capacity=10)
    assert store.reads[-1:] == [(ROOM, None)]
    assert await holders(store) == ["a1", "a2", "a3"]


async def test_an_erasure_learned_while_a_batch_commits_leaves_its_stream_unkept() -> None:
    store = WatchedStore()
    tx = transactor(store)
    store.gate = asyncio.Event()
    batch = asyncio.create_task(race(tx, ["a1"], capacity=10))
    await store.entered.wait()
    LOG.forget(str(uuid.uuid4()))  # a purge, say: what the batch read may be theirs
    store.gate.set()
    await batch
    await race(tx, ["a2"], capacity=10)
    assert store.reads[-1:] == [(ROOM, None)]
    assert await holders(store) == ["a1", "a2"]


async def test_a_stream_naming_a_participant_forgotten_before_the_batch_is_not_kept() -> None:
    """An erasure learned before a batch read the key's stream (in distributed mode no other
    `forget` follows the purge): the stream kept for the next batch would hold their events,
    so it is not kept while it names them; one naming nobody forgotten is kept as before."""
    store, log = WatchedStore(), EventLog(ROOMS, ["room", "member"])
    tx = Transactor(store, FieldCipher(InMemoryKeyStore()), log, Conflict)
    log.forget("someone-else")
    await race(tx, ["b1"], capacity=10)
    await race(tx, ["b2"], capacity=10)
    assert store.reads[-1] == (ROOM, 1)  # kept: only what came after the last batch read
    log.forget("b1")  # b1's erasure learned: the kept stream dropped
    await race(tx, ["b3"], capacity=10)  # reads it whole, with b1's place
    await race(tx, ["b4"], capacity=10)
    assert store.reads[-1:] == [(ROOM, None)]  # the last batch kept nothing: read whole again
    assert await holders(store) == ["b1", "b2", "b3", "b4"]
