"""What `bench_recommender` sets up around the real Kafka and PostgreSQL: a season's four fresh
source topics, the faust worker (`python -m bilet_recommender.worker`) as a process on its own
schemas and app id, the kernel's `issuing_projection` on a `KafkaFeed` over the same topics with
schemas of its own, and the cleanup of all of it. The season and its Kafka form come from the
recommender's `issuing_testing` (the builder its integration tests stream through Kafka)."""

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Final
from uuid import UUID

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from benchmarks.infra import delete_topics, drop_schemas, process_cpu
from benchmarks.recommender_portfolio import Pipeline, PortfolioSeen
from bilet.contracts import DomainEvent, decode
from bilet.contracts.catalogue.recommender import RecommendationsIssued
from bilet.crypto import KeyStore
from bilet.eventstore import RecordedEvent
from bilet.eventstore.postgres import PostgresEventStore
from bilet.projections import EmbeddedFeed, KafkaFeed
from bilet.projections.postgres import PostgresReadModel
from bilet.projections.testing import produce
from bilet.relay.kafka import TOPIC_CONFIGS
from bilet_recommender.adapters.evidence_projection import (
    EVIDENCE_PROJECTION,
    OWN_EVENT_TYPES,
    RECOMMENDER,
    issuing_projection,
)
from bilet_recommender.application.issuing import RECOMMENDATIONS_CATEGORY
from bilet_recommender.issuing_testing import EVENTS, IDENTITY, SOURCES, Season, recorded
from bilet_recommender.testing import NOW

SOURCE_PARTITIONS: Final = 3
WORKER_PARTITIONS: Final = 4
# The relay's default (`BVB_RELAY_PARTITIONS`).
PUBLISHED_PARTITIONS: Final = 6
# A bounded wait for the relay to create its topic (it starts in a process of its own).
PIPELINE_START_SECONDS: Final = 120.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Published:
    """A source's record of a pupil's fact, as its store recorded it over the whole season."""

    participant_id: UUID
    record: RecordedEvent


def season_records(season: Season) -> dict[str, list[Published]]:
    """Per source, every pupil's fact recorded once over the whole season, after the catalogue.
    Recording each share on its own would number a shared stream's versions from 0 again (a
    career event's stream holds the seats booked of pupils of every share), and the kernel's
    projector rightly leaves such a fact aside as already applied."""
    catalogue: dict[str, list[DomainEvent]] = {
        EVENTS: [*season.career_events],
        IDENTITY: [*season.schools],
    }
    out: dict[str, list[Published]] = {}
    for source in SOURCES:
        ahead, facts = catalogue.get(source, []), season.facts[source]
        records = recorded([*ahead, *facts])[len(ahead) :]
        out[source] = [
            Published(getattr(fact, "participant_id"), record)  # noqa: B009 - every fact has one
            for fact, record in zip(facts, records, strict=True)
        ]
    return out


def chunk_records(
    records: dict[str, list[Published]], pupils: Collection[UUID]
) -> dict[str, list[RecordedEvent]]:
    """Per source, the records of the facts about `pupils`, in the source's order."""
    return {
        source: [p.record for p in published if p.participant_id in pupils]
        for source, published in records.items()
    }


@dataclass
class SetsSeen:
    """The sets a store holds, read on from where the last read stopped: each participant's last
    set, without `supersedes` (as `issuing_testing.latest` compares them)."""

    store: PostgresEventStore
    position: int = 0
    latest: dict[UUID, RecommendationsIssued] = field(default_factory=dict)
    # When each participant's first set was appended (the database's clock).
    first_at: dict[UUID, datetime] = field(default_factory=dict)

    async def read_on(self) -> None:
        while batch := await self.store.read_all(
            self.position, 1000, categories=[RECOMMENDATIONS_CATEGORY]
        ):
            for record in batch:
                event = decode(record)
                assert isinstance(event, RecommendationsIssued)
                self.latest[event.participant_id] = event.model_copy(update={"supersedes": None})
                self.first_at.setdefault(event.participant_id, record.recorded_at)
                # A set takes about a millisecond to decode, a read up to a thousand: the
                # bench's other tasks (the portfolio's reads, `PortfolioSeen`) run between
                # them, not seconds after (ADR 0096).
                await asyncio.sleep(0)
            self.position = batch[-1].position


