"""The relay against a raw aiokafka producer sending the same records, side by side in one run.

Both sides publish the same events in the same Kafka form (`to_record`: CloudEvents headers, key =
stream id, record time = the event's recorded time) to a fresh topic of the same partition count,
with the same producer settings (`KafkaOptions.producer_settings()`: idempotent, `acks="all"`,
linger 0, same batch size and request timeout). Figures are events per second, acknowledged.

- Ours: a `Relay` over a seeded store (SQLite file, and PostgreSQL schema when reachable) with its
  positions stored beside it, as `python -m bilet.relay` runs it. Timed from the moment the broker
  acknowledged the warm-up events until it acknowledged the last event: reading the store,
  converting each event with `to_record`, publishing, checkpointing, all included.
- Peer (`relay.<backend>`, the target): aiokafka's documented producer API, `send()` per record,
  every future awaited at the end; the records are built before the clock starts, so the peer pays
  neither the store read nor the conversion.
- Second peer (`relay.<backend>.batch_api`, no target, for the record): the same records through
  aiokafka's batch API (`create_batch`/`send_batch`, one batch per partition), which the relay uses
  too; the ratio is the relay's own cost (store, conversion, checkpoints) over a bare producer.

Rounds: 3 (quick too), the median of each side is reported; a round in which a side took under a
second is measured again with more events (`benchmarks/rounds.py`) and not counted. A side is
warmed up with its first events before its clock starts. Topics are deleted afterwards. When
Kafka is not reachable every line says `"skipped": true` with the error.
"""

import asyncio
import json
import tempfile
import time
import uuid
from bisect import bisect_right
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import DefaultPartitioner

from benchmarks.eventstore_workload import EVENT_TYPE, PAYLOAD, new_stream_ids
from benchmarks.infra import database_url, kafka_bootstrap
from benchmarks.result import BenchResult, ratio_at_least
from benchmarks.rounds import ROUNDS, grown, median, rounds_detail
from bilet.contracts.cloudevents import KafkaRecord, to_record
from bilet.contracts.metadata import EventMetadata
from bilet.eventstore import NO_STREAM, EventStore, NewEvent, RecordedEvent, StreamAppend
from bilet.eventstore.postgres import PostgresEventStore, drop_schema
from bilet.eventstore.sqlite import SqliteEventStore
from bilet.relay import KafkaConnector, KafkaOptions, Relay, RelayOptions
from bilet.relay.audit import read_store
from bilet.relay.kafka import ensure_topic
from bilet.relay.positions import PositionStore
from bilet.relay.postgres import PostgresPositionStore
from bilet.relay.sqlite import SqlitePositionStore

UNIT = "events/s"
TARGET_RATIO = 0.8
SERVICE = "bench"
PARTITIONS = 6
STREAM_LENGTH = 10


@dataclass(frozen=True)
class Sizes:
    events: int
    warmup: int
    rounds: int


QUICK = Sizes(events=20_000, warmup=2_000, rounds=ROUNDS)
FULL = Sizes(events=200_000, warmup=10_000, rounds=ROUNDS)
ATTEMPTS = 3  # rounds that may be found too short and measured again larger


def _metadata() -> bytes:
    """What a command handler records with each event: ids and a trace, no personal data."""
    return EventMetadata(
        correlation_id=str(uuid.uuid4()),
        causation_id=str(uuid.uuid4()),
        actor=f"account-{uuid.uuid4()}",
        actor_role="pupil",
        traceparent=f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01",
    ).to_json()


