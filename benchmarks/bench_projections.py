"""The projection runtime: Kafka → PostgreSQL throughput against a raw aiokafka consumer reading the
same topic in the same run, and the end-to-end latency from append to read-model-visible.

`projections.postgres.throughput` (events/s; targets: ratio >= 0.5 and >= 20,000 events/s):
- the topic: a fresh one of 3 partitions holding the same events for both sides, in their Kafka
  form (`to_record`: CloudEvents headers with correlation, causation, actor, role and trace
  context; ~300 bytes of JSON data; key = stream id), streams of 10 events interleaved at random;
- ours: `KafkaFeed.catch_up` (every partition, no group) applying a projection of one upsert per
  event (`LatestPerStream`, no secondary index) to a fresh PostgreSQL schema: decoding each record
  back into its `RecordedEvent` (the fields it declares it reads, `event_fields`: ADR 0067), dedupe
  by stream version, the upserts (a batch's in a few statements over arrays, ADR 0089), the
  applied versions and the checkpoint committed with them, from start to the last checkpoint; with
  the garbage collector tuned as the worker process tunes it
  (`bilet.projections.collector`, ADR 0074: `gc.freeze()` after start-up, a young threshold of
  `BVB_PROJECTION_GC_YOUNG`), for the feed's run only;
- peer: a raw `AIOKafkaConsumer` with the same fetch settings, assigned every partition, counting
  records from start to the last one: no decoding, no database; in a process as Python starts it
  (the collector's defaults). The same consumer under the worker's collector policy is measured
  too and reported beside it (`peer_same_collector`, `ratio_same_collector`): the policy speeds
  aiokafka's record unpacking up as well;
- ours row by row: the same feed with the read model sending a statement per upserted row, as
  before ADR 0089 (`PostgresReadModel.multirow_writes` off), in each round too, before or after
  ours by turns (`ours_row_by_row`, `ratio_row_by_row`);
- CPU per event (ADR 0093), each side's median over the rounds, in µs: ours (this process's CPU
  over the feed's run: `cpu_us_per_event_ours`), the read model's PostgreSQL backends (found by
  the `application_name` naming the schema, read from `/proc`: `…_ours_postgres`), the raw
  consumer under the worker's collector policy (`…_peer_same_collector`), and ours row by row
  with its backends (`…_ours_row_by_row`, `…_row_by_row_postgres`): the clock says little on a
  shared machine, the CPU says where the time goes;
- rounds: 3 (quick too); the median of each side is reported; a round in which a side took under
  a second is measured again on a larger topic and not counted (`benchmarks/rounds.py`).

`projections.postgres.end_to_end_latency_p50` / `_p99` (ms, no peer): a PostgreSQL event store,
the service's relay (`bilet.relay.Relay`, positions in memory) publishing to a 3-partition topic,
a `KafkaFeed` in a consumer group applying `LatestPerStream`, and a second read-model connection
(as an API process would have) waiting with `wait_until(…, stream_id=…)`, woken by NOTIFY.
Appends arrive at a fixed rate (quick: 100/s for 5 s, full: 200/s for 15 s), one event each to
one of 500 streams; a sample is the time from calling `append` to `wait_until` returning. All of
it runs in this one process, on the same machine as the broker and the database.

`projections.postgres.wait_latency_p50` / `_p99` (ms; ratio against the old per-waiter loop): the
cost of many read-your-writes waits at once, without Kafka. Events (one of 500 streams each) are
applied at 300/s, each in its own transaction, by a `Projector` on one read-model connection; for
each event a request starts waiting `wait_until(…, stream_id=…)` on a second one (an API process,
woken by NOTIFY) 30 ms before its event is applied, so ~9 waits are pending at any time. A
sample is the time from the start of the event's apply (or, when the applier fell behind and
had not begun it, from when it was due) to its wait returning.
- ours: `ReadModel.wait_until` (one checker per projection; one query per kind per wake-up);
- peer: the per-waiter loop it replaced (`per_waiter_wait_until` below: every waiter queries
  again on every wake-up and every 0.1 s), on the same read model;
- rounds: 3 of 3 s (quick) or of 5 s (full), alternating sides; medians of the rounds' p50 / p99;
  a wait that times out (10 s) counts as a sample of its whole wait.

When Kafka or PostgreSQL cannot be reached, each line says `"skipped": true` with the error.
"""

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any, NamedTuple

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from benchmarks.infra import database_url, delete_topics, kafka_bootstrap, process_cpu, unreachable
from benchmarks.result import BenchResult, ours_at_least, ratio_at_least
from benchmarks.rounds import ROUNDS, grown, median, rounds_detail
from bilet.contracts.cloudevents import to_record, topic_of
from bilet.eventstore import NewEvent, RecordedEvent
from bilet.eventstore.postgres import PostgresEventStore
from bilet.eventstore.postgres import drop_schema as drop_store_schema
from bilet.projections import (
    Delivery,
    KafkaFeed,
    NotApplied,
    Projector,
    ReadModel,
    ReadModelTx,
    Table,
)
from bilet.projections.collector import restore_collector, tune_collector
from bilet.projections.postgres import PostgresReadModel, drop_schema
from bilet.projections.testing import history

