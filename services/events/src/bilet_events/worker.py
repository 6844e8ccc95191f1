"""The projection process of the distributed mode: `python -m bilet_events.worker`.

Feeds the events service's read model (`adapters/facts.py`) from Kafka: identity's topic
(`bilet.identity`: season rules, schools, participants and their sealed accessibility needs),
consent's (`bilet.consent`: the consent in force, erasures) and the service's own
(`bilet.events`: career events, seats and the waitlist, for the catalogue), with the same
projection the embedded mode feeds in-process. Runs until SIGTERM/SIGINT.
"""

import asyncio
import sys
from typing import Final

from pydantic import Field

from bilet import stores
from bilet.logs import configure_logging
from bilet.projections import KafkaFeed, ProjectionMetrics, ReadModel
from bilet.projections.worker import kafka_feed, serve_feed
from bilet.settings import PlatformSettings
from bilet_events.adapters.facts import FACTS_PROJECTION

SERVICE: Final = "events"
TOPICS: Final = ("bilet.identity", "bilet.consent", "bilet.events")
GROUP: Final = "bilet.events.facts"


class WorkerSettings(PlatformSettings):
    """The platform's `BVB_*` settings and where the worker serves its metrics."""

    # `/metrics` on this port (`BVB_EVENTS_WORKER_METRICS_PORT`; 0: none).
    events_worker_metrics_port: int = Field(default=9101, ge=0, le=65535)


async def open_read_model(settings: PlatformSettings) -> ReadModel:
    """`var/events-readmodel.sqlite3`, or PostgreSQL schema `bvb_events_rm`."""
    return await stores.open_read_model(settings, SERVICE)


def build_feed(
    settings: PlatformSettings,
    read_model: ReadModel,
    *,
    topics: dict[str, str] | None = None,
    group_id: str = GROUP,
    metrics: ProjectionMetrics | None = None,
) -> KafkaFeed:
    """The feed of the three topics; `topics` (topic → source) replaces them in tests."""
    return kafka_feed(
        settings,
        read_model,
        FACTS_PROJECTION,
        topics=TOPICS,
        group_id=group_id,
        sources=topics,
        metrics=metrics,
    )


async def run(settings: WorkerSettings) -> int:
    if settings.kafka_bootstrap is None:
        raise SystemExit("BVB_KAFKA_BOOTSTRAP is not set: the worker reads Kafka")
    return await serve_feed(
        lambda: open_read_model(settings),
        lambda read_model, metrics: build_feed(settings, read_model, metrics=metrics),
        metrics_port=settings.events_worker_metrics_port,
        metrics_address=settings.host,
    )


def main() -> int:
    configure_logging()
    return asyncio.run(run(WorkerSettings()))


if __name__ == "__main__":
    sys.exit(main())
