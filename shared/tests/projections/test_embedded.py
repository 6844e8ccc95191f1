"""The embedded path: projections fed in-process from event stores, resumed from their checkpoints,
waited on with a commit's position, and rebuilt while readers keep reading."""

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bilet.eventstore import AppendResult, EventStore, NewEvent
from bilet.eventstore.sqlite import SqliteEventStore
from bilet.projections import BackgroundFeed, EmbeddedFeed, ReadModel, rebuild_from_stores
from bilet.projections.testing import (
    COUNTS,
    StreamCounter,
    expected_counts,
    read_applied,
    read_counts,
)

SOURCE = "identity"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[EventStore]:
    async with await SqliteEventStore.open(tmp_path / "identity-events.sqlite3") as store:
        yield store


async def append_some(
    store: EventStore, count: int, *, streams: int = 10, seed: int = 1, prefix: str = "participant"
) -> AppendResult:
    rng = random.Random(seed)
    result = None
    for number in range(count):
        stream_id = f"{prefix}-{rng.randrange(streams)}"
        kind = rng.choice(("Registered", "Answered", "Corrected"))
        result = await store.append(stream_id, [NewEvent(kind, json.dumps({"n": number}).encode())])
    assert result is not None
    return result


@contextlib.asynccontextmanager
async def running(feed: EmbeddedFeed) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(feed.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_given_a_store_history_when_fed_then_the_read_model_is_a_clean_replay_of_it(
    read_model: ReadModel, store: EventStore
) -> None:
    await append_some(store, 200)
    feed = EmbeddedFeed(read_model, StreamCounter(), {SOURCE: store}, batch_size=64)

    async with running(feed):
        last = await append_some(store, 50, seed=2)  # some while the feed is live
        reached = await read_model.wait_until(
            COUNTS, SOURCE, last.position, timeout=10.0, stream_id=last.stream_id
        )
        assert reached == last.position
        await read_model.wait_until(COUNTS, SOURCE, last.position, timeout=10.0)

    assert await read_counts(read_model) == expected_counts(await store.read_all(limit=10_000))
    assert await read_model.position(COUNTS, SOURCE) == last.position


async def test_a_background_feed_has_caught_up_when_it_starts_then_follows_until_it_ends(
    read_model: ReadModel, store: EventStore
) -> None:
    history = await append_some(store, 150)
    feed = EmbeddedFeed(read_model, StreamCounter(), {SOURCE: store}, batch_size=32)
    background = BackgroundFeed("test-feed")
    assert not background.runs  # not started: not ready

    async with background.running(feed) as task:
        # What the store held at start is in the read model before the process serves.
        assert await read_model.position(COUNTS, SOURCE) == history.position
        assert background.runs
        assert task is background.task
        assert task.get_name() == "test-feed"
        live = await append_some(store, 30, seed=4)
        await read_model.wait_until(COUNTS, SOURCE, live.position, timeout=10.0)

    assert task.done()
    assert not background.runs
    assert await read_counts(read_model) == expected_counts(await store.read_all(limit=10_000))


async def test_a_background_feed_that_stopped_no_longer_runs(
    read_model: ReadModel, store: EventStore
) -> None:
    background = BackgroundFeed("test-feed")
    async with background.running(EmbeddedFeed(read_model, StreamCounter(), {SOURCE: store})):
        assert background.task is not None
        background.task.cancel()
        await asyncio.wait({background.task})
        assert not background.runs


async def test_given_a_stopped_feed_when_started_again_then_it_resumes_without_counting_twice(
    read_model: ReadModel, store: EventStore
) -> None:
    async with running(EmbeddedFeed(read_model, StreamCounter(), {SOURCE: store})):
        first = await append_some(store, 120)
        await read_model.wait_until(COUNTS, SOURCE, first.position, timeout=10.0)
    second = await append_some(store, 80, seed=3)

    async with running(EmbeddedFeed(read_model, StreamCounter(), {SOURCE: store})):
        await read_model.wait_until(COUNTS, SOURCE, second.position, timeout=10.0)

    assert await read_counts(read_model) == expected_counts(await store.read_all(limit=10_000))


async def test_given_two_sources_with_the_same_stream_ids_then_each_keeps_its_own_versions(
    read_model: ReadModel, store: EventStore, tmp_path: Path
) -> None:
    async with await SqliteEventStore.open(tmp_path / "consent-events.sqlite3") as consent:
        identity_last = await append_some(store, 40, streams=3)
        consent_last = await append_some(consent, 30, seed=9, streams=3)
        feed = EmbeddedFeed(read_model, StreamCounter(), {SOURCE: store, "consent": consent})
        async with running(feed):
            await read_model.wait_until(COUNTS, SOURCE, identity_last.position, timeout=10.0)
            await read_model.wait_until(COUNTS, "consent", consent_last.position, timeout=10.0)
        identity_events = await store.read_all(limit=1000)
        consent_events = await consent.read_all(limit=1000)

    assert await read_model.checkpoints(COUNTS) == {
        (SOURCE, 0): identity_last.position,
        ("consent", 0): consent_last.position,
    }
    # `participant-1` of identity and `participant-1` of consent are two streams to the runtime
    # (the example projection itself adds their counts up).
    assert await read_applied(read_model) == {
        **{(SOURCE, e.stream_id): (e.version, e.position) for e in identity_events},
        **{("consent", e.stream_id): (e.version, e.position) for e in consent_events},
    }
    counts = await read_counts(read_model)
    assert sum(n for n, _, _ in counts.values()) == len(identity_events) + len(consent_events)


async def test_given_readers_and_a_live_feed_when_rebuilt_twice_then_readers_never_miss_an_answer(
    read_model: ReadModel, store: EventStore
) -> None:
    seeded = await append_some(store, 300, streams=25)
    live = EmbeddedFeed(read_model, StreamCounter(), {SOURCE: store}, batch_size=32)
    answers: list[list[int]] = [[], [], []]
    errors: list[BaseException] = []
    stop = asyncio.Event()

    async def reader(seen: list[int]) -> None:
        while not stop.is_set():
            try:
                async with read_model.query(StreamCounter()) as tx:
                    total = await tx.fetchval(
                        "SELECT COALESCE(SUM(events), 0) FROM {stream_counts}"
                    )
                seen.append(int(total))
            except Exception as error:  # any failure is what this test is about
                errors.append(error)
            await asyncio.sleep(0.001)

    async def writer() -> None:
        seed = 100
        while not stop.is_set():
            await append_some(store, 5, streams=25, seed=seed)
            seed += 1
            # Writes keep coming during both rebuilds, but at a pace a loaded 2-core CI machine
            # lets the replay overtake (at 5 ms the live feed could stay ahead for 50 rounds).
            await asyncio.sleep(0.02)

    async with running(live):
        await read_model.wait_until(COUNTS, SOURCE, seeded.position, timeout=10.0)
        readers = [asyncio.create_task(reader(seen)) for seen in answers]
        writing = asyncio.create_task(writer())
        await asyncio.sleep(0.2)
        reports = [
            await rebuild_from_stores(read_model, StreamCounter(), {SOURCE: store}, batch_size=50)
            for _ in range(2)
        ]
        await asyncio.sleep(0.2)
        stop.set()
        await asyncio.gather(*readers, writing)
        head = await store.head_position()
        await read_model.wait_until(COUNTS, SOURCE, head, timeout=10.0)

    assert errors == []
    for seen in answers:
        assert len(seen) > 20
        # Never an empty table, never a step back: the switch happens only once the shadow
        # has caught up with the live checkpoint.
        assert seen[0] > 0
        assert seen == sorted(seen)
    assert all(r.rounds >= 1 for r in reports)
    assert await read_counts(read_model) == expected_counts(await store.read_all(limit=100_000))


async def test_a_feed_of_published_types_never_sees_the_other_streams_not_even_their_ids(
    read_model: ReadModel, store: EventStore
) -> None:
    """A service feeds another's store as the Kafka path would see it: its published types
    only. The internal streams (here a reservation, its id a keyed hash) are neither applied
    nor kept in the feed's bookkeeping; a catch-up ends though the store's last events are
    internal ones."""
    await append_some(store, 40)
    secret = "reservation-" + "5f" * 32
    await store.append(secret, [NewEvent("ChildReserved", b"{}")])
    await append_some(store, 10, seed=3)
    await store.append(secret, [NewEvent("DuplicateReviewRequested", b"{}")])  # the last event
    published = {"Registered", "Answered", "Corrected"}
    feed = EmbeddedFeed(read_model, StreamCounter(), {SOURCE: store}, event_types=published)

    await asyncio.wait_for(feed.catch_up({}), 10.0)

    everything = await store.read_all(limit=10_000)
    expected = expected_counts([e for e in everything if e.type in published])
    assert await read_counts(read_model) == expected
    applied = {stream_id for (_, stream_id) in await read_applied(read_model)}
    assert secret not in applied
    assert applied == set(expected)