PARTITIONS = 3
RATIO_TARGET = 0.5
THROUGHPUT_TARGET = 20_000.0
THROUGHPUT_ATTEMPTS = 3  # rounds that may be found too short and measured again larger
SERVICE = "benchprojections"
FETCH = {"isolation_level": "read_committed", "max_partition_fetch_bytes": 4 << 20}
MAX_RECORDS = 2000
CPU_SIDES = (
    "ours",
    "ours_postgres",
    "peer_same_collector",
    "ours_row_by_row",
    "row_by_row_postgres",
)


class LatestPerStream:
    """One upsert per event: how many events a stream has, its last type and version."""

    name = "latest_per_stream"
    event_fields = frozenset({"type"})  # and the runtime's stream_id, version, position
    tables = (
        Table(
            "latest_per_stream",
            "stream_id TEXT PRIMARY KEY, events BIGINT NOT NULL, last_type TEXT NOT NULL, "
            "last_version BIGINT NOT NULL",
        ),
    )

    async def apply(self, tx: ReadModelTx, event: RecordedEvent) -> None:
        await tx.execute(
            "INSERT INTO {latest_per_stream} (stream_id, events, last_type, last_version) "
            "VALUES ($1, 1, $2, $3) ON CONFLICT (stream_id) DO UPDATE "
            "SET events = {latest_per_stream}.events + 1, last_type = excluded.last_type, "
            "last_version = excluded.last_version",
            event.stream_id,
            event.type,
            event.version,
        )


def _events(count: int) -> list[RecordedEvent]:
    metadata = json.dumps(
        {
            "schema_version": 1,
            "correlation_id": str(uuid.uuid4()),
            "causation_id": str(uuid.uuid4()),
            "actor": "account-5f1c",
            "actor_role": "pupil",
            "traceparent": f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01",
        }
    ).encode()
    data = json.dumps({"question": 12, "answer": "b", "note": "x" * 240}).encode()
    return [
        event._replace(data=data, metadata=metadata, type="AnswerRecorded")
        for event in history(count // 10, 10, seed=2026)
    ]


async def _new_topic(bootstrap: str) -> str:
    topic = f"bilet.bench{uuid.uuid4().hex[:10]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    finally:
        await admin.close()
    return topic


async def _seed(bootstrap: str, topic: str, events: Sequence[RecordedEvent]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        max_batch_size=1 << 20,
    )
    await producer.start()
    try:
        sent = []
        for event in events:
            record = to_record(event, SERVICE)
            sent.append(
                await producer.send(topic, record.value, key=record.key, headers=record.headers)
            )
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


# ------------------------------------------------------------------ throughput


class Run(NamedTuple):
    """One side's run: events per second by the clock, and CPU seconds (this process's; and the
    read model's PostgreSQL backends', for ours)."""

    rate: float
    cpu: float
    pg_cpu: float = 0.0


async def peer_consume(bootstrap: str, topic: str, count: int) -> Run:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest", **FETCH
    )
    started, cpu = time.perf_counter(), time.process_time()
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
        seen = 0
        while seen < count:
            batch = await consumer.getmany(timeout_ms=5000, max_records=MAX_RECORDS)
            if not batch:
                raise TimeoutError(f"the raw consumer saw {seen} of {count} records")
            seen += sum(len(records) for records in batch.values())
    finally:
        await consumer.stop()
    return Run(count / (time.perf_counter() - started), time.process_time() - cpu)