@dataclass
class World:
    bootstrap: str
    dsn: str
    var_dir: Path
    keystore: KeyStore
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    worker: "subprocess.Popen[bytes] | None" = None
    metrics_port: int = field(default_factory=lambda: free_port())
    opened: list[PostgresEventStore | PostgresReadModel] = field(default_factory=list)
    pipeline: Pipeline = field(default_factory=Pipeline)

    @property
    def topics(self) -> dict[str, str]:
        return {f"bilet.bench{self.tag}.{source}": source for source in SOURCES}

    @property
    def app_id(self) -> str:
        return f"bench-rec-{self.tag}"

    def schema(self, role: str) -> str:
        return f"bench_rec_{role}_{self.tag}"

    def topic_of(self, source: str) -> str:
        return next(topic for topic, named in self.topics.items() if named == source)

    @property
    def repartition_topic(self) -> str:
        """Where the worker's issuing agent repartitions the facts by participant."""
        return f"{self.app_id}-facts-by-participant"

    @property
    def published_topic(self) -> str:
        """Where the relay publishes the worker's sets (the run's `bilet.recommender`)."""
        return f"bilet.bench{self.tag}.recommender"

    async def create_topics(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(t, SOURCE_PARTITIONS, 1) for t in self.topics])
        finally:
            await admin.close()

    async def produce_catalogue(self, season: Season) -> None:
        events, schools = recorded(season.career_events), recorded(season.schools)
        await produce(self.bootstrap, self.topic_of(EVENTS), events, service=EVENTS)
        await produce(self.bootstrap, self.topic_of(IDENTITY), schools, service=IDENTITY)

    async def produce_facts(self, records: dict[str, list[RecordedEvent]]) -> None:
        """A share of the season's records, every source at once (as four services publish)."""
        await asyncio.gather(
            *(
                produce(self.bootstrap, self.topic_of(source), chunk, service=source)
                for source, chunk in records.items()
            )
        )

    async def open_store(self, role: str) -> PostgresEventStore:
        store = await PostgresEventStore.open(self.dsn, schema=self.schema(role))
        self.opened.append(store)
        return store

    async def open_read_model(self, role: str) -> PostgresReadModel:
        read_model = await PostgresReadModel.open(self.dsn, schema=self.schema(role))
        self.opened.append(read_model)
        return read_model

    # ------------------------------------------------------------ the faust worker

    def start_worker(self, log: Path) -> None:
        env = {
            **os.environ,
            "BVB_ENVIRONMENT": "development",
            "BVB_VAR_DIR": str(self.var_dir),
            "BVB_KAFKA_BOOTSTRAP": self.bootstrap,
            "BVB_DATABASE_URL": self.dsn,
            "BVB_EVENT_STORE": "postgres",
            "BVB_READ_MODEL": "postgres",
            "BVB_KEY_STORE": "sqlite",
            "BVB_RECOMMENDER_STORE_SCHEMA": self.schema("worker"),
            "BVB_RECOMMENDER_WORKER_READ_MODEL_SCHEMA": self.schema("worker_rm"),
            "BVB_RECOMMENDER_WORKER_APP_ID": self.app_id,
            "BVB_RECOMMENDER_WORKER_PARTITIONS": str(WORKER_PARTITIONS),
            "BVB_RECOMMENDER_WORKER_TOPICS": json.dumps(self.topics),
            "BVB_RECOMMENDER_WORKER_FEED_GROUP": f"{self.app_id}-feed",
            "BVB_RECOMMENDER_WORKER_DATADIR": str(self.var_dir / "faust"),
            "BVB_RECOMMENDER_WORKER_METRICS_PORT": str(self.metrics_port),
            "BVB_RECOMMENDER_WORKER_INSTANCE_ID": f"{self.app_id}-0",
            "BVB_RECOMMENDER_WORKER_SESSION_TIMEOUT": "6",
            "BVB_RECOMMENDER_WORKER_AS_OF": NOW.isoformat(),
        }
        with log.open("ab") as out:
            self.worker = subprocess.Popen(
                [sys.executable, "-m", "bilet_recommender.worker"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def stop_worker(self) -> None:
        worker, self.worker = self.worker, None
        if worker is None:
            return
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()

    def worker_cpu_seconds(self) -> float | None:
        """CPU seconds (user and system) the worker process has used so far, from Linux's
        `/proc/<pid>/stat` (ADR 0070: facts per CPU second tell the worker's own cost apart from
        the machine's load); None without a running worker or `/proc`."""
        return None if self.worker is None else process_cpu(self.worker.pid)

    async def worker_series(self) -> dict[str, float]:
        """The worker's unlabelled `bilet_recommender_*` series on `/metrics` (counters' totals,
        histograms' sums and counts), by name."""

        def scrape() -> dict[str, float]:
            url = f"http://127.0.0.1:{self.metrics_port}/metrics"
            with urllib.request.urlopen(url, timeout=5) as answer:
                text = answer.read().decode()
            found = re.findall(r"^(bilet_recommender_\w+) (\S+)$", text, re.MULTILINE)
            return {name: float(value) for name, value in found}

        return await asyncio.to_thread(scrape)

    async def facts_folded(self) -> float:
        """The worker's count of facts folded (`bilet_recommender_facts_total` on `/metrics`)."""
        return (await self.worker_series()).get("bilet_recommender_facts_total", 0.0)

    async def worker_idle(self) -> bool:
        """Whether the worker's faust consumer group has committed every partition it commits
        to that partition's end: both agents have taken all there was, the insights agent's
        marks included (the issuing agent's `facts_folded` says nothing of those)."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            committed = await admin.list_consumer_group_offsets(self.app_id)
        finally:
            await admin.close()
        if not committed:
            return False
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap)
        await consumer.start()
        try:
            ends = await consumer.end_offsets(list(committed))
        finally:
            await consumer.stop()
        return all(at.offset >= ends[tp] for tp, at in committed.items())

    async def worker_catalogue(self, read_model: PostgresReadModel) -> int:
        """How many offers the worker's read model holds (0 before it installed its tables)."""
        try:
            async with read_model.query(EVIDENCE_PROJECTION) as tx:
                return int(await tx.fetchval("SELECT count(*) FROM {rec_offers}"))
        except Exception:  # the worker has not created its tables yet
            return 0

    # ------------------------------------------------------------ relay and portfolio

    async def start_portfolio(self) -> PortfolioSeen:
        """The relay over the worker's store and, once it created its topic, the portfolio's
        feed (ADR 0070); what the portfolio shows, polled."""
        topic = self.published_topic
        schemas = (self.schema("worker"), self.schema("portfolio"))
        log = self.var_dir / "relay-and-portfolio.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        # Created here as the relay would (which keeps a topic that exists), but stamped by the
        # broker as it appends (`LogAppendTime`): the relay stamps a record with its event's
        # `recorded_at`, so only the broker's time tells when it was published (`hops_ms`).
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            configs = {**TOPIC_CONFIGS, "message.timestamp.type": "LogAppendTime"}
            await admin.create_topics(
                [NewTopic(topic, PUBLISHED_PARTITIONS, 1, topic_configs=configs)]
            )
        finally:
            await admin.close()
        self.pipeline.start(self.dsn, schemas, self.bootstrap, topic, log, roles=("relay",))
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        deadline = asyncio.get_running_loop().time() + PIPELINE_START_SECONDS
        try:
            while topic not in await admin.list_topics():
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError(f"the relay did not create {topic}")
                await asyncio.sleep(0.5)
        finally:
            await admin.close()
        self.pipeline.start(self.dsn, schemas, self.bootstrap, topic, log, roles=("portfolio",))
        read_model = await PostgresReadModel.open(self.dsn, schema=schemas[1])
        self.opened.append(read_model)
        seen = PortfolioSeen(read_model)
        await seen.start()
        return seen

    # ------------------------------------------------------------ the kernel's runtime

    def kernel_feeds(
        self, read_model: PostgresReadModel, store: PostgresEventStore
    ) -> tuple[KafkaFeed, EmbeddedFeed]:
        """The embedded runtime on the kernel's Kafka feed: `issuing_projection` over the four
        topics, and its own store's clubs (the catalogue's other half) beside it."""
        projection = issuing_projection(store, self.keystore, lambda: NOW)
        return (
            KafkaFeed(
                read_model,
                projection,
                bootstrap_servers=self.bootstrap,
                topics=list(self.topics),
                sources=self.topics,
            ),
            EmbeddedFeed(read_model, projection, {RECOMMENDER: store}, event_types=OWN_EVENT_TYPES),
        )

    # ------------------------------------------------------------ cleanup

    async def close(self) -> None:
        self.stop_worker()
        self.pipeline.stop()
        for opened in self.opened:
            await opened.close()
        roles = ("worker", "worker_rm", "kernel", "kernel_rm", "portfolio")
        await drop_schemas(self.dsn, [self.schema(r) for r in roles])
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            faust_topics = [t for t in await admin.list_topics() if t.startswith(self.app_id)]
            if faust_topics:
                await admin.delete_topics(faust_topics)
        finally:
            await admin.close()
        await delete_topics(self.bootstrap, [*self.topics, self.published_topic])
