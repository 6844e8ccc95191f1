"""The relay against a real Kafka broker and real stores (SQLite file, PostgreSQL schema).

Every check ends with an audit of the topic against the store (`bilet.relay.audit`): every stored
event at least once, each stream's events first seen in store order, nothing else.

- publishing: CloudEvents records keyed by stream id, in order per stream, on a topic created with
  explicit partitions and unlimited retention;
- restart: `python -m bilet.relay` stops cleanly on SIGTERM and resumes from its stored position;
- chaos: the relay process is killed with SIGKILL at random moments while the store is appended to
  (`BVB_CHAOS_KILLS`, default 20; `make chaos` runs 100), restarted each time;
- broker restart: the broker is stopped in the middle of a stream and started again
  (`scripts/infra/infra.sh kafka-stop` / `kafka-start`); appends keep succeeding and the relay
  catches up by itself. This test needs the broker `make infra-up` started: against someone
  else's broker (BVB_KAFKA_BOOTSTRAP elsewhere, or a broker infra.sh did not start) it is an
  expected failure, reported with its reason, never stopping a broker that is not ours.
"""

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from bilet.contracts.cloudevents import from_record, source_of, topic_of
from bilet.contracts.metadata import EventMetadata
from bilet.eventstore import EventStore, NewEvent, StreamAppend
from bilet.eventstore.postgres import PostgresEventStore, drop_schema
from bilet.eventstore.sqlite import SqliteEventStore
from bilet.relay import RelayMetrics
from bilet.relay.app import open_relay
from bilet.relay.audit import AuditReport, audit, read_store, read_topic
from bilet.relay.positions import PositionStore
from bilet.relay.postgres import PostgresPositionStore
from bilet.relay.settings import RelaySettings
from bilet.relay.sqlite import SqlitePositionStore

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "scripts" / "infra" / "infra.sh"
NOT_OURS = 3  # infra.sh kafka-stop: the broker is not ours to stop
CHAOS_KILLS = int(os.environ.get("BVB_CHAOS_KILLS", "20"))


# ------------------------------------------------------------------ stores and topics


@dataclass
class Backend:
    """A fresh store with the relay's positions beside it, and how a relay process finds it."""

    store: EventStore
    positions: PositionStore
    store_spec: str
    schema: str
    service: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:10]}")

    @property
    def topic(self) -> str:
        return topic_of(self.service)


@contextlib.asynccontextmanager
async def open_backend(kind: str, tmp_path: Path, database_url: str) -> AsyncIterator[Backend]:
    if kind == "sqlite":
        path = tmp_path / "service.sqlite3"
        store = await SqliteEventStore.open(path)
        positions = await SqlitePositionStore.open(path)
        try:
            yield Backend(store, positions, f"sqlite:{path}", "eventstore")
        finally:
            await positions.close()
            await store.close()
        return
    schema = f"relay_{uuid.uuid4().hex[:12]}"
    pg_store = await PostgresEventStore.open(database_url, schema=schema, pool_size=4)
    pg_positions = await PostgresPositionStore.open(database_url, schema=schema)
    try:
        yield Backend(pg_store, pg_positions, database_url, schema)
    finally:
        await pg_positions.close()
        await pg_store.close()
        await drop_schema(database_url, schema)


@pytest.fixture
async def topics(kafka_bootstrap: str) -> AsyncIterator[list[str]]:
    """Topics a test names here are deleted after it."""
    names: list[str] = []
    yield names
    if names:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            await admin.delete_topics(names)
        finally:
            await admin.close()


def metadata() -> bytes:
    return EventMetadata(
        correlation_id=str(uuid.uuid4()),
        causation_id=str(uuid.uuid4()),
        actor=f"account-{uuid.uuid4().hex[:8]}",
        actor_role="registrar",
        traceparent=f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01",
    ).to_json()


