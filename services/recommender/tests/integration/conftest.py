"""The faust worker on the real Kafka broker and PostgreSQL (`source var/infra.env`): fresh source
topics (the local broker creates none on first use), a fresh app id (so fresh faust topics), fresh
store and read-model schemas, a SQLite key store under the test's `var/` shared with the worker
processes; all removed afterwards."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bilet import stores
from bilet.contracts.catalogue.recommender import RecommendationsIssued
from bilet.crypto import KeyStore
from bilet.eventstore.postgres import PostgresEventStore
from bilet.kafka import KafkaConnection
from bilet.pgschema import drop_schema
from bilet.projections import dlq_topic
from bilet.projections.postgres import PostgresReadModel
from bilet.projections.testing import produce
from bilet.settings import PlatformSettings
from bilet_recommender.adapters.evidence_projection import EVIDENCE_PROJECTION
from bilet_recommender.issuing_testing import (
    EVENTS,
    IDENTITY,
    SOURCES,
    Season,
    issued,
    recorded,
)
from bilet_recommender.testing import NOW

SOURCE_PARTITIONS = 3
WORKER_PARTITIONS = 4


@dataclass
class Harness:
    bootstrap: str
    database_url: str
    var_dir: Path
    app_id: str
    topics: dict[str, str]  # topic → source
    store_schema: str
    read_model_schema: str
    store: PostgresEventStore
    read_model: PostgresReadModel
    keystore: KeyStore
    # How the worker reaches the broker (None: PLAINTEXT at `bootstrap`, as the test does).
    worker_kafka: KafkaConnection | None = None
    # The logs of the workers started, whose errors a failed wait shows.
    worker_logs: list[Path] = field(default_factory=list)

    def topic_of(self, source: str) -> str:
        return next(topic for topic, named in self.topics.items() if named == source)

    def worker_env(self) -> dict[str, str]:
        return {**self._worker_env(), **self._kafka_env()}

    def _kafka_env(self) -> dict[str, str]:
        kafka = self.worker_kafka
        if kafka is None:
            return {}
        env = {
            "BVB_KAFKA_BOOTSTRAP": kafka.bootstrap_servers,
            "BVB_KAFKA_SECURITY_PROTOCOL": kafka.security_protocol,
        }
        optional = {
            "BVB_KAFKA_SASL_MECHANISM": kafka.sasl_mechanism,
            "BVB_KAFKA_SASL_USERNAME": kafka.sasl_username,
            "BVB_KAFKA_SASL_PASSWORD_FILE": kafka.sasl_password_file,
            "BVB_KAFKA_SSL_CAFILE": kafka.ssl_cafile,
        }
        return {**env, **{name: str(value) for name, value in optional.items() if value}}

    def _worker_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "BVB_ENVIRONMENT": "development",
            "BVB_VAR_DIR": str(self.var_dir),
            "BVB_KAFKA_BOOTSTRAP": self.bootstrap,
            "BVB_DATABASE_URL": self.database_url,
            "BVB_EVENT_STORE": "postgres",
            "BVB_READ_MODEL": "postgres",
            "BVB_KEY_STORE": "sqlite",
            "BVB_RECOMMENDER_STORE_SCHEMA": self.store_schema,
            "BVB_RECOMMENDER_WORKER_READ_MODEL_SCHEMA": self.read_model_schema,
            "BVB_RECOMMENDER_WORKER_APP_ID": self.app_id,
            "BVB_RECOMMENDER_WORKER_PARTITIONS": str(WORKER_PARTITIONS),
            "BVB_RECOMMENDER_WORKER_TOPICS": json.dumps(self.topics),
            "BVB_RECOMMENDER_WORKER_FEED_GROUP": f"{self.app_id}-feed",
            "BVB_RECOMMENDER_WORKER_DATADIR": str(self.var_dir / "faust"),
            "BVB_RECOMMENDER_WORKER_METRICS_PORT": "0",
            "BVB_RECOMMENDER_WORKER_INSTANCE_ID": f"{self.app_id}-0",
            "BVB_RECOMMENDER_WORKER_SESSION_TIMEOUT": "6",
            "BVB_RECOMMENDER_WORKER_AS_OF": NOW.isoformat(),
        }

    def start_worker(self, log: Path, metrics_port: int = 0) -> subprocess.Popen[bytes]:
        env = {**self.worker_env(), "BVB_RECOMMENDER_WORKER_METRICS_PORT": str(metrics_port)}
        self.worker_logs.append(log)
        with log.open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "bilet_recommender.worker"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def warm_workers(self, log: Path) -> "WarmWorkers":
        """Workers started ahead of need (see `WarmWorkers`), logging to `log`."""
        self.worker_logs.append(log)
        return WarmWorkers(self, log)

    async def produce_catalogue(self, season: Season) -> None:
        """The career events and schools, published before the season."""
        await produce(
            self.bootstrap, self.topic_of(EVENTS), recorded(season.career_events), service=EVENTS
        )
        await produce(
            self.bootstrap, self.topic_of(IDENTITY), recorded(season.schools), service=IDENTITY
        )

    async def produce_unreadable(self) -> None:
        """A record on the identity topic that is no CloudEvent (no headers, not JSON)."""
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(self.topic_of(IDENTITY), b"\x00 no event", key=b"x")
        finally:
            await producer.stop()

    async def produce_facts(self, season: Season, share: slice = slice(None)) -> None:
        """The pupils' facts of every source (`share`: of the pupils, by index), after the
        catalogue on the events topic."""
        chosen = set(season.pupils[share])
        for source in SOURCES:
            facts = [
                f for f in season.facts[source] if getattr(f, "participant_id", None) in chosen
            ]
            first = 1 + {EVENTS: len(season.career_events), IDENTITY: len(season.schools)}.get(
                source, 0
            )
            await produce(
                self.bootstrap,
                self.topic_of(source),
                recorded(facts, first_position=first),
                service=source,
            )

    async def wait_for(
        self,
        what: str,
        check: Callable[[], Any],
        seconds: float,
        *,
        fail: bool = True,
        every: float = 0.5,
    ) -> None:
        """Poll `check` (an awaitable truth) every `every` seconds until it holds; after
        `seconds` fail (or return, for the caller to say what is missing)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not await check():
            if loop.time() > deadline:
                if fail:
                    pytest.fail(f"{what}: not reached in {seconds:.0f} s{self.worker_errors()}")
                return
            await asyncio.sleep(every)

    def worker_errors(self, last: int = 20) -> str:
        """The last error lines of the workers' logs (faust's and ours), for a failure message."""
        lines = [
            line[:2000]
            for log in dict.fromkeys(self.worker_logs)
            if log.exists()
            for line in log.read_text(errors="replace").splitlines()
            if '"level": "error"' in line or '"level": "critical"' in line or "Traceback" in line
        ]
        return "\nthe workers' errors:\n" + "\n".join(lines[-last:]) if lines else ""

    async def wait_for_catalogue(
        self, season: Season, seconds: float, what: str = "the catalogue in the read model"
    ) -> None:
        """Wait until the worker's read model holds the season's catalogue (its career events and
        the clubs), as `produce_catalogue` and the opportunities appended before gave it."""
        catalogue = len(season.career_events) + len(season.opportunities)

        async def catalogue_in() -> bool:
            return await self.catalogue_size() == catalogue

        await self.wait_for(what, catalogue_in, seconds)

    async def catalogue_size(self) -> int:
        try:
            async with self.read_model.query(EVIDENCE_PROJECTION) as tx:
                return int(await tx.fetchval("SELECT count(*) FROM {rec_offers}"))
        except Exception:  # the worker has not installed the tables yet
            return 0

    async def sets(self) -> dict[UUID, list[RecommendationsIssued]]:
        return await issued(self.store)

    async def faust_topics(self) -> list[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            return sorted(t for t in await admin.list_topics() if t.startswith(self.app_id))
        finally:
            await admin.close()

    async def records_of(self, topic: str) -> list[bytes]:
        """Every record of `topic` (key, value and headers, as bytes), from the start."""
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=self.bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        out: list[bytes] = []
        try:
            while batch := await consumer.getmany(timeout_ms=2000):
                for records in batch.values():
                    for r in records:
                        parts = [r.key or b"", r.value or b""]
                        parts += [k.encode() + v for k, v in r.headers]
                        out.append(b"|".join(parts))
        finally:
            await consumer.stop()
        return out


# A worker process that imports `bilet_recommender.worker` (and so faust, aiokafka, the kernel:
# seconds of CPU, most of a worker's start) and then waits for a line on stdin before it runs the
# module as `python -m` does (`__main__`, so faust names its agents the same). No line (EOF: the
# test is gone) and it exits without starting.
_WARM = """
import runpy, sys
import bilet_recommender.worker
del sys.modules["bilet_recommender.worker"]  # run afresh as __main__, its imports cached
if sys.stdin.readline():
    runpy.run_module("bilet_recommender.worker", run_name="__main__", alter_sys=True)
"""


class WarmWorkers:
    """Workers started `ahead` at a time (ADR 0072): `start()` lets the oldest waiting one run and
    starts another, so a worker's import overlaps the lives of the ones before it instead of
    adding to the time between two kills (two ahead: one import can outlast a worker's life on a
    loaded machine). What runs is the same worker with the same environment; only its imports
    happened before its turn. Every worker logs to `log`; `close()` ends those left waiting."""

    def __init__(self, harness: Harness, log: Path, ahead: int = 2) -> None:
        self._harness = harness
        self.log = log
        self._waiting = deque(self._spawn() for _ in range(ahead))

    def _spawn(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as out:
            return subprocess.Popen(  # noqa: S603 - our own interpreter, our own program
                [sys.executable, "-c", _WARM],
                env=self._harness.worker_env(),
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def start(self) -> subprocess.Popen[bytes]:
        worker = self._waiting.popleft()
        self._waiting.append(self._spawn())
        assert worker.stdin is not None
        worker.stdin.write(b"go\n")
        worker.stdin.close()
        return worker

    def close(self) -> None:
        while self._waiting:
            stop(self._waiting.popleft(), kill=True)


def stop(worker: subprocess.Popen[bytes], *, kill: bool = False) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


@pytest.fixture
async def harness(
    kafka_bootstrap: str, database_url: str, tmp_path: Path
) -> AsyncIterator[Harness]:
    tag = uuid.uuid4().hex[:10]
    topics = {f"bilet.t{tag}.{source}": source for source in SOURCES}
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, SOURCE_PARTITIONS, 1) for t in topics])
    finally:
        await admin.close()
    var_dir = tmp_path / "var"
    settings = PlatformSettings(var_dir=var_dir, key_store="sqlite")
    keystore = await stores.open_key_store(settings)
    store_schema, rm_schema = f"t_rec_{tag}", f"t_rec_rm_{tag}"
    store = await PostgresEventStore.open(database_url, schema=store_schema)
    read_model = await PostgresReadModel.open(database_url, schema=rm_schema)
    app_id = f"t-rec-{tag}"
    harness = Harness(
        kafka_bootstrap,
        database_url,
        var_dir,
        app_id,
        topics,
        store_schema,
        rm_schema,
        store,
        read_model,
        keystore,
    )
    try:
        yield harness
    finally:
        await read_model.close()
        await store.close()
        await keystore.close()
        for schema in (store_schema, rm_schema):
            await drop_schema(database_url, schema)
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            ours = {t for t in existing if t.startswith(app_id)}
            ours |= {t for name in topics for t in (name, dlq_topic(name)) if t in existing}
            await admin.delete_topics(sorted(ours))
        finally:
            await admin.close()