async def _backends_cpu(dsn: str, schema: str) -> dict[int, float]:
    """The CPU seconds so far of the read model's backends (its pool's connections name their
    schema in `application_name`), by process id: the server runs on this machine."""
    connection = await asyncpg.connect(dsn)
    try:
        pids = await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
            f"bilet.readmodel.{schema}",
        )
    finally:
        await connection.close()
    return {pid: process_cpu(pid) or 0.0 for (pid,) in pids}


async def ours_project(
    bootstrap: str, topic: str, dsn: str, count: int, *, multirow: bool = True
) -> Run:
    schema = f"benchrm{uuid.uuid4().hex[:12]}"
    read_model = await PostgresReadModel.open(dsn, schema=schema)
    read_model.multirow_writes = multirow
    try:
        feed = KafkaFeed(
            read_model,
            LatestPerStream(),
            bootstrap_servers=bootstrap,
            topics=[topic],
            max_records=MAX_RECORDS,
            consumer_options=FETCH,
        )
        backends = await _backends_cpu(dsn, schema)
        collector = tune_collector()  # as the worker process does once started
        try:
            started, cpu = time.perf_counter(), time.process_time()
            await feed.catch_up({})
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        finally:
            restore_collector(collector)
        pg_cpu = sum(
            spent - backends.get(pid, 0.0)
            for pid, spent in (await _backends_cpu(dsn, schema)).items()
        )
        async with read_model.query(LatestPerStream()) as tx:
            applied = await tx.fetchval("SELECT SUM(events) FROM {latest_per_stream}")
        if applied != count:
            raise RuntimeError(f"applied {applied} events of {count}")
        return Run(count / seconds, cpu, pg_cpu)
    finally:
        await read_model.close()
        await drop_schema(dsn, schema)


