"""Watches of one key of a projection (what the portfolio's update streams sleep on): woken by a
commit that changes their key, in this process or — on PostgreSQL, through NOTIFY — in another,
and by nothing else; and the NOTIFY payloads that carry the keys."""

import asyncio
from collections.abc import Collection

from bilet.projections import EVERY_KEY, ReadModel
from bilet.projections.readmodel.changes import (
    PAYLOAD_LIMIT,
    ChangeSignals,
    notify_payloads,
    read_payload,
)
from bilet.projections.testing import COUNTS, ReadModelFactory, history
from shared.tests.projections.test_waiters import projector_on

# Long enough that a wait ending early can only be the signal's doing.
NEVER = 3600.0


async def _nothing() -> None:
    return None


def test_given_many_keys_then_they_travel_in_payloads_under_the_limit_and_come_back() -> None:
    keys = {f"participant-{number:032}" for number in range(500)}

    payloads = notify_payloads("portfolio", keys)

    assert len(payloads) > 1
    assert all(len(payload.encode()) < PAYLOAD_LIMIT for payload in payloads)
    read = [read_payload(payload) for payload in payloads]
    assert {projection for projection, _ in read} == {"portfolio"}
    assert set().union(*(changed or set() for _, changed in read)) == keys


def test_given_no_key_or_every_key_then_the_payload_says_so() -> None:
    assert [read_payload(p) for p in notify_payloads("portfolio", set())] == [("portfolio", set())]
    assert [read_payload(p) for p in notify_payloads("portfolio", {EVERY_KEY})] == [
        ("portfolio", None)
    ]
    assert read_payload("portfolio") == ("portfolio", None)  # an older worker's: anything
    assert notify_payloads("portfolio", {"two words"}) == ["portfolio"]


async def test_given_watches_then_a_publication_wakes_the_keys_named_and_every_key_wakes_all() -> (
    None
):
    signals = ChangeSignals(_nothing)
    with (
        signals.watch("portfolio", "a") as a,
        signals.watch("portfolio", "b") as b,
        signals.watch("other", "a") as other,
    ):
        assert signals.watching("portfolio") == 2
        signals.publish("portfolio", {"a"})
        assert await a.wait(NEVER)
        assert not await b.wait(0)
        assert not await other.wait(0)

        signals.publish("portfolio", {EVERY_KEY})
        assert await a.wait(NEVER)
        assert await b.wait(NEVER)
        assert not await other.wait(0)

        signals.publish(None, None)
        assert await other.wait(NEVER)
    assert signals.watching("portfolio") == 0


async def test_given_a_watch_of_a_stream_then_its_commit_wakes_it_and_another_streams_does_not(
    open_read_model: ReadModelFactory,
) -> None:
    writer_side = await open_read_model()
    # PostgreSQL: another process's view, which only NOTIFY can reach; SQLite: the same one.
    api_side: ReadModel = (
        await open_read_model() if writer_side.hears_other_processes else writer_side
    )
    events = history(2, 1, seed=3)
    watched, other = events[0], events[1]
    feed = await projector_on(writer_side)

    async with api_side.watch(COUNTS, watched.stream_id) as watch:
        await feed.apply([other])
        # Another stream's commit: the watch stays asleep, though the commit is visible.
        assert (await api_side.stream_position(COUNTS, "identity", other.stream_id)) > 0
        assert not await watch.wait(0.2)

        await feed.apply([watched])
        assert await asyncio.wait_for(watch.wait(NEVER), timeout=60)


async def test_given_a_listener_then_it_hears_each_publication_of_its_projection_until_closed() -> (
    None
):
    signals = ChangeSignals(_nothing)
    heard: list[set[str] | None] = []

    def listener(keys: Collection[str] | None) -> None:
        heard.append(None if keys is None else set(keys))

    with signals.listen("portfolio", listener):
        signals.publish("portfolio", {"a", "b"})
        signals.publish("other", {"c"})
        signals.publish("portfolio", {EVERY_KEY})
        signals.publish(None, None)
    signals.publish("portfolio", {"d"})
    assert heard == [{"a", "b"}, None, None]


async def test_given_a_listener_in_another_process_then_a_commit_tells_it_the_keys(
    open_read_model: ReadModelFactory,
) -> None:
    writer_side = await open_read_model()
    api_side: ReadModel = (
        await open_read_model() if writer_side.hears_other_processes else writer_side
    )
    events = history(2, 1, seed=5)
    feed = await projector_on(writer_side)
    heard: list[set[str] | None] = []
    arrived = asyncio.Event()

    def listener(keys: Collection[str] | None) -> None:
        heard.append(None if keys is None else set(keys))
        arrived.set()

    with api_side.signals.listen(COUNTS, listener):
        await api_side.signals.ready()
        await feed.apply([events[0]])
        await asyncio.wait_for(arrived.wait(), timeout=60)
    assert {events[0].stream_id} in heard