async def append_streams(store: EventStore, streams: int, events_each: int) -> int:
    """Appends to new streams, several per commit; returns the last position."""
    last = 0
    ids = [f"participant-{uuid.uuid4()}" for _ in range(streams)]
    for start in range(0, streams, 10):
        results = await store.append_many(
            [
                StreamAppend(
                    stream_id,
                    [
                        NewEvent("StageCompleted", b'{"stage":%d}' % n, metadata())
                        for n in range(events_each)
                    ],
                )
                for stream_id in ids[start : start + 10]
            ]
        )
        last = max(last, *(r.position for r in results))
    return last


async def audited(store: EventStore, kafka_bootstrap: str, topic: str) -> AuditReport:
    report = audit(await read_store(store), await read_topic(kafka_bootstrap, topic))
    assert report.ok, report.summary()
    return report


def relay_settings(kafka_bootstrap: str, backend: Backend, **overrides: Any) -> RelaySettings:
    values: dict[str, Any] = {
        "kafka_bootstrap": kafka_bootstrap,
        "relay_service": backend.service,
        "relay_publish": "all",
        "relay_store": backend.store_spec,
        "relay_schema": backend.schema,
        "relay_batch_size": 200,
        "relay_poll_interval": 0.05,
        "relay_checkpoint_interval": 0.02,
        "relay_lag_interval": 0.5,
        **overrides,
    }
    return RelaySettings(**values)


async def wait_until_stored(
    positions: PositionStore, topic: str, position: int, timeout: float
) -> None:
    async with asyncio.timeout(timeout):
        while await positions.load(topic) < position:  # noqa: ASYNC110 - another process's write
            await asyncio.sleep(0.05)


# ------------------------------------------------------------------ a relay process


