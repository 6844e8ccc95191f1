"""The relay publishes every stored event at least once, in order per stream, and stores a position
only once the broker has acknowledged everything up to it; errors restart the producer."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from uuid import UUID

import pytest
from aiokafka.errors import KafkaTimeoutError, NotLeaderForPartitionError

from bilet.eventstore import EventStore, NewEvent, StreamAppend
from bilet.eventstore.memory import InMemoryEventStore
from bilet.relay import Backoff, InMemoryPositionStore, Relay, RelayMetrics, RelayOptions
from bilet.relay.memory import MemoryBroker
from bilet.relay.positions import PositionStore

NAME = "bilet.test"
FAST = RelayOptions(
    batch_size=10,
    delivery_timeout=0.3,
    checkpoint_interval=0.0,
    backoff_initial=0.01,
    backoff_max=0.05,
    lag_interval=0.02,
    shutdown_timeout=1.0,
)


def relay_for(
    store: EventStore,
    positions: PositionStore,
    broker: MemoryBroker,
    metrics: RelayMetrics,
    options: RelayOptions = FAST,
) -> Relay:
    return Relay(
        name=NAME,
        store=store,
        positions=positions,
        connect=broker.connect,
        options=options,
        metrics=metrics,
    )


@contextlib.asynccontextmanager
async def running(relay: Relay) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(relay.run())
    try:
        yield task
    finally:
        relay.stop()
        await asyncio.wait_for(task, 5)


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():  # noqa: ASYNC110 - the conditions polled here have no event
            await asyncio.sleep(0.005)


async def append(store: EventStore, streams: int, events_each: int, tag: str = "s") -> int:
    """Appends to `streams` streams in one commit; returns the last position."""
    results = await store.append_many(
        [
            StreamAppend(
                f"participant-{tag}{i}",
                [NewEvent("Tested", b'{"n":%d}' % n) for n in range(events_each)],
            )
            for i in range(streams)
        ]
    )
    return max(r.position for r in results)


async def stored_ids(store: EventStore) -> list[UUID]:
    return [event.event_id for event in await store.read_all(0, 100_000)]


def sample(metrics: RelayMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, {"relay": NAME, **labels})
    return 0.0 if value is None else value


def first_occurrences(broker: MemoryBroker) -> list[UUID]:
    seen: dict[UUID, None] = {}
    for event_id in broker.published_ids:
        seen.setdefault(event_id)
    return list(seen)


async def test_given_stored_events_when_the_relay_runs_then_all_are_published_in_store_order(
    store: InMemoryEventStore,
    positions: InMemoryPositionStore,
    broker: MemoryBroker,
    metrics: RelayMetrics,
) -> None:
    head = await append(store, streams=7, events_each=5)
    relay = relay_for(store, positions, broker, metrics)

    async with running(relay):
        await asyncio.wait_for(relay.wait_until_published(head), 5)
        await eventually(lambda: relay.stored_position == head)

    assert broker.published_ids == await stored_ids(store)
    assert await positions.load(NAME) == head
    assert broker.closed == [1]
    assert broker.aborted == []
    assert max(len(w.events) for w in broker.handed_over) <= FAST.batch_size


async def test_given_a_stored_position_when_the_relay_starts_then_it_publishes_what_follows(
    store: InMemoryEventStore,
    positions: InMemoryPositionStore,
    broker: MemoryBroker,
    metrics: RelayMetrics,
) -> None:
    already = await append(store, streams=3, events_each=2, tag="old")
    await positions.save(NAME, already)
    head = await append(store, streams=2, events_each=3, tag="new")
    relay = relay_for(store, positions, broker, metrics)

    async with running(relay):
        await asyncio.wait_for(relay.wait_until_published(head), 5)

    assert broker.published_ids == [e.event_id for e in await store.read_all(already, 100)]


async def test_given_live_appends_when_the_relay_is_caught_up_then_it_publishes_them(
    store: InMemoryEventStore,
    positions: InMemoryPositionStore,
    broker: MemoryBroker,
    metrics: RelayMetrics,
) -> None:
    relay = relay_for(store, positions, broker, metrics)
    async with running(relay):
        for round_ in range(5):
            head = await append(store, streams=2, events_each=2, tag=f"r{round_}")
            await asyncio.wait_for(relay.wait_until_published(head), 5)

    assert broker.published_ids == await stored_ids(store)


async def test_given_unacknowledged_windows_then_the_stored_position_never_passes_an_ack(
    store: InMemoryEventStore,
    positions: InMemoryPositionStore,
    broker: MemoryBroker,
    metrics: RelayMetrics,
) -> None:
    broker.acknowledge_at_once = False
    head = await append(store, streams=10, events_each=5)  # 50 events: windows of 10
    relay = relay_for(store, positions, broker, metrics)

    async with running(relay):
        await eventually(lambda: len(broker.handed_over) >= 2)
        await asyncio.sleep(0.05)
        assert positions.saves == []  # nothing acknowledged, nothing stored
        # The second window is acknowledged before the first: still nothing may be stored.
        broker.handed_over[1].acknowledged.set_result(None)
        await asyncio.sleep(0.05)
        assert positions.saves == []
        broker.log.extend(broker.handed_over[0].events)
        broker.handed_over[0].acknowledged.set_result(None)
        second_end = broker.handed_over[1].events[-1].position
        await eventually(lambda: relay.stored_position == second_end)
        while relay.published_position < head:
            broker.acknowledge(windows=10)
            await asyncio.sleep(0.01)

    acknowledged_ends = {w.events[-1].position for w in broker.handed_over}
    assert all(position in acknowledged_ends for _, position in positions.saves)
    assert await positions.load(NAME) == head


async def test_given_a_delivery_that_is_never_acknowledged_then_the_producer_is_recreated(
    store: InMemoryEventStore,
    positions: InMemoryPositionStore,
    broker: MemoryBroker,
    metrics: RelayMetrics,
) -> None:
    head = await append(store, streams=4, events_each=5)  # 20 events, 2 windows
    broker.acknowledge_at_once = False
    relay = relay_for(store, positions, broker, metrics)

    async with running(relay):
        await eventually(lambda: len(broker.handed_over) >= 1)
        broker.acknowledge(windows=1)  # the first window only, then the broker goes silent
        await eventually(lambda: broker.sessions >= 2, timeout=3)  # after the delivery timeout
        broker.acknowledge_at_once = True
        await asyncio.wait_for(relay.wait_until_published(head), 5)

    assert broker.aborted[0] == 1
    assert sample(metrics, "bilet_relay_producer_recreations_total", reason="DeliveryTimeout") >= 1
    # The second session resumed from the stored position: the first window is not repeated,
    # and every event's first occurrence is in store order.
    second_session = [w for w in broker.handed_over if w.session == 2]
    assert second_session[0].events[0].position > broker.handed_over[0].events[-1].position
    assert first_occurrences(broker) == await stored_ids(store)


async def test_given_publish_errors_and_refused_connections_then_the_relay_recovers_by_itself(
    store: InMemoryEventStore,
    positions: InMemoryPositionStore,
    broker: MemoryBroker,
    metrics: RelayMetrics,
) -> None:
    head = await append(store, streams=3, events_each=10)
    broker.fail_publishes = [KafkaTimeoutError(), NotLeaderForPartitionError()]
    relay = relay_for(store, positions, broker, metrics)

    async with running(relay):
        await eventually(lambda: broker.sessions >= 2)
        broker.refuse_connections = 3  # the next reconnections find no broker
        await asyncio.wait_for(relay.wait_until_published(head), 5)

    assert first_occurrences(broker) == await stored_ids(store)
    assert sample(metrics, "bilet_relay_producer_recreations_total", reason="KafkaTimeoutError")
    assert sample(
        metrics, "bilet_relay_producer_recreations_total", reason="NotLeaderForPartitionError"
    )


async def test_given_a_producer_that_fails_while_discarded_then_the_relay_goes_on(
    store: InMemoryEventStore,
    positions: InMemoryPositionStore,
    broker: MemoryBroker,
    metrics: RelayMetrics,
) -> None:
    head = await append(store, streams=2, events_each=10)
    broker.fail_publishes = [KafkaTimeoutError()]
    broker.fail_aborts = True
    relay = relay_for(store, positions, broker, metrics)

    async with running(relay):
        await asyncio.wait_for(relay.wait_until_published(head), 5)

    assert broker.aborted == [1]
    assert broker.published_ids == await stored_ids(store)


async def test_given_a_failing_acknowledgement_then_the_session_ends_and_publishing_resumes(
    store: InMemoryEventStore,
    positions: InMemoryPositionStore,
    broker: MemoryBroker,
    metrics: RelayMetrics,
) -> None:
    head = await append(store, streams=2, events_each=10)
    broker.acknowledge_at_once = False
    relay = relay_for(store, positions, broker, metrics)

    async with running(relay):
        await eventually(lambda: len(broker.handed_over) >= 1)
        broker.handed_over[0].acknowledged.set_exception(NotLeaderForPartitionError())
        await eventually(lambda: broker.sessions >= 2)
        broker.acknowledge_at_once = True
        broker.acknowledge(windows=100)
        await asyncio.wait_for(relay.wait_until_published(head), 5)

    assert first_occurrences(broker) == await stored_ids(store)


async def test_given_a_store_that_fails_to_read_then_the_relay_retries_from_the_stored_position(
    store: InMemoryEventStore,
    positions: InMemoryPositionStore,
    broker: MemoryBroker,
    metrics: RelayMetrics,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    head = await append(store, streams=2, events_each=10)
    original = store.read_all
    failures = [ConnectionResetError("the database went away (test)")]

    async def flaky_read_all(*args: object, **kwargs: object) -> object:
        if failures and args[1] == FAST.batch_size:  # the relay's reads, not the lag sampler's
            raise failures.pop()
        return await original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "read_all", flaky_read_all)
    relay = relay_for(store, positions, broker, metrics)

    async with running(relay):
        await asyncio.wait_for(relay.wait_until_published(head), 5)

    assert broker.published_ids == await stored_ids(store)
    assert broker.sessions == 2


async def test_when_stopped_then_handed_over_events_are_awaited_and_their_position_stored(
    store: InMemoryEventStore,
    positions: InMemoryPositionStore,
    broker: MemoryBroker,
    metrics: RelayMetrics,
) -> None:
    head = await append(store, streams=1, events_each=8)
    broker.acknowledge_at_once = False
    relay = relay_for(store, positions, broker, metrics)
    task = asyncio.create_task(relay.run())
    await eventually(lambda: len(broker.handed_over) == 1)

    relay.stop()
    await asyncio.sleep(0.05)
    assert not task.done()  # waiting for the broker's acknowledgement
    broker.acknowledge()
    await asyncio.wait_for(task, 2)

    assert await positions.load(NAME) == head
    assert broker.closed == [1]


async def test_when_stopped_while_the_broker_is_silent_then_it_ends_in_time_keeping_what_was_acked(
    store: InMemoryEventStore,
    positions: InMemoryPositionStore,
    broker: MemoryBroker,
    metrics: RelayMetrics,
) -> None:
    await append(store, streams=2, events_each=10)
    broker.acknowledge_at_once = False
    options = RelayOptions(
        batch_size=10, delivery_timeout=10.0, checkpoint_interval=0.0, shutdown_timeout=0.2
    )
    relay = relay_for(store, positions, broker, metrics, options)
    task = asyncio.create_task(relay.run())
    await eventually(lambda: len(broker.handed_over) == 2)
    broker.acknowledge(windows=1)
    await eventually(lambda: relay.published_position > 0)

    relay.stop()
    await asyncio.wait_for(task, 2)

    assert await positions.load(NAME) == broker.handed_over[0].events[-1].position
    assert broker.aborted == [1]


async def test_when_stopped_while_no_broker_answers_then_it_stops_at_once(
    store: InMemoryEventStore,
    positions: InMemoryPositionStore,
    broker: MemoryBroker,
    metrics: RelayMetrics,
) -> None:
    broker.refuse_connections = 10**6
    options = RelayOptions(backoff_initial=5.0, backoff_max=5.0)
    relay = relay_for(store, positions, broker, metrics, options)
    task = asyncio.create_task(relay.run())
    await eventually(lambda: broker.connection_attempts >= 1)

    relay.stop()
    await asyncio.wait_for(task, 1)  # not after the 5 s backoff


async def test_the_metrics_say_what_was_published_and_how_far_behind_the_relay_is(
    store: InMemoryEventStore,
    positions: InMemoryPositionStore,
    broker: MemoryBroker,
    metrics: RelayMetrics,
) -> None:
    head = await append(store, streams=5, events_each=5)
    broker.acknowledge_at_once = False
    relay = relay_for(store, positions, broker, metrics)

    async with running(relay):
        await eventually(lambda: sample(metrics, "bilet_relay_head_position") == head)
        await eventually(lambda: sample(metrics, "bilet_relay_lag_events") == 25)
        assert sample(metrics, "bilet_relay_lag_positions") == head
        assert sample(metrics, "bilet_relay_connected") == 1
        broker.acknowledge_at_once = True
        broker.acknowledge(windows=100)
        await asyncio.wait_for(relay.wait_until_published(head), 5)
        await eventually(lambda: sample(metrics, "bilet_relay_lag_events") == 0)

    assert sample(metrics, "bilet_relay_published_events_total") == 25
    assert sample(metrics, "bilet_relay_published_position") == head
    assert sample(metrics, "bilet_relay_stored_position") == head
    assert sample(metrics, "bilet_relay_lag_positions") == 0
    assert sample(metrics, "bilet_relay_publish_batch_seconds_count") == len(broker.handed_over)
    assert sample(metrics, "bilet_relay_connected") == 0


def test_relays_register_in_the_registry_they_are_given_not_the_global_one() -> None:
    from prometheus_client import REGISTRY

    first, second = RelayMetrics(), RelayMetrics()  # no clash: each has its own registry
    first.bind("bilet.a").published.inc()
    assert first.registry is not REGISTRY
    assert second.registry is not REGISTRY
    assert (
        REGISTRY.get_sample_value("bilet_relay_published_events_total", {"relay": "bilet.a"})
        is None
    )


def test_backoff_grows_to_its_bound_with_jitter_and_starts_again_after_a_reset() -> None:
    backoff = Backoff(0.1, 2.0, jitter=lambda: 1.0)
    assert [round(backoff.next(), 3) for _ in range(7)] == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    backoff.reset()
    assert backoff.next() == 0.1
    low = Backoff(1.0, 1.0, jitter=lambda: 0.0)
    assert low.next() == 0.5  # jitter: between half the delay and the delay


def test_options_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        RelayOptions(batch_size=0)
    with pytest.raises(ValueError, match="backoff"):
        RelayOptions(backoff_initial=2.0, backoff_max=1.0)