async def seed(store: EventStore, count: int) -> None:
    metadata = _metadata()
    streams = new_stream_ids(count // STREAM_LENGTH, "")
    per_commit = 50
    for start in range(0, len(streams), per_commit):
        await store.append_many(
            [
                StreamAppend(
                    stream_id,
                    [NewEvent(EVENT_TYPE, PAYLOAD, metadata) for _ in range(STREAM_LENGTH)],
                    NO_STREAM,
                )
                for stream_id in streams[start : start + per_commit]
            ]
        )


# ------------------------------------------------------------------ the stores ours reads


@asynccontextmanager
async def sqlite_side() -> AsyncIterator[tuple[EventStore, PositionStore]]:
    with tempfile.TemporaryDirectory(prefix="bench-relay-") as directory:
        path = Path(directory) / "events.sqlite3"
        store = await SqliteEventStore.open(path)
        positions = await SqlitePositionStore.open(path)
        try:
            yield store, positions
        finally:
            await positions.close()
            await store.close()


Side = Callable[[], AbstractAsyncContextManager[tuple[EventStore, PositionStore]]]


def postgres_side(dsn: str) -> Side:
    @asynccontextmanager
    async def side() -> AsyncIterator[tuple[EventStore, PositionStore]]:
        schema = f"bench_relay_{uuid.uuid4().hex[:12]}"
        try:
            store = await PostgresEventStore.open(dsn, schema=schema, pool_size=4)
            positions = await PostgresPositionStore.open(dsn, schema=schema)
            try:
                yield store, positions
            finally:
                await positions.close()
                await store.close()
        finally:
            await drop_schema(dsn, schema)

    return side


# ------------------------------------------------------------------ one side each


def _topic(tag: str) -> str:
    return f"bench-relay-{tag}-{uuid.uuid4().hex[:10]}"


async def ours(
    options: KafkaOptions,
    store: EventStore,
    positions: PositionStore,
    events: Sequence[int],
    warmup: int,
) -> tuple[int, float, str]:
    """Events acknowledged after the warm-up and seconds taken; `events` are all positions."""
    warm_position, last = events[warmup - 1], events[-1]
    connector = KafkaConnector(options, SERVICE, topic=_topic("ours"))
    relay = Relay(
        name=connector.topic,
        store=store,
        positions=positions,
        connect=connector,
        options=RelayOptions(lag_interval=60.0),
    )
    running = asyncio.create_task(relay.run())
    try:
        await asyncio.wait_for(relay.wait_until_published(warm_position), 120)
        started, start_position = time.perf_counter(), relay.published_position
        await asyncio.wait_for(relay.wait_until_published(last), 600)
        seconds = time.perf_counter() - started
    finally:
        relay.stop()
        await running
    return len(events) - bisect_right(events, start_position), seconds, connector.topic


def _records(events: Sequence[RecordedEvent]) -> list[tuple[KafkaRecord, int]]:
    return [(to_record(e, SERVICE), int(e.recorded_at.timestamp() * 1000)) for e in events]


async def _new_topic(options: KafkaOptions, tag: str) -> str:
    topic = _topic(tag)
    await ensure_topic(options, topic)
    return topic


async def peer_send(
    options: KafkaOptions, records: Sequence[tuple[KafkaRecord, int]], warmup: int
) -> tuple[int, float, str]:
    topic = await _new_topic(options, "send")
    producer = AIOKafkaProducer(**options.producer_settings())
    await producer.start()
    try:

        async def send(part: Sequence[tuple[KafkaRecord, int]]) -> None:
            futures = [
                await producer.send(
                    topic, r.value, key=r.key, headers=r.headers, timestamp_ms=timestamp
                )
                for r, timestamp in part
            ]
            await asyncio.gather(*futures)

        await send(records[:warmup])
        started = time.perf_counter()
        await send(records[warmup:])
        return len(records) - warmup, time.perf_counter() - started, topic
    finally:
        await producer.stop()


async def peer_batch_api(
    options: KafkaOptions, records: Sequence[tuple[KafkaRecord, int]], warmup: int
) -> tuple[int, float, str]:
    topic = await _new_topic(options, "batch")
    producer = AIOKafkaProducer(**options.producer_settings())
    await producer.start()
    try:
        partitions = sorted(await producer.partitions_for(topic))
        partitioner = DefaultPartitioner()
        partition_of: dict[bytes, int] = {}

        async def send(part: Sequence[tuple[KafkaRecord, int]]) -> None:
            open_batches: dict[int, Any] = {}
            futures = []
            for r, timestamp in part:
                partition = partition_of.get(r.key)
                if partition is None:
                    partition = partition_of[r.key] = partitioner(r.key, partitions, partitions)
                batch = open_batches.get(partition)
                if batch is None:
                    batch = open_batches[partition] = producer.create_batch()
                fields = {"key": r.key, "value": r.value, "timestamp": timestamp}
                if batch.append(**fields, headers=r.headers) is None:
                    futures.append(await producer.send_batch(batch, topic, partition=partition))
                    batch = open_batches[partition] = producer.create_batch()
                    batch.append(**fields, headers=r.headers)
            for partition, batch in open_batches.items():
                futures.append(await producer.send_batch(batch, topic, partition=partition))
            await asyncio.gather(*futures)

        await send(records[:warmup])
        started = time.perf_counter()
        await send(records[warmup:])
        return len(records) - warmup, time.perf_counter() - started, topic
    finally:
        await producer.stop()


async def delete_topics(bootstrap: str, topics: Sequence[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(list(topics))
    finally:
        await admin.close()


# ------------------------------------------------------------------ a backend's lines


async def measure(
    backend: str, side: Side, options: KafkaOptions, sizes: Sizes, details: dict[str, Any]
) -> list[BenchResult]:
    rates: dict[str, list[float]] = {"ours": [], "send": [], "batch": []}
    counts: dict[str, int] = {}
    topics: list[str] = []
    events = sizes.events
    attempts = sizes.rounds + ATTEMPTS
    try:
        while len(rates["ours"]) < sizes.rounds and attempts:
            attempts -= 1
            timings: dict[str, tuple[int, float]] = {}
            async with side() as (store, positions):
                await seed(store, sizes.warmup + events)
                stored = await read_store(store)
                all_positions = [e.position for e in stored]
                count, seconds, topic = await ours(
                    options, store, positions, all_positions, sizes.warmup
                )
                topics.append(topic)
            timings["ours"] = count, seconds
            records = _records(stored)
            for name, peer in (("send", peer_send), ("batch", peer_batch_api)):
                count, seconds, topic = await peer(options, records, sizes.warmup)
                topics.append(topic)
                timings[name] = count, seconds
            if (larger := grown(events, [s for _, s in timings.values()])) is not None:
                events = larger  # too short to judge: again, larger, not counted
                continue
            for name, (count, seconds) in timings.items():
                rates[name].append(count / seconds)
                counts[name] = count
        if len(rates["ours"]) < sizes.rounds:
            raise RuntimeError(f"no {sizes.rounds} rounds of a second's work each")
    except Exception as error:  # one failed bench is a line, not a crash
        return [failed(f"relay.{backend}", f"{type(error).__name__}: {error}", details)]
    finally:
        if topics:
            await delete_topics(options.connection.bootstrap_servers, topics)
    ours_rate = median(rates["ours"])
    send_rate = median(rates["send"])
    batch_rate = median(rates["batch"])
    common = {
        "events": counts["ours"],
        "peer_events": counts["send"],
        "rounds": sizes.rounds,
        **details,
    }
    return [
        BenchResult(
            f"relay.{backend}",
            ours_rate,
            send_rate,
            UNIT,
            {
                **common,
                "peer_api": "AIOKafkaProducer.send per record",
                **rounds_detail(rates["ours"], rates["send"]),
            },
            (ratio_at_least(TARGET_RATIO),),
        ),
        BenchResult(
            f"relay.{backend}.batch_api",
            ours_rate,
            batch_rate,
            UNIT,
            {
                **common,
                "peer_api": "AIOKafkaProducer.create_batch/send_batch",
                **rounds_detail(rates["ours"], rates["batch"]),
            },
        ),
    ]


def failed(bench: str, error: str, details: dict[str, Any]) -> BenchResult:
    return BenchResult(bench, 0.0, None, UNIT, {"skipped": True, "error": error, **details})


async def _postgres_reachable(dsn: str) -> str | None:
    try:
        connection = await asyncpg.connect(dsn, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        return f"PostgreSQL unreachable: {error!r}"
    await connection.close()
    return None


async def run(quick: bool) -> AsyncIterator[BenchResult]:
    sizes = QUICK if quick else FULL
    bootstrap = kafka_bootstrap()
    options = KafkaOptions(bootstrap_servers=bootstrap, partitions=PARTITIONS)
    sample = to_record(
        RecordedEvent(
            "participant-x", 0, 1, uuid.uuid4(), EVENT_TYPE, PAYLOAD, _metadata(), datetime.now(UTC)
        ),
        SERVICE,
    )
    details: dict[str, Any] = {
        "quick": quick,
        "partitions": PARTITIONS,
        "max_batch_size": options.max_batch_size,
        "payload_bytes": len(PAYLOAD),
        "headers": len(sample.headers),
        "producer": json.dumps(
            {k: v for k, v in options.producer_settings().items() if k != "bootstrap_servers"}
        ),
    }
    try:
        await delete_topics(bootstrap, [])
    except Exception as error:
        for backend in ("sqlite", "postgres"):
            yield failed(f"relay.{backend}", f"Kafka unreachable: {error!r}", details)
        return
    for result in await measure("sqlite", sqlite_side, options, sizes, details):
        yield result
    dsn = database_url()
    if (why := await _postgres_reachable(dsn)) is not None:
        yield failed("relay.postgres", why, details)
        return
    for result in await measure("postgres", postgres_side(dsn), options, sizes, details):
        yield result
