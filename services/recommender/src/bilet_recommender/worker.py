"""The recommender's worker, `python -m bilet_recommender.worker` (ADR 0038): a faust-streaming app
that issues recommendations from Kafka, beside the kernel feeds of the read side the API reads.

- Issuing (faust): an agent over `bilet.identity`, `bilet.consent`, `bilet.diagnostics` and
  `bilet.events` repartitions the facts about a participant by participant id (`group_by` into
  `<app id>-facts-by-participant`), and per participant folds them into a table keyed by
  participant holding `Evidence` JSON (changelog `<app id>-evidence-changelog`), running the
  issuing step (`application/issuing.py`): every set is an append to the recommender's own event
  store with its derived id as event id, so a redelivery after a crash or a rebalance is the
  store's idempotent retry. `processing_guarantee="at_least_once"`, never `exactly_once` (ADR
  0036). Tables and topics carry ids, levels, scores and sealed values only: no readable
  personal data (the repartition topic forwards the published records as they are).
- Read side (kernel, ADR 0008): `EVIDENCE_PROJECTION` and the insights (ADR 0039) fed from the
  same topics and from the recommender's own store (coordinators' opportunities, the sets
  issued) into the read model: what the API reads, and the catalogue the issuing step offers.
- Insights (faust, ADR 0048): `worker_insights` counts the marks from the issuing agent's
  repartition topic (ADR 0101) in tumbling weekly windows and writes them to the insights read
  model; the kernel feed keeps the rest of it.

The agent takes the facts in batches (`take_events`, ADR 0047): per batch, one read of each
participant's table entry and stream, one append of every set decided, one write back
(`adapters/issuing_batch.py`).

Runs until SIGTERM/SIGINT; serves `/metrics`, `/livez` and `/readyz` (`bilet.relay.health`,
from the faust app's own event loop) on `BVB_RECOMMENDER_WORKER_METRICS_PORT`: alive while the
loop answers, ready once its stores are open, its read side runs and its consumer group is not
rebalancing.
"""

import asyncio
import gc
import ssl
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, cast

import faust
from aiokafka.admin import NewTopic
from faust.auth import OAuthCredentials, SASLCredentials, SSLCredentials
from faust.streams import Stream
from faust.types import EventT, TopicT
from faust.types.auth import CredentialsT as Credentials
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from pydantic import Field

from bilet import stores
from bilet.contracts import decode
from bilet.crypto import KeyStore
from bilet.eventstore import EventStore
from bilet.kafka import KafkaConnection
from bilet.logs import configure_logging
from bilet.projections import EmbeddedFeed, KafkaFeed, ProjectionMetrics, ReadModel
from bilet.projections.collector import CollectorSettings, tune_collector
from bilet.projections.decode import decode as decode_record
from bilet.projections.kafka.settings import FeedSettings
from bilet.relay.health import serve_health
from bilet.settings import PlatformSettings
from bilet_recommender import worker_insights
from bilet_recommender.adapters.evidence_projection import (
    EVIDENCE_PROJECTION,
    OWN_EVENT_TYPES,
    RECOMMENDER,
)
from bilet_recommender.adapters.insights_projection import PLACES_AND_SETS
from bilet_recommender.adapters.issuing_batch import (
    Delivered,
    Held,
    KeptCatalogue,
    issue_batch,
)
from bilet_recommender.adapters.tables import current_rules
from bilet_recommender.application.issuing import Issuing
from bilet_recommender.domain.evidence import FACT_TYPES
from bilet_recommender.records import NO_PARTICIPANT, participant_key, record_headers
from bilet_recommender.worker_guards import (
    UNREADABLE,
    GuardedApp,
    declare_topics,
    exit_at_once,
    left_aside,
    new_topics,
    processing,
)

