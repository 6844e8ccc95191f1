"""The season's unit of work (`bilet_host.simulate_store`): the service reads its own writes from
memory, the SQLite store receives the very same events (ids, streams, versions, positions) in
few commits, and the append rules (expected versions, identical retries) hold as in any store."""

import asyncio
from pathlib import Path

import pytest

from bilet.eventstore import (
    ANY,
    NO_STREAM,
    EventStore,
    NewEvent,
    RecordedEvent,
    StreamAppend,
    StreamMetadata,
    WrongExpectedVersion,
)
from bilet.eventstore.memory import InMemoryEventStore
from bilet.eventstore.sqlite import SqliteEventStore
from bilet_host.simulate_store import UnitOfWorkStore, unit_of_work


def _new(n: int) -> NewEvent:
    return NewEvent("Happened", f'{{"n": {n}}}'.encode())


def _shape(events: list[RecordedEvent]) -> list[tuple[str, int, int, object, str, bytes]]:
    return [(e.stream_id, e.version, e.position, e.event_id, e.type, e.data) for e in events]


async def _everything(store: EventStore) -> list[RecordedEvent]:
    return await store.read_all(0, 10_000)


async def test_appends_are_read_from_memory_and_reach_the_store_as_recorded(
    tmp_path: Path,
) -> None:
    sqlite = await SqliteEventStore.open(tmp_path / "events.sqlite3", "NORMAL")
    work = await UnitOfWorkStore.over(sqlite)
    # a stream comes back after another: the flush must keep the recorded order
    await work.append("school-1", [_new(1), _new(2)], NO_STREAM)
    await work.append_many(
        [StreamAppend("pupil-1", [_new(3)], NO_STREAM), StreamAppend("school-1", [_new(4)], 1)]
    )
    await work.append("pupil-1", [_new(5)], 0)
    assert await work.stream_version("school-1") == 2
    assert [e.data for e in await work.read_stream("school-1")] == [
        b'{"n": 1}',
        b'{"n": 2}',
        b'{"n": 4}',
    ]
    assert [e.version for e in await work.read_stream("school-1", backwards=True, limit=2)] == [
        2,
        1,
    ]
    assert await work.head_position() == 5
    recorded = await _everything(work)
    assert [e.position for e in recorded] == [1, 2, 3, 4, 5]
    assert await sqlite.head_position() == 0  # nothing written before the flush
    await work.flush()
    assert work.commits == 1
    assert _shape(await _everything(sqlite)) == _shape(recorded)
    assert await sqlite.stream_version("school-1") == 2
    await work.close()


async def test_a_wrong_expectation_is_refused_and_records_nothing(tmp_path: Path) -> None:
    async with unit_of_work(SqliteEventStore.open(tmp_path / "events.sqlite3")) as work:
        await work.append("school-1", [_new(1)], NO_STREAM)
        with pytest.raises(WrongExpectedVersion):
            await work.append_many(
                [
                    StreamAppend("pupil-1", [_new(2)], NO_STREAM),
                    StreamAppend("school-1", [_new(3)], 5),
                ]
            )
        assert await work.stream_version("pupil-1") is None
        assert await work.head_position() == 1
    async with await SqliteEventStore.open(tmp_path / "events.sqlite3") as store:
        assert [e.data for e in await _everything(store)] == [b'{"n": 1}']


async def test_an_identical_retry_is_answered_and_not_written_twice(tmp_path: Path) -> None:
    async with unit_of_work(SqliteEventStore.open(tmp_path / "events.sqlite3")) as work:
        events = [_new(1), _new(2)]
        first = await work.append("pupil-1", events, NO_STREAM)
        assert await work.append("pupil-1", events, NO_STREAM) == first
        assert await work.head_position() == 2