async def throughput(bootstrap: str, dsn: str, quick: bool) -> BenchResult:
    count = 50_000 if quick else 200_000
    topics: list[str] = []
    ours: list[float] = []
    peers: list[float] = []
    peers_tuned: list[float] = []  # the raw consumer under the worker's collector policy
    row_by_row: list[float] = []  # ours, a statement per upserted row (before ADR 0089)
    # CPU µs per event of each round: ours, its PostgreSQL backends, the tuned raw consumer, and
    # ours and its backends row by row (ADR 0093: by CPU, not only by the clock).
    cpu: dict[str, list[float]] = {side: [] for side in CPU_SIDES}
    try:
        topics.append(await _new_topic(bootstrap))
        await _seed(bootstrap, topics[-1], _events(count))
        for attempt in range(ROUNDS + THROUGHPUT_ATTEMPTS):
            peer = await peer_consume(bootstrap, topics[-1], count)
            collector = tune_collector()
            try:
                peer_tuned = await peer_consume(bootstrap, topics[-1], count)
            finally:
                restore_collector(collector)
            # Which of ours goes first alternates: neither gains from going second.
            mine_of = {
                multirow: await ours_project(bootstrap, topics[-1], dsn, count, multirow=multirow)
                for multirow in ((True, False) if attempt % 2 == 0 else (False, True))
            }
            mine, mine_before = mine_of[True], mine_of[False]
            runs = (peer, peer_tuned, mine, mine_before)
            if (larger := grown(count, [count / run.rate for run in runs])) is not None:
                # Too short to judge: a larger topic, this round not counted; whole streams of
                # ten events, so the count is what the topic holds.
                count = larger - larger % 10
                topics.append(await _new_topic(bootstrap))
                await _seed(bootstrap, topics[-1], _events(count))
                continue
            peers.append(peer.rate)
            peers_tuned.append(peer_tuned.rate)
            ours.append(mine.rate)
            row_by_row.append(mine_before.rate)
            per_event = 1e6 / count
            for side, seconds in zip(
                CPU_SIDES,
                (mine.cpu, mine.pg_cpu, peer_tuned.cpu, mine_before.cpu, mine_before.pg_cpu),
                strict=True,
            ):
                cpu[side].append(round(seconds * per_event, 2))
            if len(ours) == ROUNDS:
                break
        else:
            raise RuntimeError(f"no {ROUNDS} rounds of a second's work each")
    finally:
        await delete_topics(bootstrap, topics)
    details: dict[str, Any] = {
        "events": count,
        "partitions": PARTITIONS,
        "max_records": MAX_RECORDS,
        "projection": "one upsert per event",
        "quick": quick,
        **rounds_detail(ours, peers),
        "rounds_peer_same_collector": [round(value, 2) for value in peers_tuned],
        "peer_same_collector": round(median(peers_tuned), 1),
        "ratio_same_collector": round(median(ours) / median(peers_tuned), 3),
        "rounds_ours_row_by_row": [round(value, 2) for value in row_by_row],
        "ours_row_by_row": round(median(row_by_row), 1),
        "ratio_row_by_row": round(median(row_by_row) / median(peers), 3),
        **{f"cpu_us_per_event_{side}": round(median(values), 2) for side, values in cpu.items()},
        "rounds_cpu_us_per_event": cpu,
    }
    return BenchResult(
        "projections.postgres.throughput",
        median(ours),
        median(peers),
        "events/s",
        details,
        (ratio_at_least(RATIO_TARGET), ours_at_least(THROUGHPUT_TARGET)),
    )


# ------------------------------------------------------------------ latency


@contextlib.asynccontextmanager
async def _running(task: "asyncio.Task[None]") -> AsyncIterator[None]:
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _relay(store: PostgresEventStore, bootstrap: str, service: str) -> Any:
    from bilet.relay import InMemoryPositionStore, KafkaConnector, KafkaOptions, Relay

    options = KafkaOptions(bootstrap_servers=bootstrap, partitions=PARTITIONS)
    return Relay(
        name=service,
        store=store,
        positions=InMemoryPositionStore(store),
        connect=KafkaConnector(options, service),
    )