SERVICE: Final = "recommender"
TOPICS: Final = {
    "bilet.identity": "identity",
    "bilet.consent": "consent",
    "bilet.diagnostics": "diagnostics",
    "bilet.events": "events",
}
# What the issuing agent takes from the topics: the facts `Evidence` folds (the sets it issued
# itself never come back from Kafka: the recommender's topic is not read).
FACTS: Final = frozenset(t.event_type for t in FACT_TYPES) - {"RecommendationsIssued"}
SECONDS_BUCKETS: Final = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
# A collection's pause: young ones under a millisecond with the interpreter's thresholds, full
# ones of a large heap hundreds (ADR 0109, 0118).
PAUSE_BUCKETS: Final = (0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


__all__ = [
    "NO_PARTICIPANT",
    "CollectorWatch",
    "Held",
    "WorkerSettings",
    "create_app",
    "participant_key",
]


class WorkerSettings(PlatformSettings):
    """The platform's `BVB_*` settings and the worker's own."""

    # The recommender's event store schema (the API's `BVB_RECOMMENDER_STORE_SCHEMA`).
    recommender_store_schema: str = "bvb_recommender"
    # The read model's PostgreSQL schema (default `bvb_recommender_rm`, as the API's).
    recommender_worker_read_model_schema: str | None = None
    # `/metrics` on this port (0: none).
    recommender_worker_metrics_port: int = Field(default=9101, ge=0, le=65535)
    # The faust app id: its consumer group and the prefix of the topics it creates.
    recommender_worker_app_id: str = "bilet-recommender"
    # Partitions of the repartition topic and the table's changelog (they must be equal).
    recommender_worker_partitions: int = Field(default=6, ge=1, le=256)
    # Replicas of the topics faust creates (the cluster's: 3 with the kafka-topics component).
    recommender_worker_topic_replicas: int = Field(default=1, ge=1, le=7)
    # How long the worker waits at its start for its own topics to have a leader per partition.
    recommender_worker_topics_timeout: float = Field(default=120.0, gt=0.0, le=3600.0)
    # Where faust keeps its local files (the pod's writable /tmp in Kubernetes).
    recommender_worker_datadir: Path = Path("var/recommender-faust")
    # topic → source service (tests use fresh topics); default: the four `bilet.<service>`.
    recommender_worker_topics: dict[str, str] = Field(default_factory=lambda: dict(TOPICS))
    # Static membership of the faust consumer group (the pod's name in Kubernetes): a worker
    # restarted under the same id takes its partitions back without waiting for a rebalance.
    recommender_worker_instance_id: str | None = None
    # How long the broker waits for a silent member before handing its partitions on.
    recommender_worker_session_timeout: float = Field(default=30.0, ge=6.0, le=300.0)
    # The kernel feeds' consumer groups (the read side): `<this>.<projection>`.
    recommender_worker_feed_group: str = "bilet.recommender"
    # Records the read side's Kafka feeds apply per read-model transaction. On PostgreSQL an
    # open transaction holds back every event store's read horizon (ADR 0003). Measured (ADR
    # 0070) on the loaded machine: 200 cut the worst transaction from 68 s to 26 s, not to
    # short (the starved event loop sets their length), in the slowest run; the default stays
    # the kernel's.
    recommender_worker_feed_max_records: int = Field(default=2000, ge=1, le=10_000)
    # How long the broker may hold faust's fetch when nothing new is there (faust fixes 1.5 s).
    # A fetch leaves out the partitions whose records faust has not taken yet, and a record
    # arriving on one of those waits until that fetch returns: up to this long, once on the
    # source topic and once on the repartition topic (ADR 0091). An idle worker fetches this
    # often.
    recommender_worker_fetch_wait: float = Field(default=0.1, ge=0.01, le=1.5)
    # The issuing agent takes facts in batches of at most this many (ADR 0047): a batch's sets
    # are appended at its end, so a worker killed mid-batch loses its work (500 took longer
    # than the crash test's workers lived on a loaded machine) ...
    recommender_worker_batch_size: int = Field(default=100, ge=1, le=10_000)
    # ... or those that came within this many seconds, whichever is first: what a fact may wait.
    recommender_worker_batch_seconds: float = Field(default=0.05, gt=0.0, le=5.0)
    # How many weeks before the newest week the insights agent has taken a participant-week
    # stays in its `insight-weeks` table (ADR 0118's amendment): a season's ~40 weeks and a
    # margin. The cells only save the read model writes (a fact whose cell was dropped writes
    # its mark again, an idempotent upsert), so any value counts the same; each costs ~0.4 KiB.
    recommender_worker_insight_weeks_kept: int = Field(default=60, ge=1, le=520)
    # The moment the issuing step judges consents and dates at (tests; None: the clock).
    recommender_worker_as_of: datetime | None = None


class CollectorWatch:
    """The garbage collector's pauses and what it freed, per generation, on `/metrics` (ADR
    0118): the worker tunes its collector (ADR 0109) so that collections are rare and large, and
    what they cost and free over hours is what an operator sizes the pod's memory by. A
    `gc.callbacks` entry: `install` adds it, `remove` takes it out (tests)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.pauses = Histogram(
            "bilet_recommender_gc_pause_seconds",
            "How long each garbage collection of the worker process took, by generation.",
            ["generation"],
            buckets=PAUSE_BUCKETS,
            registry=registry,
        )
        self.longest = Gauge(
            "bilet_recommender_gc_pause_longest_seconds",
            "The longest garbage collection of the worker process so far, by generation.",
            ["generation"],
            registry=registry,
        )
        self.collected = Counter(
            "bilet_recommender_gc_collected_objects",
            "Objects the garbage collector freed (unreachable cycles), by generation.",
            ["generation"],
            registry=registry,
        )
        self._longest: dict[int, float] = {}
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        took = time.perf_counter() - self._started
        generation = info["generation"]
        label = str(generation)
        self.pauses.labels(label).observe(took)
        self.collected.labels(label).inc(info["collected"])
        if took > self._longest.get(generation, 0.0):
            self._longest[generation] = took
            self.longest.labels(label).set(took)

    def install(self) -> "CollectorWatch":
        gc.callbacks.append(self)
        return self

    def remove(self) -> None:
        gc.callbacks.remove(self)


def table_characters(store: object) -> float:
    """The characters of the JSON values a faust table's store holds in its in-memory dict
    (`store="memory://"`); NaN for a store that keeps none (faust's RocksDB)."""
    held = getattr(store, "data", None)
    if not isinstance(held, dict):
        return float("nan")
    return float(sum(map(len, held.values())))


class Resources:
    """What the worker opens once, lazily, on the app's event loop: the recommender's store, the
    key store, the read model and the issuing step."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self._opened: asyncio.Future[tuple[EventStore, KeyStore, ReadModel, Issuing]] | None = None

    @property
    def opened(self) -> bool:
        opening = self._opened
        return (
            opening is not None
            and opening.done()
            and not opening.cancelled()
            and opening.exception() is None
        )

    async def get(self) -> tuple[EventStore, KeyStore, ReadModel, Issuing]:
        if self._opened is None:
            self._opened = asyncio.ensure_future(self._open())
        return await self._opened

    async def _open(self) -> tuple[EventStore, KeyStore, ReadModel, Issuing]:
        settings = self.settings
        store = await stores.open_event_store(
            settings, SERVICE, schema=settings.recommender_store_schema
        )
        keystore = await stores.open_key_store(settings)
        read_model = await stores.open_read_model(
            settings, SERVICE, schema=settings.recommender_worker_read_model_schema
        )
        # The issuing step reads the catalogue from these tables, and its first batch can come
        # before the read side's feed has installed them: an error that would end the worker
        # (ADR 0085) on a fresh read model. Installing is idempotent and locks the schema.
        await read_model.install(EVIDENCE_PROJECTION)
        as_of = settings.recommender_worker_as_of
        clock = (lambda: as_of) if as_of is not None else (lambda: datetime.now(UTC))
        return store, keystore, read_model, Issuing(store, keystore, current_rules(), clock)


def broker_credentials(connection: KafkaConnection) -> Credentials | None:
    """The kernel's Kafka connection (ADR 0022: TLS verified, SASL PLAIN/SCRAM or OAUTHBEARER,
    secrets from files) as faust's credentials; None for PLAINTEXT."""
    options = connection.client_options()
    context: ssl.SSLContext | None = options.get("ssl_context")
    mechanism = options.get("sasl_mechanism")
    if mechanism == "OAUTHBEARER":
        return OAuthCredentials(oauth_cb=options["sasl_oauth_token_provider"], ssl_context=context)
    if mechanism is not None:
        return SASLCredentials(
            username=options["sasl_plain_username"],
            password=options["sasl_plain_password"],
            ssl_context=context,
            mechanism=mechanism,
        )
    return None if context is None else SSLCredentials(context)


class Readiness:
    """`/readyz` of the worker: its stores open, its read side running, its consumer group
    settled. Not ready says why."""

    def __init__(self) -> None:
        self.app: faust.App | None = None
        self.resources: Resources | None = None
        self.read_side: asyncio.Task[None] | None = None

    def __call__(self) -> tuple[bool, str]:
        if self.app is None or self.resources is None or not self.resources.opened:
            return False, "opening the event store, the key store and the read model"
        if self.read_side is None or self.read_side.done():
            return False, "the read side's feeds are not running"
        if self.app.rebalancing:
            return False, "the consumer group is rebalancing"
        return True, "issuing"


@dataclass(frozen=True)
class WorkerApp:
    """The faust app, and the repartition topics its agents' `group_by` write to."""

    app: faust.App
    repartitions: tuple[TopicT, ...]

    def own_topics(self) -> dict[str, NewTopic]:
        """The topics faust would create for this app (its repartition topics and each table's
        changelog), as it would create them: what `main` declares before faust starts."""
        conf = self.app.conf
        changelogs = [table.changelog_topic for table in self.app.tables.values()]
        return new_topics(
            [*self.repartitions, *changelogs], conf.topic_partitions, conf.topic_replication_factor
        )


def create_app(
    settings: WorkerSettings,
    registry: CollectorRegistry | None = None,
    readiness: Readiness | None = None,
) -> WorkerApp:
    """The faust app: the issuing agent, its table, and the read side's feeds as a task."""
    if settings.kafka_bootstrap is None:
        raise SystemExit("BVB_KAFKA_BOOTSTRAP is not set: the worker reads Kafka")
    app_id = settings.recommender_worker_app_id
    connection = settings.kafka_connection()
    # Read here, before faust starts: a bad BVB_PROJECTION_FEED_* stops the worker at once
    # instead of leaving it issuing with its read side's feeds dead (ADR 0096).
    feed_settings = FeedSettings()
    partitions = settings.recommender_worker_partitions
    app = GuardedApp(
        app_id,
        broker=[f"kafka://{host}" for host in connection.bootstrap_servers.split(",")],
        broker_credentials=broker_credentials(connection),
        store="memory://",
        processing_guarantee="at_least_once",
        topic_partitions=partitions,
        topic_replication_factor=settings.recommender_worker_topic_replicas,
        consumer_auto_offset_reset="earliest",
        datadir=str(settings.recommender_worker_datadir),
        web_enabled=False,
        consumer_group_instance_id=settings.recommender_worker_instance_id,
        broker_session_timeout=settings.recommender_worker_session_timeout,
        broker_heartbeat_interval=min(3.0, settings.recommender_worker_session_timeout / 3),
    )
    app.fetch_wait = settings.recommender_worker_fetch_wait
    resources = Resources(settings)
    registry = registry or CollectorRegistry()
    facts_in = Counter(
        "bilet_recommender_facts", "Facts folded into evidence by the worker.", registry=registry
    )
    redelivered = Counter(
        "bilet_recommender_facts_redelivered",
        "Facts delivered again (after a crash or a rebalance) and left aside.",
        registry=registry,
    )
    batch_facts = Histogram(
        "bilet_recommender_batch_facts",
        "Facts about participants in each batch the issuing agent took.",
        buckets=(1, 5, 20, 50, 100, 200, 500, 1000, 5000),
        registry=registry,
    )
    sets_issued = Counter(
        "bilet_recommender_sets_issued",
        "Recommendation sets the worker appended (a redelivered batch's retries included).",
        registry=registry,
    )
    # Where a fact's latency goes (ADR 0063): waiting for the agent, then the batch's step.
    fact_wait = Histogram(
        "bilet_recommender_fact_wait_seconds",
        "From a fact's repartitioned record to the issuing agent taking its batch.",
        buckets=SECONDS_BUCKETS,
        registry=registry,
    )
    batch_seconds = Histogram(
        "bilet_recommender_batch_seconds",
        "How long the issuing agent's step took per batch (fold, append, table write).",
        buckets=SECONDS_BUCKETS,
        registry=registry,
    )
    metrics = ProjectionMetrics(registry)
    sources = app.topic(*settings.recommender_worker_topics, value_serializer="raw")
    by_participant = app.topic(
        f"{app_id}-facts-by-participant",
        partitions=partitions,
        key_serializer="raw",
        value_serializer="raw",
        internal=True,
    )
    # participant id → `Held` JSON (both JSON-encoded strings on the changelog).
    evidence_table = app.Table("evidence", partitions=partitions, key_type=str, value_type=str)
    # The table lives in the process's memory (`store="memory://"`), an entry per participant the
    # worker's partitions ever saw: what the pod's memory grows with over a season (ADR 0118).
    Gauge(
        "bilet_recommender_evidence_entries",
        "Participants the worker's evidence table holds in memory.",
        registry=registry,
    ).set_function(lambda: len(evidence_table))
    Gauge(
        "bilet_recommender_evidence_characters",
        "Characters of the JSON the worker's evidence table holds in memory.",
        registry=registry,
    ).set_function(lambda: table_characters(evidence_table.data))

    @app.agent(sources)
    async def issue(stream: faust.StreamT[Any]) -> None:
        # Every record is repartitioned, and what `Evidence` does not fold is skipped after it: a
        # `filter` before `group_by` would run after it anyway (faust moves a stream's
        # processors to the grouped stream), and a key function that fails is logged as an
        # error per record. Records about no participant (career events: public facts) go to
        # one partition under `NO_PARTICIPANT`.
        grouped = stream.group_by(participant_key, name="participant", topic=by_participant)
        # `StreamT` does not declare `take_events` (faust-streaming 0.15), `Stream` does.
        batches = cast(Stream[Any], grouped).take_events(
            settings.recommender_worker_batch_size, settings.recommender_worker_batch_seconds
        )
        # `take_events` acknowledges a batch's events when the loop asks for the next batch:
        # after its sets are appended and its evidence written (at least once, ADR 0047). It
        # also acknowledges them when the loop is left by an exception: a batch that fails
        # ends the process instead (ADR 0085).
        async for events in batches:
            try:
                await take(events)
            except Exception:
                exit_at_once("the issuing agent failed on a batch")

    # The issuing step's catalogue, kept across batches until an offer changes (ADR 0104):
    # made by the first batch, over the read model the resources opened.
    kept: list[KeptCatalogue] = []

    async def take(events: Sequence[EventT[Any]]) -> None:
        """One batch: decode the facts, issue (`issue_batch`), write the table back."""
        taken = time.time()
        store, _keys, read_model, issuing = await resources.get()
        if not kept:
            kept.append(KeptCatalogue(read_model))
        delivered: list[tuple[EventT[Any], Delivered]] = []
        for event in events:
            try:
                recorded = decode_record(event.value, record_headers(event.headers))
                if recorded.type not in FACTS:
                    continue
                fact = decode(recorded)
            except UNREADABLE as error:
                left_aside("issuing", event, error)
                continue
            assert isinstance(fact, FACT_TYPES)
            delivered.append((event, Delivered(recorded, fact)))
            fact_wait.observe(max(0.0, taken - event.message.timestamp))
        batch_facts.observe(len(delivered))
        if not delivered:
            return
        outcome = await issue_batch(
            [item for _event, item in delivered],
            evidence_table.get,
            issuing,
            store,
            kept[0],
        )
        last = {str(item.fact.participant_id): event for event, item in delivered}
        for key, value in outcome.saved.items():
            # faust writes a change to the changelog partition of the event being
            # processed: the participant's own (a batch mixes the partitions).
            with processing(last[key]):
                evidence_table[key] = value
        facts_in.inc(outcome.folded)
        redelivered.inc(outcome.redelivered)
        sets_issued.inc(outcome.issued)
        batch_seconds.observe(time.time() - taken)

    async def read_side() -> None:
        """The kernel's feeds of the read model: the evidence and catalogue (the API's reads,
        the step's offers) and the coordinators' insights, from the four topics and the
        recommender's own store (its clubs and the sets issued, which the insights count)."""
        store, _keys, read_model, _issuing = await resources.get()
        topics = settings.recommender_worker_topics
        feeds: list[KafkaFeed | EmbeddedFeed] = []
        for projection, own_types in (
            (EVIDENCE_PROJECTION, OWN_EVENT_TYPES),
            (PLACES_AND_SETS, frozenset({"RecommendationsIssued"})),
        ):
            group = f"{settings.recommender_worker_feed_group}.{projection.name}"
            feeds.append(
                KafkaFeed(
                    read_model,
                    projection,
                    bootstrap_servers=connection,
                    topics=list(topics),
                    group_id=group,
                    sources=topics,
                    metrics=metrics,
                    max_records=settings.recommender_worker_feed_max_records,
                    settings=feed_settings,
                )
            )
            feeds.append(
                EmbeddedFeed(
                    read_model,
                    projection,
                    {RECOMMENDER: store},
                    event_types=own_types,
                    metrics=metrics,
                )
            )
        await asyncio.gather(*(feed.run() for feed in feeds))

    async def start_read_side() -> None:
        task = asyncio.ensure_future(read_side())
        if readiness is not None:
            readiness.read_side = task
        await task

    app.task(start_read_side)
    if readiness is not None:
        readiness.app, readiness.resources = app, resources

    async def read_model() -> ReadModel:
        return (await resources.get())[2]

    worker_insights.install(
        app,
        by_participant,
        read_model,
        settings.recommender_worker_batch_size,
        settings.recommender_worker_batch_seconds,
        settings.recommender_worker_insight_weeks_kept,
    )
    return WorkerApp(app, (by_participant,))


def main() -> int:
    configure_logging()
    settings = WorkerSettings()
    collector = CollectorSettings()  # a bad BVB_PROJECTION_GC_* stops the worker before it starts
    registry = CollectorRegistry()
    # The process's resident memory and CPU (`process_*`), and the collector's pauses: what the
    # pod's memory request and limit are sized by (ADR 0118).
    ProcessCollector(registry=registry)
    CollectorWatch(registry).install()
    readiness = Readiness()
    # The health server runs on the loop faust runs on, so `/livez` answering means that loop
    # is not stuck; it is up before faust starts (table recovery can take a while).
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    if settings.recommender_worker_metrics_port:
        loop.run_until_complete(
            serve_health(
                settings.host, settings.recommender_worker_metrics_port, registry, readiness
            )
        )
    worker_app = create_app(settings, registry, readiness)
    # Before faust starts: its consumer must find these topics whole when it joins (ADR 0085).
    loop.run_until_complete(
        declare_topics(
            settings.kafka_connection(),
            worker_app.own_topics(),
            settings.recommender_worker_topics_timeout,
        )
    )
    worker = faust.Worker(worker_app.app, loglevel="INFO", override_logging=False, loop=loop)
    # The kernel's projection workers' settings (ADR 0074, 0082), for the same objects: the read
    # side's Kafka feeds hold their polls in flight, and faust hands each record over through
    # tasks. Applied here, before faust's start-up (those workers tune after theirs): what faust
    # builds as it starts (its services, tables, consumers) is not frozen, only the imports and
    # the app. With the interpreter's thresholds the collector took 6–14% of the worker's CPU at
    # 200 facts/s, mostly full collections of the whole heap that freed nothing (ADR 0109).
    tune_collector(collector, process="recommender worker")
    worker.execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main())