class RelayProcess:
    """`python -m bilet.relay` as a service runs it, its JSON log lines collected."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[dict[str, Any]] = []
        self.publishing = asyncio.Event()
        self.waiting_for_the_lease = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, env: dict[str, str]) -> "RelayProcess":
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bilet.relay",
            env={**os.environ, **env},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def _read(self) -> None:
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            try:
                line = json.loads(raw)
            except ValueError:
                line = {"message": raw.decode(errors="replace").rstrip()}
            self.lines.append(line)
            if line.get("message") == "publishing":
                self.publishing.set()
            if line.get("message") == "another relay holds the lease of this store; waiting for it":
                self.waiting_for_the_lease.set()

    async def kill(self) -> None:
        self.process.kill()  # SIGKILL: no flush, no checkpoint, nothing
        await self.process.wait()
        await self._reader

    async def terminate(self, timeout: float = 20.0) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.process.wait(), timeout)
        await self._reader
        return code

    def log(self) -> str:
        return "\n".join(json.dumps(line, ensure_ascii=False) for line in self.lines[-20:])


def process_env(kafka_bootstrap: str, backend: Backend, **overrides: str) -> dict[str, str]:
    return {
        "BVB_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "BVB_RELAY_SERVICE": backend.service,
        "BVB_RELAY_PUBLISH": "all",
        "BVB_RELAY_STORE": backend.store_spec,
        "BVB_RELAY_SCHEMA": backend.schema,
        "BVB_RELAY_BATCH_SIZE": "100",
        "BVB_RELAY_POLL_INTERVAL": "0.05",
        "BVB_RELAY_DELIVERY_TIMEOUT": "10",
        "BVB_RELAY_LAG_INTERVAL": "1",
        **overrides,
    }


# ------------------------------------------------------------------ publishing


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_given_stored_streams_when_the_relay_runs_then_the_topic_holds_them_in_order(
    kind: str, tmp_path: Path, kafka_bootstrap: str, database_url: str, topics: list[str]
) -> None:
    async with open_backend(kind, tmp_path, database_url) as backend:
        topics.append(backend.topic)
        head = await append_streams(backend.store, streams=120, events_each=4)
        metrics = RelayMetrics()
        settings = relay_settings(kafka_bootstrap, backend)

        async with open_relay(settings, metrics) as relay:
            running = asyncio.create_task(relay.run())
            await asyncio.wait_for(relay.wait_until_published(head), 30)
            relay.stop()
            await asyncio.wait_for(running, 15)

        report = await audited(backend.store, kafka_bootstrap, backend.topic)
        assert (report.stored, report.duplicates) == (480, 0)
        assert await backend.positions.load(backend.topic) == head
        published = await read_topic(kafka_bootstrap, backend.topic)
        assert {p.partition for p in published} == set(range(6))  # 120 streams over 6

    # The records are CloudEvents in binary mode, keyed by stream id, timed by the event.
    consumer_view = await _first_record(kafka_bootstrap, backend.topic)
    headers = dict(consumer_view.headers)
    received = from_record(consumer_view.value, consumer_view.headers)
    assert consumer_view.key == received.event.stream_id.encode()
    assert received.source == source_of(backend.service)
    assert headers["ce_specversion"] == b"1.0"
    assert headers["content-type"] == b"application/json"
    assert headers["traceparent"] == headers["ce_traceparent"]
    assert consumer_view.timestamp == int(received.event.recorded_at.timestamp() * 1000)
    await _assert_topic_settings(kafka_bootstrap, backend.topic)


async def _first_record(kafka_bootstrap: str, topic: str) -> Any:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        for partition in range(6):
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            batch = await consumer.getmany(tp, timeout_ms=5000, max_records=1)
            if batch.get(tp):
                return batch[tp][0]
    finally:
        await consumer.stop()
    raise AssertionError(f"{topic} is empty")


async def _assert_topic_settings(kafka_bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
        (configs,) = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, {"retention.ms": None})]
        )
    finally:
        await admin.close()
    assert len(described["partitions"]) == 6
    (resource,) = configs.to_object()["resources"]
    assert {e["config_names"]: e["config_value"] for e in resource["config_entries"]} == {
        "retention.ms": "-1"
    }


async def test_the_postgresql_position_store_keeps_positions_forward_and_counts_the_rest(
    tmp_path: Path, database_url: str
) -> None:
    async with open_backend("postgres", tmp_path, database_url) as backend:
        positions = backend.positions
        assert await positions.load("bilet.identity") == 0
        first = await append_streams(backend.store, streams=1, events_each=1)
        head = await append_streams(backend.store, streams=1, events_each=2)
        await positions.save("bilet.identity", head)
        await positions.save("bilet.identity", first)  # older: ignored
        assert await positions.load("bilet.identity") == head
        assert await positions.count_after(0) == 3
        assert await positions.count_after(first) == 2
        assert await positions.count_after(head) == 0


async def test_given_a_relay_process_stopped_with_sigterm_when_started_again_then_it_resumes(
    tmp_path: Path, kafka_bootstrap: str, database_url: str, topics: list[str]
) -> None:
    async with open_backend("sqlite", tmp_path, database_url) as backend:
        topics.append(backend.topic)
        env = process_env(kafka_bootstrap, backend)
        first_head = await append_streams(backend.store, streams=10, events_each=10)
        relay = await RelayProcess.start(env)
        await wait_until_stored(backend.positions, backend.topic, first_head, 30)
        assert await relay.terminate() == 0, relay.log()

        second_head = await append_streams(backend.store, streams=10, events_each=10)
        again = await RelayProcess.start(env)
        await wait_until_stored(backend.positions, backend.topic, second_head, 30)
        assert await again.terminate() == 0, again.log()

        resumed_at = [line for line in again.lines if line.get("message") == "publishing"]
        assert resumed_at[0]["position"] == first_head
        report = await audited(backend.store, kafka_bootstrap, backend.topic)
        assert (report.stored, report.duplicates) == (200, 0)  # clean stops: nothing twice


async def test_given_two_relays_of_one_store_then_one_waits_and_takes_over_when_the_other_dies(
    tmp_path: Path, kafka_bootstrap: str, database_url: str, topics: list[str]
) -> None:
    async with open_backend("postgres", tmp_path, database_url) as backend:
        topics.append(backend.topic)
        env = process_env(kafka_bootstrap, backend)
        ports = _free_port(), _free_port()
        first_head = await append_streams(backend.store, streams=10, events_each=10)
        first = await RelayProcess.start({**env, "BVB_RELAY_METRICS_PORT": str(ports[0])})
        await wait_until_stored(backend.positions, backend.topic, first_head, 30)
        second = await RelayProcess.start({**env, "BVB_RELAY_METRICS_PORT": str(ports[1])})
        try:
            await asyncio.wait_for(second.waiting_for_the_lease.wait(), 30)
            assert not second.publishing.is_set()
            assert await _probe(ports[0], "/readyz") == (200, "publishing")
            assert await _probe(ports[1], "/readyz") == (503, "waiting for the relay lease")
            assert (await _probe(ports[1], "/livez"))[0] == 200
            await first.kill()
            await asyncio.wait_for(second.publishing.wait(), 30)
            second_head = await append_streams(backend.store, streams=10, events_each=10)
            await wait_until_stored(backend.positions, backend.topic, second_head, 30)
            assert await _probe(ports[1], "/readyz") == (200, "publishing")
            async with httpx.AsyncClient() as client:
                metrics = (await client.get(f"http://127.0.0.1:{ports[1]}/metrics")).text
            assert f'bilet_relay_published_events_total{{relay="{backend.topic}"}}' in metrics
        finally:
            if first.process.returncode is None:
                await first.kill()
        assert await second.terminate() == 0, second.log()
        resumed_at = [line for line in second.lines if line.get("message") == "publishing"]
        assert resumed_at[0]["position"] == first_head
        report = await audited(backend.store, kafka_bootstrap, backend.topic)
        assert (report.stored, report.duplicates) == (200, 0)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _probe(port: int, path: str) -> tuple[int, str]:
    """A relay's probe answer: status and, for /readyz, its detail."""
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"http://127.0.0.1:{port}{path}", timeout=10)
    return answer.status_code, answer.json().get("detail", "")