async def latency(bootstrap: str, dsn: str, quick: bool) -> list[BenchResult]:
    rate, seconds = (100, 5.0) if quick else (200, 15.0)
    service = f"bench{uuid.uuid4().hex[:10]}"
    topic = topic_of(service)
    store_schema = f"benches{uuid.uuid4().hex[:12]}"
    model_schema = f"benchrm{uuid.uuid4().hex[:12]}"
    store = await PostgresEventStore.open(dsn, schema=store_schema)
    read_model = await PostgresReadModel.open(dsn, schema=model_schema)
    api_side = await PostgresReadModel.open(dsn, schema=model_schema)
    projection = LatestPerStream()
    samples: list[float] = []
    try:
        relay = await _relay(store, bootstrap, service)
        feed = KafkaFeed(
            read_model,
            projection,
            bootstrap_servers=bootstrap,
            topics=[topic],
            group_id=f"bench-{topic}",
            consumer_options=FETCH,
        )
        relay_task = asyncio.create_task(relay.run())
        async with _running(relay_task):
            while True:  # the relay creates the topic; the feed needs it
                with contextlib.suppress(Exception):
                    await store.append("warmup-0", [NewEvent("Warm", b"{}")])
                    await asyncio.wait_for(relay.wait_until_published(1), 0.5)
                    break
                await asyncio.sleep(0.1)
            async with _running(asyncio.create_task(feed.run())):
                warm = await store.append("warmup-1", [NewEvent("Warm", b"{}")])
                await api_side.wait_until(
                    projection.name, service, warm.position, 60.0, stream_id=warm.stream_id
                )

                async def one(number: int) -> None:
                    started = time.perf_counter()
                    result = await store.append(
                        f"participant-{number % 500}",
                        [NewEvent("AnswerRecorded", b'{"question": 12, "answer": "b"}')],
                    )
                    await api_side.wait_until(
                        projection.name, service, result.position, 30.0, stream_id=result.stream_id
                    )
                    samples.append(time.perf_counter() - started)

                waiters = []
                begin = time.perf_counter()
                for number in range(int(rate * seconds)):
                    delay = begin + number / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    waiters.append(asyncio.create_task(one(number)))
                await asyncio.gather(*waiters)
            relay.stop()
    finally:
        await api_side.close()
        await read_model.close()
        await store.close()
        await drop_schema(dsn, model_schema)
        await drop_store_schema(dsn, store_schema)
        await delete_topics(bootstrap, [topic])
    ordered = sorted(samples)
    p50 = ordered[len(ordered) // 2] * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    details = {
        "rate_per_s": rate,
        "seconds": seconds,
        "samples": len(samples),
        "p50_ms": round(p50, 1),
        "p99_ms": round(p99, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
        "path": "append → relay → Kafka → KafkaFeed → PostgreSQL → NOTIFY → wait_until",
        "quick": quick,
    }
    return [
        BenchResult("projections.postgres.end_to_end_latency_p50", p50, None, "ms", details),
        BenchResult("projections.postgres.end_to_end_latency_p99", p99, None, "ms", details),
    ]


# ------------------------------------------------------------------ many waiters

WAIT_RATE = 300
WAIT_LEAD = 0.03  # how long before its event is applied a request starts waiting
WAIT_STREAMS = 500
WAIT_TIMEOUT = 10.0


async def per_waiter_wait_until(
    read_model: ReadModel,
    projection: str,
    source: str,
    position: int,
    timeout: float,
    *,
    stream_id: str | None = None,
) -> int:
    """The peer: `wait_until` as it was before the shared checker, each waiter on its own."""
    await read_model._prepare_wakeups()
    deadline = time.monotonic() + timeout
    while True:
        changed = read_model._changed
        if stream_id is None:
            reached = await read_model.position(projection, source)
        else:
            reached = await read_model.stream_position(projection, source, stream_id)
        if reached >= position:
            return reached
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise NotApplied(projection, source, position, reached)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(min(remaining, read_model.poll_interval)):
                await changed.wait()


async def _waits_round(
    projector: Projector,
    api_side: ReadModel,
    events: Sequence[RecordedEvent],
    checkpoint: int,
    ours: bool,
) -> list[float]:
    name = LatestPerStream.name
    applying: dict[int, float] = {}
    samples: list[float] = []

    async def wait(event: RecordedEvent) -> None:
        waiting = ReadModel.wait_until if ours else per_waiter_wait_until
        started = time.perf_counter() + WAIT_LEAD  # when its apply is due
        with contextlib.suppress(NotApplied):  # a sample of the whole timeout: it shows in p99
            await waiting(
                api_side, name, SERVICE, event.position, WAIT_TIMEOUT, stream_id=event.stream_id
            )
        samples.append(time.perf_counter() - applying.get(event.position, started))

    async def apply(begin: float) -> None:
        expected = checkpoint
        for number, event in enumerate(events):
            delay = begin + number / WAIT_RATE + WAIT_LEAD - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            applying[event.position] = time.perf_counter()
            await projector.apply(SERVICE, 0, expected, [Delivery(event, *(event.position,) * 2)])
            expected = event.position

    begin = time.perf_counter()
    applier = asyncio.create_task(apply(begin))
    waiters = []
    for number, event in enumerate(events):
        delay = begin + number / WAIT_RATE - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        waiters.append(asyncio.create_task(wait(event)))
    await asyncio.gather(applier, *waiters)
    return sorted(samples)


async def wait_latency(dsn: str, quick: bool) -> list[BenchResult]:
    seconds, rounds = (3.0, ROUNDS) if quick else (5.0, ROUNDS)
    per_round = int(WAIT_RATE * seconds)
    schema = f"benchrm{uuid.uuid4().hex[:12]}"
    writer_side = await PostgresReadModel.open(dsn, schema=schema)
    api_side = await PostgresReadModel.open(dsn, schema=schema)
    events = history(WAIT_STREAMS, per_round * rounds * 2 // WAIT_STREAMS + 1, seed=2027)
    results: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    try:
        projector = Projector(writer_side, LatestPerStream())
        await projector.install()
        await projector.resume_points(SERVICE, [0], SERVICE)
        checkpoint = 0
        for number in range(rounds * 2):
            ours = number % 2 == 1  # the peer first, then alternating
            chunk = events[number * per_round : (number + 1) * per_round]
            ordered = await _waits_round(projector, api_side, chunk, checkpoint, ours)
            checkpoint = chunk[-1].position
            p50 = ordered[len(ordered) // 2] * 1000
            p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
            results[ours].append((p50, p99))
    finally:
        await api_side.close()
        await writer_side.close()
        await drop_schema(dsn, schema)
    details = {
        "rate_per_s": WAIT_RATE,
        "lead_ms": WAIT_LEAD * 1000,
        "streams": WAIT_STREAMS,
        "seconds_per_round": seconds,
        "rounds": {
            "ours": [[round(p, 1) for p in pair] for pair in results[True]],
            "peer": [[round(p, 1) for p in pair] for pair in results[False]],
        },
        "path": "Projector commit → NOTIFY → wait_until (ours) / per-waiter loop (peer)",
        "quick": quick,
    }
    medians = {
        side: tuple(median([pair[i] for pair in results[side]]) for i in (0, 1))
        for side in (True, False)
    }
    return [
        BenchResult(
            "projections.postgres.wait_latency_p50",
            medians[True][0],
            medians[False][0],
            "ms",
            details,
        ),
        BenchResult(
            "projections.postgres.wait_latency_p99",
            medians[True][1],
            medians[False][1],
            "ms",
            details,
        ),
    ]


# ------------------------------------------------------------------ the run

BENCHES = (
    ("projections.postgres.throughput", "events/s"),
    ("projections.postgres.end_to_end_latency_p50", "ms"),
    ("projections.postgres.end_to_end_latency_p99", "ms"),
    ("projections.postgres.wait_latency_p50", "ms"),
    ("projections.postgres.wait_latency_p99", "ms"),
)


def _skipped(bench: str, unit: str, error: str) -> BenchResult:
    return BenchResult(bench, 0.0, None, unit, {"skipped": True, "error": error})


async def run(quick: bool) -> AsyncIterator[BenchResult]:
    bootstrap = kafka_bootstrap()
    dsn = database_url()
    if (error := await unreachable(bootstrap, dsn)) is not None:
        for bench, unit in BENCHES:
            yield _skipped(bench, unit, error)
        return
    try:
        yield await throughput(bootstrap, dsn, quick)
    except Exception as error:
        yield _skipped(BENCHES[0][0], BENCHES[0][1], repr(error))
    try:
        for result in await latency(bootstrap, dsn, quick):
            yield result
    except Exception as error:
        for bench, unit in BENCHES[1:3]:
            yield _skipped(bench, unit, repr(error))
    try:
        for result in await wait_latency(dsn, quick):
            yield result
    except Exception as error:
        for bench, unit in BENCHES[3:]:
            yield _skipped(bench, unit, repr(error))
