"""The season's helper process (`bilet_host.simulate_shards`, ADR 0094): what a half records is
appended after the first half as if one process had made every append, and a helper is forked
only when the machine has a core to spare. (A whole season with and without the helper is
compared in `test_simulate_season.py`.)"""

from pathlib import Path

import pytest

from bilet.eventstore import ANY, NO_STREAM, NewEvent, RecordedEvent, StreamAppend
from bilet.eventstore.sqlite import SqliteEventStore
from bilet_host.simulate_shards import RecordingStore, cpu_times, replay, spare_cores
from bilet_host.simulate_store import UnitOfWorkStore


def _new(n: int) -> NewEvent:
    return NewEvent("Happened", f'{{"n": {n}}}'.encode())


async def _first_half(store: UnitOfWorkStore) -> None:
    await store.append("pupil-1", [_new(1), _new(2)], NO_STREAM)
    await store.append("audit-day", [_new(3)], ANY)


async def _second_half(store: UnitOfWorkStore) -> None:
    await store.append_many(
        [StreamAppend("pupil-2", [_new(4)], NO_STREAM), StreamAppend("audit-day", [_new(5)], ANY)]
    )
    await store.append("pupil-2", [_new(6)], 0)


def _shape(events: list[RecordedEvent]) -> list[tuple[str, int, int, bytes]]:
    return [(e.stream_id, e.version, e.position, e.data) for e in events]


async def test_a_recorded_half_replayed_after_the_first_is_what_one_process_writes(
    tmp_path: Path,
) -> None:
    one = await UnitOfWorkStore.over(await SqliteEventStore.open(tmp_path / "one.sqlite3"))
    await _first_half(one)
    await _second_half(one)
    await one.close()

    half = RecordingStore(await SqliteEventStore.open(tmp_path / "half.sqlite3"))
    await _second_half(half)
    await half.close()
    assert [[stream for stream, _ in parts] for parts in half.appends] == [
        ["pupil-2", "audit-day"],
        ["pupil-2"],
    ]
    two = await UnitOfWorkStore.over(await SqliteEventStore.open(tmp_path / "two.sqlite3"))
    await _first_half(two)
    await replay(two, half.appends)
    await two.close()

    async def stored(name: str) -> list[RecordedEvent]:
        async with await SqliteEventStore.open(tmp_path / name) as store:
            return await store.read_all(0, 100)

    assert _shape(await stored("two.sqlite3")) == _shape(await stored("one.sqlite3"))
    assert [e.event_id for e in await stored("two.sqlite3")][3:] == [
        event.event_id for parts in half.appends for _, events in parts for event in events
    ]
    assert await stored("half.sqlite3") == []  # the half writes nothing of its own


def test_spare_cores_are_the_idle_share_of_every_core() -> None:
    assert spare_cores((100, 400), (250, 600), 2) == pytest.approx(1.5)
    assert spare_cores((100, 400), (100, 600), 2) == 0.0
    assert spare_cores(None, (100, 600), 2) == 0.0
    assert spare_cores((100, 400), (100, 400), 2) == 0.0  # no tick between: unknown


def test_cpu_times_read_the_machine_s_ticks() -> None:
    times = cpu_times()
    if times is None:
        pytest.skip("no /proc/stat here")
    idle, total = times
    assert 0 <= idle <= total
    later = cpu_times()
    assert later is not None
    assert later[1] >= total
