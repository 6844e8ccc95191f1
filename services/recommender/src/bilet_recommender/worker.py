"""The recommender's worker, `python -m bilet_recommender.worker` (ADR 0038): a faust-streaming app
that issues recommendations from Kafka, beside the kernel feed of the read side the API reads.

- Issuing (faust): an agent over `bilet.identity`, `bilet.consent`, `bilet.diagnostics` and
  `bilet.events` repartitions the facts about a participant by participant id (`group_by` into
  `<app id>-facts-by-participant`), and per participant folds them into a table keyed by
  participant holding `Evidence` JSON (changelog `<app id>-evidence-changelog`), running the
  issuing step (`application/issuing.py`): every set is an append to the recommender's own event
  store with its derived id as event id, so a redelivery after a crash or a rebalance is the
  store's idempotent retry. `processing_guarantee="at_least_once"`, never `exactly_once` (ADR
  0036). Tables and topics carry ids, levels, scores and sealed values only: no readable
  personal data (the repartition topic forwards the published records as they are).
- Read side (kernel, ADR 0008): `EVIDENCE_PROJECTION` fed from the same topics and from the
  recommender's own store (coordinators' opportunities, the sets issued) into the read model
  (`rec_evidence`, `rec_offers`): what the API reads, and the catalogue the issuing step offers.

Runs until SIGTERM/SIGINT; serves its metrics on `BVB_RECOMMENDER_WORKER_METRICS_PORT`.
"""

import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, cast

import faust
from prometheus_client import CollectorRegistry, Counter, start_http_server
from pydantic import Field

from bilet import stores
from bilet.contracts import decode
from bilet.crypto import KeyStore
from bilet.eventstore import EventStore
from bilet.logs import configure_logging
from bilet.projections import EmbeddedFeed, KafkaFeed, ProjectionMetrics, ReadModel
from bilet.projections.decode import decode as decode_record
from bilet.settings import PlatformSettings
from bilet_recommender.adapters.evidence_projection import (
    EVIDENCE_PROJECTION,
    OWN_EVENT_TYPES,
    RECOMMENDER,
    ReadModelCatalogue,
    load_evidence,
)
from bilet_recommender.adapters.tables import current_rules
from bilet_recommender.application.issuing import Issuing
from bilet_recommender.domain import evidence as evidence_fold
from bilet_recommender.domain.evidence import FACT_TYPES

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

_log = logging.getLogger(__name__)


class WorkerSettings(PlatformSettings):
    """The platform's `BVB_*` settings and the worker's own."""

    # The recommender's event store schema (the API's `BVB_RECOMMENDER_STORE_SCHEMA`).
    recommender_store_schema: str = "bvb_recommender"
    # The read model's PostgreSQL schema (default `bvb_recommender_rm`, as the API's).
    recommender_worker_read_model_schema: str | None = None
    # `/metrics` on this port (0: none).
    recommender_worker_metrics_port: int = Field(default=9106, ge=0, le=65535)
    # The faust app id: its consumer group and the prefix of the topics it creates.
    recommender_worker_app_id: str = "bilet-recommender"
    # Partitions of the repartition topic and the table's changelog (they must be equal).
    recommender_worker_partitions: int = Field(default=6, ge=1, le=256)
    # Where faust keeps its local files (the pod's writable /tmp in Kubernetes).
    recommender_worker_datadir: Path = Path("var/recommender-faust")
    # topic → source service (tests use fresh topics); default: the four `bilet.<service>`.
    recommender_worker_topics: dict[str, str] = Field(default_factory=lambda: dict(TOPICS))
    # The kernel feed's consumer group (the read side).
    recommender_worker_feed_group: str = "bilet.recommender.evidence"
    # The moment the issuing step judges consents and dates at (tests; None: the clock).
    recommender_worker_as_of: datetime | None = None


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


def participant_key(value: bytes) -> str:
    """The participant a published fact is about (the repartition key)."""
    return str(json.loads(value)["participant_id"])


def _headers(raw: Any) -> Sequence[tuple[str, bytes]]:
    return list(raw.items()) if isinstance(raw, dict) else list(raw or ())


def create_app(settings: WorkerSettings, registry: CollectorRegistry | None = None) -> faust.App:
    """The faust app: the issuing agent, its table, and the read side's feed as a task."""
    if settings.kafka_bootstrap is None:
        raise SystemExit("BVB_KAFKA_BOOTSTRAP is not set: the worker reads Kafka")
    app_id = settings.recommender_worker_app_id
    partitions = settings.recommender_worker_partitions
    app = faust.App(
        app_id,
        broker=[f"kafka://{host}" for host in settings.kafka_bootstrap.split(",")],
        store="memory://",
        processing_guarantee="at_least_once",
        topic_partitions=partitions,
        consumer_auto_offset_reset="earliest",
        datadir=str(settings.recommender_worker_datadir),
        web_enabled=False,
    )
    resources = Resources(settings)
    registry = registry or CollectorRegistry()
    facts_in = Counter(
        "bilet_recommender_facts", "Facts folded into evidence by the worker.", registry=registry
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
    evidence_table = app.Table(
        "evidence", partitions=partitions, key_serializer="json", value_serializer="raw"
    )

    @app.agent(sources)
    async def issue(stream: faust.StreamT[Any]) -> None:
        def is_fact(value: bytes) -> bool:
            event = stream.current_event
            headers = dict(_headers(None if event is None else event.headers))
            kind = headers.get("ce_type", b"").decode()
            return kind in FACTS

        # faust types a filter as T -> T (a predicate in fact), and StreamT declares no filter.
        facts = cast(faust.Stream[bytes], stream).filter(is_fact)  # type: ignore[misc]
        grouped = facts.group_by(participant_key, name="participant", topic=by_participant)
        async for event in grouped.events():
            _store, _keys, read_model, issuing = await resources.get()
            recorded = decode_record(event.value, _headers(event.headers))
            fact = decode(recorded)
            assert isinstance(fact, FACT_TYPES)
            key = str(fact.participant_id)
            raw = evidence_table.get(key)
            evidence = (
                evidence_fold.initial(fact.participant_id) if raw is None else load_evidence(raw)
            )
            catalogue = ReadModelCatalogue(read_model)
            evolved = await issuing.apply(evidence, fact, catalogue, recorded.event_id)
            if evolved != evidence:
                evidence_table[key] = evolved.model_dump_json().encode()
            facts_in.inc()

    async def read_side() -> None:
        store, _keys, read_model, _issuing = await resources.get()
        kafka = KafkaFeed(
            read_model,
            EVIDENCE_PROJECTION,
            bootstrap_servers=settings.kafka_connection(),
            topics=list(settings.recommender_worker_topics),
            group_id=settings.recommender_worker_feed_group,
            sources=settings.recommender_worker_topics,
            metrics=metrics,
        )
        own = EmbeddedFeed(
            read_model,
            EVIDENCE_PROJECTION,
            {RECOMMENDER: store},
            event_types=OWN_EVENT_TYPES,
            metrics=metrics,
        )
        await asyncio.gather(kafka.run(), own.run())

    app.task(read_side)
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