# ------------------------------------------------------------------ chaos


# serial: a quarter of its kills must land mid-publishing, a race
# between the relay's pace and random delays that other tests' load skews.
@pytest.mark.serial
@pytest.mark.timeout(90 + CHAOS_KILLS * 5)
@pytest.mark.parametrize("kills", [CHAOS_KILLS], ids=lambda kills: f"{kills}-kills")
async def test_given_appends_when_the_relay_is_sigkilled_at_random_then_nothing_is_lost(
    kills: int, tmp_path: Path, kafka_bootstrap: str, database_url: str, topics: list[str]
) -> None:
    seed = int(os.environ.get("BVB_CHAOS_SEED", str(random.randrange(10**6))))
    rng = random.Random(seed)
    print(f"chaos seed {seed} (BVB_CHAOS_SEED to repeat)")
    async with open_backend("postgres", tmp_path, database_url) as backend:
        topics.append(backend.topic)
        await append_streams(backend.store, streams=50, events_each=40)  # a backlog to chew on
        streams = [f"participant-{uuid.uuid4()}" for _ in range(60)]
        appending = asyncio.create_task(_append_meanwhile(backend.store, streams, rng))
        env = process_env(kafka_bootstrap, backend)
        started = time.monotonic()
        advanced = 0
        try:
            for _ in range(kills):
                before = await backend.positions.load(backend.topic)
                relay = await RelayProcess.start(env)
                if rng.random() < 0.2:
                    await asyncio.sleep(rng.uniform(0.0, 0.8))  # anywhere, starting up included
                else:
                    await asyncio.wait_for(relay.publishing.wait(), 30)
                    await asyncio.sleep(rng.uniform(0.0, 0.5))  # mid-stream
                await relay.kill()
                advanced += await backend.positions.load(backend.topic) > before
        finally:
            appending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await appending
        chaos_seconds = time.monotonic() - started

        head = await backend.store.head_position()
        final = await RelayProcess.start(env)
        await wait_until_stored(backend.positions, backend.topic, head, 60)
        assert await final.terminate() == 0, final.log()
        report = await audited(backend.store, kafka_bootstrap, backend.topic)

    print(
        f"{kills} kills in {chaos_seconds:.1f} s; checkpoint advanced in {advanced} lives; "
        f"{report.summary()}"
    )
    assert advanced >= kills // 4, "too few kills landed while the relay was publishing"


