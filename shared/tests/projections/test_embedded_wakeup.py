"""In embedded mode a service follows another's SQLite file through a store instance of its own
(consent follows identity's): an append through the owner's instance wakes the follower's feed at
once, not on its next poll, and the position the append returned is exactly what the read model
reaches.

The follower's poll interval is an hour and the waits are bounded far below it: only the wake-up
can explain the read model catching up.
"""

import asyncio
import json
from pathlib import Path

from bilet.eventstore import NewEvent
from bilet.eventstore.sqlite import SqliteEventStore
from bilet.projections import EmbeddedFeed, ReadModel
from bilet.projections.testing import COUNTS, StreamCounter, read_counts

SOURCE = "identity"
AN_HOUR = 3600.0
BOUNDED = 60.0  # a bound that would otherwise hang, far below the poll interval


async def test_an_append_through_another_instance_of_the_file_wakes_the_feed_before_its_poll(
    read_model: ReadModel, tmp_path: Path
) -> None:
    path = tmp_path / "identity-events.sqlite3"
    async with (
        await SqliteEventStore.open(path) as owner,
        await SqliteEventStore.open(path) as follower,
    ):
        follower.poll_interval = AN_HOUR
        feed = EmbeddedFeed(read_model, StreamCounter(), {SOURCE: follower})
        task = asyncio.create_task(feed.run())
        try:
            first = await owner.append("participant-1", [NewEvent("Registered", b"{}")])
            # The first read of the subscription finds it; then the feed waits, live.
            assert (
                await read_model.wait_until(COUNTS, SOURCE, first.position, timeout=BOUNDED)
                == first.position
            )
            for number in range(3):
                registered = await owner.append(
                    f"participant-{number + 2}",
                    [NewEvent("Registered", json.dumps({"n": number}).encode())],
                )
                reached = await read_model.wait_until(
                    COUNTS,
                    SOURCE,
                    registered.position,
                    timeout=BOUNDED,
                    stream_id=registered.stream_id,
                )
                assert reached == registered.position
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    counts = await read_counts(read_model)
    assert set(counts) == {f"participant-{n}" for n in range(1, 5)}
