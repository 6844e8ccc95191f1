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
- Insights (faust, ADR 0048): `worker_insights` counts the marks from Kafka in tumbling weekly
  windows and writes them to the insights read model; the kernel feed keeps the rest of it.

Runs until SIGTERM/SIGINT; serves its metrics on `BVB_RECOMMENDER_WORKER_METRICS_PORT`.
"""

import asyncio
import json
import ssl
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import faust
from faust.auth import OAuthCredentials, SASLCredentials, SSLCredentials
from faust.types.auth import CredentialsT as Credentials
from prometheus_client import CollectorRegistry, Counter, start_http_server
from pydantic import BaseModel, ConfigDict, Field

from bilet import stores
from bilet.contracts import decode
from bilet.crypto import KeyStore
from bilet.eventstore import EventStore
from bilet.kafka import KafkaConnection
from bilet.logs import configure_logging
from bilet.projections import EmbeddedFeed, KafkaFeed, ProjectionMetrics, ReadModel
from bilet.projections.decode import decode as decode_record
from bilet.settings import PlatformSettings
from bilet_recommender import worker_insights
from bilet_recommender.adapters.evidence_projection import (
    EVIDENCE_PROJECTION,
    OWN_EVENT_TYPES,
    RECOMMENDER,
    ReadModelCatalogue,
)
from bilet_recommender.adapters.insights_projection import PLACES_AND_SETS
from bilet_recommender.adapters.tables import current_rules
from bilet_recommender.application.issuing import Issuing
from bilet_recommender.domain import evidence as evidence_fold
from bilet_recommender.domain.evidence import FACT_TYPES, Evidence

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

NO_PARTICIPANT: Final = "-"


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
    # The moment the issuing step judges consents and dates at (tests; None: the clock).
    recommender_worker_as_of: datetime | None = None


class Held(BaseModel):
    """What the worker's table holds per participant: the evidence, and the version of each
    stream it last took a fact from. At least once means a crash redelivers from the last
    committed offset, so facts already folded come again after later ones; the evolve of
    `Evidence` is idempotent for one fact but not for a replayed sequence (a seat booked again
    after it was attended, a consent verified again after its withdrawal). As the kernel's
    projections do (ADR 0008), a fact at or below its stream's version is left aside: each
    stream reaches a participant's partition in version order (one source partition per stream,
    one repartition key per participant)."""

    model_config = ConfigDict(frozen=True)

    evidence: Evidence
    versions: dict[str, int] = Field(default_factory=dict)

    def first_delivery(self, stream_id: str, version: int) -> bool:
        return version > self.versions.get(stream_id, -1)

    def after(self, stream_id: str, version: int, evidence: Evidence) -> str:
        """The JSON the table keeps after the fact at `version` of `stream_id`."""
        versions = {**self.versions, stream_id: version}
        return Held(evidence=evidence, versions=versions).model_dump_json()


class Resources:
    """What the worker opens once, lazily, on the app's event loop: the recommender's store, the
    key store, the read model and the issuing step."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self._opened: asyncio.Future[tuple[EventStore, KeyStore, ReadModel, Issuing]] | None = None

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


def participant_key(value: bytes) -> str:
    """The participant a published record is about (the repartition key); `NO_PARTICIPANT`
    for the others."""
    try:
        data = json.loads(value)
    except ValueError:
        return NO_PARTICIPANT
    found = data.get("participant_id") if isinstance(data, dict) else None
    return found if isinstance(found, str) else NO_PARTICIPANT


def _headers(raw: Any) -> Sequence[tuple[str, bytes]]:
    return list(raw.items()) if isinstance(raw, dict) else list(raw or ())


def create_app(settings: WorkerSettings, registry: CollectorRegistry | None = None) -> faust.App:
    """The faust app: the issuing agent, its table, and the read side's feeds as a task."""
    if settings.kafka_bootstrap is None:
        raise SystemExit("BVB_KAFKA_BOOTSTRAP is not set: the worker reads Kafka")
    app_id = settings.recommender_worker_app_id
    connection = settings.kafka_connection()
    partitions = settings.recommender_worker_partitions
    app = faust.App(
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

    @app.agent(sources)
    async def issue(stream: faust.StreamT[Any]) -> None:
        # Every record is repartitioned, and what `Evidence` does not fold is skipped after it: a
        # `filter` before `group_by` would run after it anyway (faust moves a stream's
        # processors to the grouped stream), and a key function that fails is logged as an
        # error per record. Records about no participant (career events: public facts) go to
        # one partition under `NO_PARTICIPANT`.
        grouped = stream.group_by(participant_key, name="participant", topic=by_participant)
        async for event in grouped.events():
            recorded = decode_record(event.value, _headers(event.headers))
            if recorded.type not in FACTS:
                continue
            _store, _keys, read_model, issuing = await resources.get()
            fact = decode(recorded)
            assert isinstance(fact, FACT_TYPES)
            key = str(fact.participant_id)
            raw = evidence_table.get(key)
            held = (
                Held(evidence=evidence_fold.initial(fact.participant_id))
                if raw is None
                else (Held.model_validate_json(raw))
            )
            if not held.first_delivery(recorded.stream_id, recorded.version):
                redelivered.inc()
                continue
            catalogue = ReadModelCatalogue(read_model)
            evolved = await issuing.apply(held.evidence, fact, catalogue, recorded.event_id)
            evidence_table[key] = held.after(recorded.stream_id, recorded.version, evolved)
            facts_in.inc()

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

    app.task(read_side)

    async def read_model() -> ReadModel:
        return (await resources.get())[2]

    worker_insights.install(app, list(settings.recommender_worker_topics), partitions, read_model)
    return app


def main() -> int:
    configure_logging()
    settings = WorkerSettings()
    registry = CollectorRegistry()
    if settings.recommender_worker_metrics_port:
        start_http_server(
            settings.recommender_worker_metrics_port, settings.host, registry=registry
        )
    app = create_app(settings, registry)
    worker = faust.Worker(app, loglevel="INFO", override_logging=False)
    worker.execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main())
