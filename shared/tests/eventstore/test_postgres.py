"""What only the PostgreSQL adapter has to prove: wake-ups across processes."""

import asyncio
import uuid

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

        async def take_two() -> list[str]:
            seen = []
            async for event in reader.subscribe_all(START):
                seen.append(event.stream_id)
                if len(seen) == 2:
                    return seen
            return seen

        consumer = asyncio.create_task(take_two())
        await asyncio.sleep(0.3)  # the reader has caught up and sleeps on its LISTEN
        await writer.append("participant-2", [NewEvent("B", b"{}")], NO_STREAM)
        assert await asyncio.wait_for(consumer, 5) == ["participant-1", "participant-2"]
        assert first.position > START
    finally:
        await writer.close()
        await reader.close()
        await drop_schema(database_url, schema)
