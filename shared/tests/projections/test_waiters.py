"""`wait_until` under load, on SQLite and PostgreSQL: one checker per projection holds every pending
wait and releases each exactly when its target is applied; timeouts, cancellation and close."""

import asyncio
from collections.abc import Callable, Sequence

import pytest

from bilet.eventstore import RecordedEvent
from bilet.projections import Applied, Delivery, NotApplied, Projector, ReadModel
from bilet.projections.readmodel import IN_LIST_SIZES, in_lists
from bilet.projections.testing import COUNTS, ReadModelFactory, StreamCounter, history, read_counts

FEED = "identity"
CHECKER = f"bilet.projections.waiter:{COUNTS}"


def deliveries(events: Sequence[RecordedEvent]) -> list[Delivery]:
    return [Delivery(e, e.position, e.position) for e in events]


class Feed:
    """Applies events as the embedded feed does, from the checkpoint the last batch left."""

    def __init__(self, projector: Projector, source: str = FEED) -> None:
        self.projector = projector
        self.source = source
        self.checkpoint = 0

    async def apply(self, events: Sequence[RecordedEvent]) -> None:
        outcome = await self.projector.apply(self.source, 0, self.checkpoint, deliveries(events))
        assert outcome == Applied(events[-1].position)
        self.checkpoint = events[-1].position


async def projector_on(read_model: ReadModel) -> Feed:
    projector = Projector(read_model, StreamCounter())
    await projector.install()
    await projector.resume_points(FEED, [0], FEED)
    return Feed(projector)