async def test_reads_span_what_was_flushed_and_what_is_pending(tmp_path: Path) -> None:
    sqlite = await SqliteEventStore.open(tmp_path / "events.sqlite3", "NORMAL")
    # a commit every 3 events, and almost nothing kept: reads go to the store for the rest
    work = await UnitOfWorkStore.over(sqlite, commit_every=3, keep_events=1)
    for n in range(10):
        stream = f"pupil-{n % 2}"
        await work.append(stream, [_new(n)], n // 2 - 1 if n > 1 else NO_STREAM)
    assert work.commits == 3  # 9 events written, the tenth pending
    assert await sqlite.head_position() == 9
    assert [e.data for e in await work.read_stream("pupil-1")] == [
        f'{{"n": {n}}}'.encode() for n in (1, 3, 5, 7, 9)
    ]
    assert [e.version for e in await work.read_stream("pupil-0", 3)] == [3, 4]
    assert [e.position for e in await work.read_all(7, 10)] == [8, 9, 10]
    assert [e.position for e in await work.read_all(0, 4)] == [1, 2, 3, 4]
    await work.close()
    async with await SqliteEventStore.open(tmp_path / "events.sqlite3") as store:
        assert [e.position for e in await _everything(store)] == list(range(1, 11))
        assert await store.stream_version("pupil-1") == 4


async def test_it_opens_over_an_empty_store_only(tmp_path: Path) -> None:
    store = await SqliteEventStore.open(tmp_path / "events.sqlite3")
    await store.append("pupil-1", [_new(1)])
    with pytest.raises(ValueError, match="empty store"):
        await UnitOfWorkStore.over(store)
    await store.close()


async def test_another_kind_of_store_is_used_as_it_is() -> None:
    memory = InMemoryEventStore()

    async def opening() -> EventStore:
        return memory

    async with unit_of_work(opening()) as store:
        assert store is memory


async def test_a_stream_given_metadata_is_the_stores_and_appends_beside_it_stay_readable(
    tmp_path: Path,
) -> None:
    async with unit_of_work(SqliteEventStore.open(tmp_path / "events.sqlite3")) as work:
        await work.append("pupil-1", [_new(1)], NO_STREAM)
        await work.append("pupil-2", [_new(2)], NO_STREAM)
        await work.delete_stream("pupil-1")
        assert await work.read_stream("pupil-1") == []
        assert await work.stream_version("pupil-1") is None
        await work.append_many(
            [StreamAppend("pupil-1", [_new(3)], NO_STREAM), StreamAppend("pupil-2", [_new(4)], 0)]
        )
        assert [e.data for e in await work.read_stream("pupil-2")] == [b'{"n": 2}', b'{"n": 4}']
        assert await work.stream_version("pupil-2") == 1
        assert [e.version for e in await work.read_stream("pupil-1")] == [1]
        await work.append("pupil-2", [_new(5)], 1)
        assert await work.head_position() == 5


async def test_an_append_beside_one_passed_through_to_the_store_takes_the_next_positions(
    tmp_path: Path,
) -> None:
    # One writer at a time, as the store declares (its commit observers rely on it): an append
    # recorded while another waits on SQLite must not take the same positions.
    sqlite = await SqliteEventStore.open(tmp_path / "events.sqlite3", "NORMAL")
    work = await UnitOfWorkStore.over(sqlite, commit_every=1000)
    assert work.one_writer_at_a_time
    await work.append_many([StreamAppend("m-1", [_new(1)], ANY)])
    await work.set_stream_metadata("m-1", StreamMetadata())  # from now on the store's
    await work.append_many([StreamAppend("x-0", [_new(2)], ANY)])

    async def beside() -> list[int]:
        await asyncio.sleep(0)  # the passed-through append is awaiting SQLite
        return [r.position for r in await work.append_many([StreamAppend("x-1", [_new(4)], ANY)])]

    passed = work.append_many([StreamAppend("m-1", [_new(3)], ANY)])
    through, recorded = await asyncio.gather(passed, beside())
    await work.flush()
    try:
        written = [e.position for e in await _everything(sqlite)]
    finally:
        await work.close()

    positions = [r.position for r in through] + recorded
    assert len(set(positions)) == len(positions)
    assert written == [1, 2, 3, 4]
