"""The Kafka path against a real broker and both databases: duplicates and reordered deliveries,
gaps that heal and gaps that do not, poison events, a wrong offset in the broker, identical read
models from Kafka and from the store, and a rebuild under readers."""

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client import CollectorRegistry

from bilet.contracts.cloudevents import to_record
from bilet.eventstore import NewEvent, RecordedEvent
from bilet.eventstore.sqlite import SqliteEventStore
from bilet.projections import (
    EmbeddedFeed,
    KafkaFeed,
    ProjectionMetrics,
    ReadModel,
    ReadModelTx,
    dlq_topic,
    rebuild_from_kafka,
    source_of_topic,
)
from bilet.projections.testing import (
    COUNTS,
    POISON,
    Counts,
    ReadModelFactory,
    StreamCounter,
    TopicFactory,
    expected_counts,
    history,
    produce,
    read_applied,
    read_counts,
)

pytestmark = pytest.mark.integration


RUNNING: list[asyncio.Task[None]] = []


@contextlib.asynccontextmanager
async def running(feed: KafkaFeed | EmbeddedFeed) -> AsyncIterator[None]:
    task = asyncio.create_task(feed.run())
    RUNNING.append(task)
    try:
        yield
    finally:
        RUNNING.remove(task)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        for task in RUNNING:
            if task.done():
                task.result()  # a feed that died says why, at once
        assert time.monotonic() < deadline, "the condition did not hold in time"
        await asyncio.sleep(0.05)


async def settled(read_model: ReadModel, expected: Counts, timeout: float = 30.0) -> None:
    """Wait until the counts equal `expected`, then fail with the difference if they never do."""
    with contextlib.suppress(AssertionError):
        await eventually(lambda: _equal(read_model, expected), timeout)
    assert await read_counts(read_model) == expected


async def _equal(read_model: ReadModel, expected: Counts) -> bool:
    try:
        return await read_counts(read_model) == expected
    except Exception:  # the feed has not created its tables yet
        return False


