"""What only the PostgreSQL adapter has to prove: wake-ups across processes."""

import asyncio
import uuid

import asyncpg
import pytest

from bilet.eventstore import NO_STREAM, START, NewEvent
from bilet.eventstore.postgres import PostgresEventStore, drop_schema

pytestmark = pytest.mark.integration


async def test_a_subscriber_in_another_process_is_woken_by_notify_not_by_polling(
    database_url: str,
) -> None:
    schema = f"t{uuid.uuid4().hex[:16]}"
    writer = await PostgresEventStore.open(database_url, schema=schema)
    reader = await PostgresEventStore.open(database_url, schema=schema)
    reader.poll_interval = 60  # only a NOTIFY can deliver within the test's timeout
    try:
        first = await writer.append("participant-1", [NewEvent("A", b"{}")], NO_STREAM)

        caught_up = asyncio.Event()

        async def take_two() -> list[str]:
            seen = []
            async for event in reader.subscribe_all(START):
                seen.append(event.stream_id)
                caught_up.set()  # the subscription LISTENs before its first read
                if len(seen) == 2:
                    return seen
            return seen

        consumer = asyncio.create_task(take_two())
        await asyncio.wait_for(caught_up.wait(), 5)
        await writer.append("participant-2", [NewEvent("B", b"{}")], NO_STREAM)
        assert await asyncio.wait_for(consumer, 5) == ["participant-1", "participant-2"]
        assert first.position > START
    finally:
        await writer.close()
        await reader.close()
        await drop_schema(database_url, schema)


async def test_events_held_behind_another_transaction_arrive_when_it_ends_without_a_wake_up(
    database_url: str,
) -> None:
    # Another transaction anywhere in the cluster holds the read horizon back. When it ends, no
    # append of ours announces it: the subscriber must look again by itself, soon, not after
    # its poll interval.
    schema = f"t{uuid.uuid4().hex[:16]}"
    store = await PostgresEventStore.open(database_url, schema=schema)
    store.poll_interval = 60
    blocker = await asyncpg.connect(database_url)
    try:
        await store.append("participant-1", [NewEvent("A", b"{}")], NO_STREAM)
        caught_up = asyncio.Event()

        async def take_two() -> list[str]:
            seen = []
            async for event in store.subscribe_all(START):
                seen.append(event.stream_id)
                caught_up.set()
                if len(seen) == 2:
                    return seen
            return seen

        consumer = asyncio.create_task(take_two())
        await asyncio.wait_for(caught_up.wait(), 5)
        holding = blocker.transaction()
        await holding.start()
        await blocker.fetchval("SELECT pg_current_xact_id()")  # an xid: the horizon stops here
        await store.append("participant-2", [NewEvent("B", b"{}")], NO_STREAM)
        await asyncio.sleep(0.2)  # woken by the append, the subscriber finds it held back
        assert not consumer.done()
        await holding.commit()
        assert await asyncio.wait_for(consumer, 5) == ["participant-1", "participant-2"]
    finally:
        await blocker.close()
        await store.close()
        await drop_schema(database_url, schema)


async def test_the_last_position_of_some_types_stops_at_the_horizon_as_reading_them_does(
    database_url: str,
) -> None:
    # A catch-up filtered to some types must reach `last_position` (ADR 0114); an event held
    # behind the horizon is one `read_all` does not give yet, so it must not be the goal.
    schema = f"t{uuid.uuid4().hex[:16]}"
    store = await PostgresEventStore.open(database_url, schema=schema)
    blocker = await asyncpg.connect(database_url)
    try:
        first = await store.append("participant-1", [NewEvent("A", b"{}")], NO_STREAM)

        # Delivered first (the subscription waits out whatever else holds the horizon now):
        # from here the horizon is above it, and it only grows.
        async def first_delivered() -> int:
            async for event in store.subscribe_all(START):
                return event.position
            return START

        assert await asyncio.wait_for(first_delivered(), 30) == first.position
        holding = blocker.transaction()
        await holding.start()
        await blocker.fetchval("SELECT pg_current_xact_id()")  # an xid: the horizon stops here
        await store.append("participant-2", [NewEvent("B", b"{}")], NO_STREAM)
        read = await store.read_all(START)
        assert [event.position for event in read] == [first.position]  # B is held back
        assert await store.last_position({"A", "B"}, START, 2**62) == first.position
        assert await store.last_position({"B"}, START, 2**62) is None
        await holding.commit()
    finally:
        await blocker.close()
        await store.close()
        await drop_schema(database_url, schema)