async def _append_meanwhile(store: EventStore, streams: list[str], rng: random.Random) -> None:
    """Commands keep coming: a few events to a few streams every few milliseconds."""
    while True:
        chosen = rng.sample(streams, rng.randint(1, 3))
        await store.append_many(
            [
                StreamAppend(stream_id, [NewEvent("SeatBooked", b"{}", metadata())] * 1)
                for stream_id in chosen
            ]
        )
        await asyncio.sleep(rng.uniform(0.002, 0.01))


# ------------------------------------------------------------------ the broker goes away


async def _infra(command: str, kafka_bootstrap: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        str(INFRA),
        command,
        env={**os.environ, "BVB_KAFKA_BOOTSTRAP": kafka_bootstrap},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 150)
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


# serial: it stops the shared broker, which every other Kafka test needs.
@pytest.mark.serial
@pytest.mark.timeout(240)
async def test_given_the_broker_stops_mid_stream_then_appends_go_on_and_the_relay_catches_up(
    tmp_path: Path, kafka_bootstrap: str, database_url: str, topics: list[str]
) -> None:
    async with open_backend("sqlite", tmp_path, database_url) as backend:
        topics.append(backend.topic)
        metrics = RelayMetrics()
        settings = relay_settings(
            kafka_bootstrap,
            backend,
            relay_delivery_timeout=3.0,
            relay_request_timeout=2.0,
            relay_backoff_max=1.0,
        )
        async with open_relay(settings, metrics) as relay:
            running = asyncio.create_task(relay.run())
            try:
                before = await append_streams(backend.store, streams=20, events_each=10)
                await asyncio.wait_for(relay.wait_until_published(before), 30)

                code, output = await _infra("kafka-stop", kafka_bootstrap)
                if code == NOT_OURS:
                    pytest.xfail(f"the broker is not ours to stop: {output.strip()}")
                assert code == 0, output
                try:
                    slowest = 0.0
                    for _ in range(20):  # commands keep succeeding: the store needs no broker
                        t0 = time.monotonic()
                        head = await append_streams(backend.store, streams=2, events_each=10)
                        slowest = max(slowest, time.monotonic() - t0)
                        await asyncio.sleep(0.1)
                    assert slowest < 1.0
                    # The relay notices: its deliveries time out, its producer is replaced.
                    recreations = "bilet_relay_producer_recreations_total"
                    async with asyncio.timeout(20):
                        while not _sample(metrics, relay.name, recreations):  # noqa: ASYNC110
                            await asyncio.sleep(0.1)
                    assert relay.published_position < head
                finally:
                    code, output = await _infra("kafka-start", kafka_bootstrap)
                    assert code == 0, output

                await asyncio.wait_for(relay.wait_until_published(head), 60)
            finally:
                relay.stop()
                await asyncio.wait_for(running, 30)

        report = await audited(backend.store, kafka_bootstrap, backend.topic)
        assert report.stored == 600
        assert await backend.positions.load(backend.topic) == head


def _sample(metrics: RelayMetrics, relay: str, name: str) -> float:
    total = 0.0
    for metric in metrics.registry.collect():
        for sample in metric.samples:
            if sample.name == name and sample.labels.get("relay") == relay:
                total += sample.value
    return total
