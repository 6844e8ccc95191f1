"""Every position store keeps a relay's position by name, only ever forward, and counts what is
left to publish. The PostgreSQL adapter is checked in tests/integration/test_relay.py."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bilet.eventstore import START, NewEvent, StreamAppend
from bilet.eventstore.memory import InMemoryEventStore
from bilet.eventstore.sqlite import SqliteEventStore
from bilet.relay import InMemoryPositionStore
from bilet.relay.positions import PositionStore
from bilet.relay.sqlite import SqlitePositionStore


@pytest.fixture(params=["memory", "sqlite"])
async def opened(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[InMemoryEventStore | SqliteEventStore, PositionStore]]:
    if request.param == "memory":
        memory = InMemoryEventStore()
        yield memory, InMemoryPositionStore(memory)
        return
    path = tmp_path / "identity.sqlite3"
    store = await SqliteEventStore.open(path)
    positions = await SqlitePositionStore.open(path)
    yield store, positions
    await positions.close()
    await store.close()


async def test_given_no_stored_position_then_a_relay_starts_at_the_beginning(
    opened: tuple[InMemoryEventStore | SqliteEventStore, PositionStore],
) -> None:
    _, positions = opened
    assert await positions.load("bilet.identity") == START


async def test_positions_are_kept_per_relay_and_only_move_forward(
    opened: tuple[InMemoryEventStore | SqliteEventStore, PositionStore],
) -> None:
    _, positions = opened
    await positions.save("bilet.identity", 40)
    await positions.save("bilet.identity", 30)  # a late save of an older position
    await positions.save("bilet.audit", 7)
    assert await positions.load("bilet.identity") == 40
    assert await positions.load("bilet.audit") == 7


async def test_count_after_counts_the_stored_events_after_a_position(
    opened: tuple[InMemoryEventStore | SqliteEventStore, PositionStore],
) -> None:
    store, positions = opened
    result = await store.append(f"participant-{id(store)}", [NewEvent("T", b"{}")] * 1)
    (second,) = await store.append_many(
        [StreamAppend("participant-b", [NewEvent("T", b"{}"), NewEvent("T", b"{}")])]
    )
    assert await positions.count_after(START) == 3
    assert await positions.count_after(result.position) == 2
    assert await positions.count_after(second.position) == 0


async def test_an_sqlite_position_lives_in_the_store_file_and_survives_a_reopen(
    tmp_path: Path,
) -> None:
    path = tmp_path / "consent.sqlite3"
    store = await SqliteEventStore.open(path)
    positions = await SqlitePositionStore.open(path)
    await positions.save("bilet.consent", 12)
    await positions.close()
    await store.close()

    again = await SqlitePositionStore.open(path)
    try:
        assert await again.load("bilet.consent") == 12
    finally:
        await again.close()