async def read_dlq(bootstrap: str, topic: str, count: int) -> list[Any]:
    consumer = AIOKafkaConsumer(
        dlq_topic(topic), bootstrap_servers=bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = time.monotonic() + 20
        while len(records) < count and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


def feed_for(
    read_model: ReadModel,
    topic: str,
    bootstrap: str,
    projection: StreamCounter | None = None,
    **options: Any,
) -> tuple[KafkaFeed, CollectorRegistry]:
    registry = CollectorRegistry()
    options.setdefault("gap_backoff", 0.05)
    feed = KafkaFeed(
        read_model,
        projection or StreamCounter(),
        bootstrap_servers=bootstrap,
        topics=[topic],
        group_id=f"g-{topic}",
        metrics=ProjectionMetrics(registry),
        **options,
    )
    return feed, registry


def metric(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, {"projection": COUNTS, **labels}) or 0.0


async def send_to(
    bootstrap: str, topic: str, placed: Sequence[tuple[RecordedEvent, int | None]], service: str
) -> None:
    """Publish events, each to a chosen partition (None: by its key, as the relay does)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for event, partition in placed:
            record = to_record(event, service)
            await producer.send_and_wait(
                topic, record.value, key=record.key, headers=record.headers, partition=partition
            )
    finally:
        await producer.stop()


async def one_dead_letter(
    read_model: ReadModel,
    kafka_bootstrap: str,
    topic: str,
    events: Sequence[RecordedEvent],
    failing: RecordedEvent,
    projection: StreamCounter,
    *,
    attempts: int,
) -> tuple[Any, CollectorRegistry, list[RecordedEvent]]:
    """Feed `events`, of which the projection keeps failing on `failing`: the rest applies (its
    stream up to the version before), and `failing` is the one dead letter, of kind `failed`."""
    await produce(kafka_bootstrap, topic, events, service=source_of_topic(topic))
    feed, registry = feed_for(read_model, topic, kafka_bootstrap, projection, attempts=attempts)
    healthy = [e for e in events if e.stream_id != failing.stream_id or e.version < failing.version]

    async with running(feed):
        await settled(read_model, expected_counts(healthy))
        (dead,) = await read_dlq(kafka_bootstrap, topic, 1)

    headers = dict(dead.headers)
    assert headers["ce_subject"] == failing.stream_id.encode()
    assert headers["bvb_dlq_kind"] == b"failed"
    assert metric(registry, "bilet_projection_dead_letters_total", kind="failed") == 1
    return dead, registry, healthy


# ---------------------------------------------------------------------------- duplicates


async def test_given_duplicated_and_reordered_deliveries_then_the_read_model_is_a_clean_replay(
    read_model: ReadModel, kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    topic = await new_topic(3)
    events = history(20, 10)
    rng = random.Random(3)
    # Each event once, in stream order; after each, up to two earlier events of its stream
    # again (a relay that crashed before its checkpoint), and at the end the whole history
    # again, shuffled.
    log: list[RecordedEvent] = []
    seen: dict[str, list[RecordedEvent]] = {}
    for event in events:
        log.append(event)
        earlier = seen.setdefault(event.stream_id, [])
        log.extend(rng.sample(earlier, min(len(earlier), rng.randrange(3))))
        earlier.append(event)
    log.extend(rng.sample(events, len(events)))
    await produce(kafka_bootstrap, topic, log, service=source_of_topic(topic))
    feed, registry = feed_for(read_model, topic, kafka_bootstrap, max_records=37)

    def lags() -> list[float | None]:
        return [
            registry.get_sample_value(
                "bilet_projection_consumer_lag",
                {"projection": COUNTS, "topic": topic, "partition": str(p)},
            )
            for p in range(3)
        ]

    async with running(feed):
        await settled(read_model, expected_counts(events))
        await eventually(
            lambda: _true(
                metric(registry, "bilet_projection_duplicates_skipped_total")
                == len(log) - len(events)
            )
        )
        await eventually(lambda: _true(lags() == [0.0, 0.0, 0.0]))

    assert metric(registry, "bilet_projection_events_applied_total") == len(events)
    assert metric(registry, "bilet_projection_gaps_total") == 0
    assert await read_model.parked(COUNTS) == []


async def _true(value: bool) -> bool:
    return value


# ---------------------------------------------------------------------------- gaps


async def test_given_a_gap_that_re_reading_does_not_heal_then_its_stream_goes_to_the_dlq(
    read_model: ReadModel, kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    topic = await new_topic(2)
    events = history(6, 5)
    victim = events[0].stream_id
    missing = next(e for e in events if e.stream_id == victim and e.version == 2)
    await produce(
        kafka_bootstrap, topic, [e for e in events if e != missing], service=source_of_topic(topic)
    )
    feed, registry = feed_for(read_model, topic, kafka_bootstrap, gap_retries=2)
    others = [e for e in events if e.stream_id != victim]
    before = [e for e in events if e.stream_id == victim and e.version < 2]

    async with running(feed):
        await settled(read_model, {**expected_counts(others), **expected_counts(before)})
        dead = await read_dlq(kafka_bootstrap, topic, 2)

    headers = [dict(record.headers) for record in dead]
    assert [(h["ce_subject"].decode(), h["ce_streamversion"]) for h in headers] == [
        (victim, b"3"),
        (victim, b"4"),
    ]
    assert [h["bvb_dlq_kind"] for h in headers] == [b"gap", b"parked"]
    assert b"applied 1, got 3" in headers[0]["bvb_dlq_reason"]
    assert headers[0]["bvb_dlq_projection"] == COUNTS.encode()
    assert headers[0]["bvb_dlq_topic"] == topic.encode()
    assert [(p.stream_id, p.version) for p in await read_model.parked(COUNTS)] == [(victim, 3)]
    assert metric(registry, "bilet_projection_gaps_total") == 1
    assert metric(registry, "bilet_projection_dead_letters_total", kind="gap") == 1
    assert metric(registry, "bilet_projection_dead_letters_total", kind="parked") == 1


async def test_given_a_gap_whose_event_arrives_on_another_partition_then_re_reading_heals_it(
    read_model: ReadModel, kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    topic = await new_topic(2)
    service = source_of_topic(topic)
    stream = history(1, 4)
    late = stream[1]
    # v0, v2, v3 on partition 0; v1 delayed, then on partition 1 (a repartitioned topic).
    await send_to(kafka_bootstrap, topic, [(e, 0) for e in stream if e != late], service)
    feed, registry = feed_for(read_model, topic, kafka_bootstrap, gap_retries=200)

    async with running(feed):
        await eventually(lambda: _true(metric(registry, "bilet_projection_gaps_total") == 1))
        await send_to(kafka_bootstrap, topic, [(late, 1)], service)
        await settled(read_model, expected_counts(stream))

    assert await read_model.parked(COUNTS) == []
    assert metric(registry, "bilet_projection_dead_letters_total", kind="gap") == 0


# ---------------------------------------------------------------------------- poison


async def test_given_a_poison_event_then_it_goes_to_the_dlq_with_the_reason_and_the_rest_applies(
    read_model: ReadModel, kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    topic = await new_topic(3)
    events = history(8, 4)
    poisoned = next(e for e in events if e.version == 3)
    events = [e._replace(type=POISON) if e == poisoned else e for e in events]

    dead, registry, healthy = await one_dead_letter(
        read_model, kafka_bootstrap, topic, events, poisoned, StreamCounter(), attempts=2
    )

    assert b"ValueError: cannot digest" in dict(dead.headers)["bvb_dlq_reason"]
    assert dead.key == poisoned.stream_id.encode()
    assert metric(registry, "bilet_projection_events_applied_total") == len(healthy)


class ReadsMoreThanDeclared(StreamCounter):
    """Declares only `type` (as `StreamCounter` does) but reads an `Audited` event's metadata."""

    async def apply(self, tx: ReadModelTx, event: RecordedEvent) -> None:
        if event.type == "Audited":
            assert event.metadata is not None
        await super().apply(tx, event)


async def test_given_a_projection_reading_a_field_it_did_not_declare_then_the_event_is_dead(
    read_model: ReadModel, kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    topic = await new_topic(1)
    events = history(4, 3)
    audited = next(e for e in events if e.version == 2)
    events = [e._replace(type="Audited") if e == audited else e for e in events]

    dead, _, _ = await one_dead_letter(
        read_model, kafka_bootstrap, topic, events, audited, ReadsMoreThanDeclared(), attempts=1
    )

    reason = dict(dead.headers)["bvb_dlq_reason"]
    assert b"UndeclaredEventField" in reason
    assert b"metadata" in reason


async def test_given_records_that_are_no_cloudevents_then_they_are_dead_lettered_and_skipped(
    read_model: ReadModel, kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    topic = await new_topic(1)
    events = history(2, 3)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"{}", key=b"participant-x", headers=[("x", b"1")])
        await producer.send_and_wait(
            topic, b"{}", key=b"participant-y", headers=[("ce_specversion", b"\xff")]
        )
    finally:
        await producer.stop()
    await produce(kafka_bootstrap, topic, events, service=source_of_topic(topic))
    feed, registry = feed_for(read_model, topic, kafka_bootstrap)

    async with running(feed):
        await settled(read_model, expected_counts(events))
        dead = await read_dlq(kafka_bootstrap, topic, 2)

    assert [dict(d.headers)["bvb_dlq_kind"] for d in dead] == [b"malformed", b"malformed"]
    assert b"UnicodeDecodeError" in dict(dead[1].headers)["bvb_dlq_reason"]
    assert metric(registry, "bilet_projection_dead_letters_total", kind="malformed") == 2


# ---------------------------------------------------------------------------- offsets


async def test_given_a_wrong_offset_in_the_broker_when_the_group_restarts_then_nothing_is_skipped(
    read_model: ReadModel, kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    topic = await new_topic(2)
    service = source_of_topic(topic)
    events = history(10, 6)
    half = len(events) // 2
    await produce(kafka_bootstrap, topic, events[:half], service=service)
    feed, _ = feed_for(read_model, topic, kafka_bootstrap)
    async with running(feed):
        await settled(read_model, expected_counts(events[:half]))
    await produce(kafka_bootstrap, topic, events[half:], service=service)

    # Someone commits the group's offsets to the partitions' ends: a broker that trusted them
    # would skip the second half.
    liar = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap, group_id=feed.group_id, enable_auto_commit=False
    )
    await liar.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(2)]
        liar.assign(partitions)
        await liar.commit(await liar.end_offsets(partitions))
    finally:
        await liar.stop()

    again, _ = feed_for(read_model, topic, kafka_bootstrap)
    async with running(again):
        await settled(read_model, expected_counts(events))


# ---------------------------------------------------------------------------- both paths


@pytest.mark.parametrize("kafka_side", ["postgres", "sqlite"])
async def test_given_one_history_when_fed_through_kafka_and_embedded_then_read_models_are_identical(
    kafka_side: str,
    kafka_bootstrap: str,
    database_url: str,
    new_topic: TopicFactory,
    tmp_path: Path,
    postgres_schema: str,
) -> None:
    from bilet.projections.postgres import PostgresReadModel
    from bilet.projections.sqlite import SqliteReadModel

    topic = await new_topic(3)
    service = source_of_topic(topic)
    postgres = await PostgresReadModel.open(database_url, schema=postgres_schema)
    sqlite = await SqliteReadModel.open(tmp_path / "readmodel.sqlite3")
    via_kafka, embedded = (postgres, sqlite) if kafka_side == "postgres" else (sqlite, postgres)
    rng = random.Random(11)
    async with await SqliteEventStore.open(tmp_path / "events.sqlite3") as store:
        for number in range(600):
            stream = f"participant-{rng.randrange(40)}"
            kind = rng.choice(("Registered", "Answered", "Corrected", "Withdrawn"))
            await store.append(stream, [NewEvent(kind, b'{"n": %d}' % number)])
        stored = await store.read_all(limit=10_000)
        # A relay-like publisher, twice over the first hundred (a relay crash and restart).
        await produce(kafka_bootstrap, topic, [*stored, *stored[:100]], service=service)
        try:
            kafka_feed, _ = feed_for(via_kafka, topic, kafka_bootstrap)
            store_feed = EmbeddedFeed(embedded, StreamCounter(), {service: store})
            async with running(kafka_feed), running(store_feed):
                head = stored[-1].position
                await embedded.wait_until(COUNTS, service, head, timeout=30.0)
                await settled(via_kafka, expected_counts(stored))

            assert await read_counts(via_kafka) == await read_counts(embedded)
            assert await read_applied(via_kafka) == await read_applied(embedded)
            assert await read_counts(embedded) == expected_counts(stored)
        finally:
            await postgres.close()
            await sqlite.close()


# ---------------------------------------------------------------------------- rebuild


async def test_given_readers_and_a_live_group_when_rebuilt_from_kafka_then_readers_never_miss(
    open_read_model: ReadModelFactory, kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    read_model = await open_read_model()
    topic = await new_topic(3)
    service = source_of_topic(topic)
    events = history(30, 20)
    await produce(kafka_bootstrap, topic, events[:400], service=service)
    feed, _ = feed_for(read_model, topic, kafka_bootstrap, max_records=50)
    answers: list[list[int]] = [[], []]
    errors: list[BaseException] = []
    stop = asyncio.Event()
    read_a_dozen = [asyncio.Event(), asyncio.Event()]

    async def reader(seen: list[int], dozen: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with read_model.query(StreamCounter()) as tx:
                    total = await tx.fetchval(
                        "SELECT COALESCE(SUM(events), 0) FROM {stream_counts}"
                    )
                seen.append(int(total))
            except Exception as error:
                errors.append(error)
                dozen.set()  # failed: the test ends and says so
            if len(seen) > 10:
                dozen.set()
            await asyncio.sleep(0.002)

    async with running(feed):
        await settled(read_model, expected_counts(events[:400]))
        readers = [
            asyncio.create_task(reader(seen, dozen))
            for seen, dozen in zip(answers, read_a_dozen, strict=True)
        ]
        producing = asyncio.create_task(
            produce(kafka_bootstrap, topic, events[400:], service=service)
        )
        report = await rebuild_from_kafka(
            read_model, StreamCounter(), bootstrap_servers=kafka_bootstrap, topics=[topic]
        )
        await producing
        await settled(read_model, expected_counts(events))
        # On a loaded machine the rebuild can end within a few of the readers' turns: they go on
        # until each has read a dozen times (what the rules below need), however fast it was.
        async with asyncio.timeout(60):
            await asyncio.gather(*(dozen.wait() for dozen in read_a_dozen))
        stop.set()
        await asyncio.gather(*readers)

    assert report.rounds >= 1
    assert errors == []
    for seen in answers:
        assert len(seen) > 10
        assert seen == sorted(seen)
        assert seen[0] > 0


# ---------------------------------------------------------------------------- shutdown


async def test_given_a_feed_cancelled_while_starting_then_its_clients_are_closed(
    read_model: ReadModel, kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    # A worker that gets SIGTERM before its consumer joined must not leak a started producer.
    topic = await new_topic(1)
    feed, _ = feed_for(read_model, topic, kafka_bootstrap)
    task = asyncio.create_task(feed.run())
    deadline = time.monotonic() + 20
    while feed._producer is None:  # the producer exists: the feed is inside its start
        assert not task.done(), "the feed ended before it started"
        assert time.monotonic() < deadline, "the feed did not start"
        await asyncio.sleep(0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert feed._producer is None
    assert feed._consumer is None