async def eventually(condition: Callable[[], bool]) -> None:
    for _ in range(3000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


def checkers() -> list[asyncio.Task[object]]:
    return [task for task in asyncio.all_tasks() if task.get_name() == CHECKER]


async def released_when_applied(
    api_side: ReadModel, event: RecordedEvent, *, by_stream: bool
) -> tuple[int, int]:
    """Waits for one event, then reads what the read model holds at release: (the stream's last
    version, the number of events applied)."""
    reached = await api_side.wait_until(
        COUNTS,
        FEED,
        event.position,
        timeout=60.0,
        stream_id=event.stream_id if by_stream else None,
    )
    assert reached >= event.position
    counts = await read_counts(api_side)
    return counts[event.stream_id][2], sum(events for events, _, _ in counts.values())


def test_given_many_stream_ids_then_they_are_asked_for_in_lists_of_few_sizes() -> None:
    ids = [f"s-{number:03}" for number in range(300)]

    chunks = in_lists(ids)

    assert [len(chunk) for chunk in chunks] == [256, 64]
    assert sorted(set(chunks[0]) | set(chunks[1])) == ids
    assert chunks[1][-1] == chunks[1][43] == "s-299"  # padded with the last id
    assert [len(chunk) for chunk in in_lists(["a"])] == [1]
    assert all(len(chunk) in IN_LIST_SIZES for chunk in in_lists(ids[:17]))


async def test_given_many_waiters_on_many_streams_then_each_is_released_once_applied_not_before(
    open_read_model: ReadModelFactory,
) -> None:
    writer_side = await open_read_model()
    api_side = await open_read_model()  # another process's view: woken by NOTIFY or the poll
    events = history(300, 2, seed=11)
    projector = await projector_on(writer_side)
    by_stream = {
        event.event_id: asyncio.create_task(released_when_applied(api_side, event, by_stream=True))
        for event in events
    }
    by_watermark = {
        event.event_id: asyncio.create_task(released_when_applied(api_side, event, by_stream=False))
        for event in events[::25]
    }

    applied = 0
    for start in range(0, len(events), 60):
        batch = events[start : start + 60]
        await projector.apply(batch)
        applied += len(batch)
        for event in batch:
            version, total = await by_stream[event.event_id]
            assert version >= event.version
            assert total >= events.index(event) + 1
            if event.event_id in by_watermark:
                _, total = await by_watermark[event.event_id]
                assert total >= events.index(event) + 1
        later = events[applied:]
        assert not any(by_stream[event.event_id].done() for event in later)
        assert not any(
            by_watermark[event.event_id].done() for event in later if event.event_id in by_watermark
        )

    assert api_side.pending_waits(COUNTS) == 0
    assert len(checkers()) == 1  # one checker for the projection, however many waits


async def test_given_many_waiters_then_a_commit_costs_one_look_not_one_per_waiter(
    open_read_model: ReadModelFactory,
) -> None:
    read_model = await open_read_model()
    read_model.poll_interval = 3600.0  # only wake-ups make the checker look
    events = history(40, 2, seed=5)
    projector = await projector_on(read_model)
    firsts = [event for event in events if event.version == 0]
    seconds = [event for event in events if event.version == 1]
    waiters = [
        asyncio.create_task(
            read_model.wait_until(
                COUNTS, FEED, event.position, timeout=60.0, stream_id=event.stream_id
            )
        )
        for event in seconds
    ]
    await projector.apply(firsts)
    await eventually(lambda: read_model.pending_waits(COUNTS) == len(seconds))
    looks = 0
    reader = read_model.reader

    def counting_reader(renderer):  # type: ignore[no-untyped-def]
        nonlocal looks
        looks += 1
        return reader(renderer)

    read_model.reader = counting_reader  # type: ignore[method-assign]
    await projector.apply([seconds[0]])
    assert await waiters[0] == seconds[0].position
    looks_for_one_commit = looks

    assert read_model.pending_waits(COUNTS) == len(seconds) - 1
    assert 1 <= looks_for_one_commit <= 3  # the old loop looked once per pending waiter: 40
    assert not any(waiter.done() for waiter in waiters[1:])
    read_model.reader = reader  # type: ignore[method-assign]
    await projector.apply(seconds[1:])
    assert await asyncio.gather(*waiters[1:]) == [event.position for event in seconds[1:]]


async def test_given_a_waiter_that_times_out_then_it_raises_and_the_others_keep_working(
    open_read_model: ReadModelFactory,
) -> None:
    read_model = await open_read_model()
    api_side = await open_read_model()
    events = history(4, 3, seed=3)
    projector = await projector_on(read_model)
    early, late = events[5], events[-1]
    first = asyncio.create_task(
        api_side.wait_until(COUNTS, FEED, late.position, timeout=60.0, stream_id=late.stream_id)
    )
    await projector.apply(events[:6])

    with pytest.raises(NotApplied) as gave_up:
        await api_side.wait_until(
            COUNTS, FEED, late.position, timeout=0.3, stream_id=late.stream_id
        )
    with pytest.raises(NotApplied) as watermark_gave_up:
        await api_side.wait_until(COUNTS, FEED, late.position, timeout=0.3)

    assert gave_up.value.wanted == late.position
    assert gave_up.value.reached == max(
        [e.position for e in events[:6] if e.stream_id == late.stream_id], default=0
    )
    assert watermark_gave_up.value.reached == early.position
    assert watermark_gave_up.value.projection == COUNTS
    second = asyncio.create_task(api_side.wait_until(COUNTS, FEED, late.position, timeout=60.0))
    assert not first.done()
    await projector.apply(events[6:])
    assert await first == late.position
    assert await second == late.position
    assert await api_side.wait_until(COUNTS, FEED, early.position, timeout=0) == late.position
    with pytest.raises(NotApplied):
        await api_side.wait_until(COUNTS, FEED, late.position + 1, timeout=0)


async def test_given_a_cancelled_waiter_then_it_is_removed_and_the_others_are_released(
    read_model: ReadModel,
) -> None:
    events = history(3, 2, seed=9)
    projector = await projector_on(read_model)
    target = events[-1]
    cancelled = asyncio.create_task(read_model.wait_until(COUNTS, FEED, target.position, 60.0))
    kept = asyncio.create_task(
        read_model.wait_until(COUNTS, FEED, target.position, 60.0, stream_id=target.stream_id)
    )
    await projector.apply(events[:1])
    await eventually(lambda: read_model.pending_waits(COUNTS) == 2)

    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled

    assert read_model.pending_waits(COUNTS) == 1
    await projector.apply(events[1:])
    assert await kept == target.position
    assert read_model.pending_waits(COUNTS) == 0


async def test_given_waiters_pending_when_the_read_model_closes_then_they_raise_and_it_stops(
    open_read_model: ReadModelFactory,
) -> None:
    writer_side = await open_read_model()
    api_side = await open_read_model()
    events = history(2, 2, seed=4)
    projector = await projector_on(writer_side)
    await projector.apply(events[:1])
    assert checkers() == []  # started by the first wait, not before
    pending = [
        asyncio.create_task(
            api_side.wait_until(
                COUNTS, FEED, event.position, timeout=60.0, stream_id=event.stream_id
            )
        )
        for event in events[1:]
    ]
    pending.append(asyncio.create_task(api_side.wait_until(COUNTS, FEED, events[-1].position, 60)))
    await eventually(lambda: api_side.pending_waits(COUNTS) == len(pending))
    assert len(checkers()) == 1

    await api_side.close()

    outcomes = await asyncio.gather(*pending, return_exceptions=True)
    assert all(isinstance(outcome, NotApplied) for outcome in outcomes)
    assert [outcome.wanted for outcome in outcomes if isinstance(outcome, NotApplied)] == [
        event.position for event in [*events[1:], events[-1]]
    ]
    assert checkers() == []
    assert api_side.pending_waits(COUNTS) == 0


async def test_given_a_waiter_before_the_projection_exists_then_it_is_released_once_applied(
    open_read_model: ReadModelFactory,
) -> None:
    writer_side = await open_read_model()
    api_side = await open_read_model()
    events = history(2, 2, seed=8)
    target = events[-1]
    waiter = asyncio.create_task(
        api_side.wait_until(COUNTS, FEED, target.position, 60.0, stream_id=target.stream_id)
    )
    await eventually(lambda: api_side.pending_waits(COUNTS) == 1)
    await asyncio.sleep(0.05)  # the checker has looked at a table that does not exist yet
    assert not waiter.done()

    projector = await projector_on(writer_side)
    await projector.apply(events)

    assert await waiter == target.position


async def test_given_waits_on_the_same_stream_id_of_two_sources_then_each_source_counts_alone(
    open_read_model: ReadModelFactory,
) -> None:
    read_model = await open_read_model()
    api_side = await open_read_model()
    identity = await projector_on(read_model)
    await identity.projector.resume_points("consent", [0], "consent")
    consent = Feed(identity.projector, "consent")
    events = history(1, 2, seed=21)  # the same stream id and positions in both sources
    stream_id = events[0].stream_id

    def waiting(source: str, event: RecordedEvent) -> asyncio.Task[int]:
        return asyncio.create_task(
            api_side.wait_until(COUNTS, source, event.position, 60.0, stream_id=stream_id)
        )

    on_identity, on_consent = waiting(FEED, events[1]), waiting("consent", events[1])
    on_consent_watermark = asyncio.create_task(
        api_side.wait_until(COUNTS, "consent", events[0].position, 60.0)
    )
    await eventually(lambda: api_side.pending_waits(COUNTS) == 3)

    await identity.apply(events)
    assert await on_identity == events[1].position
    assert not on_consent.done()
    assert not on_consent_watermark.done()
    await consent.apply(events[:1])
    assert await on_consent_watermark == events[0].position
    assert not on_consent.done()
    await consent.apply(events[1:])
    assert await on_consent == events[1].position


async def test_given_two_sources_applied_to_different_positions_then_watermarks_reports_each(
    open_read_model: ReadModelFactory,
) -> None:
    read_model = await open_read_model()
    identity = await projector_on(read_model)
    await identity.projector.resume_points("consent", [0], "consent")
    consent = Feed(identity.projector, "consent")
    events = history(2, 2, seed=5)
    assert await read_model.watermarks(COUNTS) == {}  # partitions that carried no event yet

    await identity.apply(events)
    await consent.apply(events[:1])

    watermarks = await read_model.watermarks(COUNTS)
    assert watermarks == {"consent": events[0].position, FEED: events[-1].position}
    assert list(watermarks) == ["consent", FEED]  # by source, in order
    for source, position in watermarks.items():
        assert await read_model.position(COUNTS, source) == position
    assert await read_model.watermarks("another_projection") == {}
