"""How the worker's issuing agent takes its facts in batches (ADR 0063): every event faust has
delivered to the agent's stream and the agent has not taken yet, at most `most`, as soon as there
is one; acknowledged when the loop asks for the next batch (at least once, as before).

Why not faust's `take_events(max, within)` (ADR 0047 used it): it collects events for a fixed
window *after* each batch, and while a batch is being handled it takes nothing in. Measured in
`make bench` (the worker's `bilet_recommender_fact_wait_seconds` and `_batch_facts`): on the
loaded machine a 50 ms window gathered about 3 facts, each batch's step took about 220 ms of
database round trips, so the agent took some ten facts a second while thousands waited in the
stream's buffer (a mean wait of over a minute in the throughput rounds). Taking what is there
instead makes the batches as large as the backlog: one fact when the worker keeps up (no waiting
window), up to `most` when it does not.
"""

from collections.abc import AsyncIterator
from typing import Any, cast

from faust.streams import Stream
from faust.types import EventT, StreamT


async def take_delivered(stream: StreamT[Any], most: int) -> AsyncIterator[list[EventT[Any]]]:
    """Batches of the events delivered to `stream`: a batch ends with the last event waiting in
    its channel, or at `most` events. A batch's events are acknowledged (faust may then commit
    their offsets) only when the caller asks for the next batch, after handling this one."""
    taking = cast(Stream[Any], stream)
    # Acknowledge by hand, as `take_events` does: not as the next event is read, but after the
    # batch that holds it was handled.
    taking.enable_acks = False
    channel: Any = taking.channel  # a channel's `empty()`: nothing delivered and not yet taken
    batch: list[EventT[Any]] = []
    async for event in taking.events():
        batch.append(event)
        if len(batch) < most and not channel.empty():
            continue
        yield batch
        for handled in batch:
            await taking.ack(handled)
        batch = []
