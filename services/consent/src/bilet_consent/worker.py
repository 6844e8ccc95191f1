"""The projection process of the distributed mode: `python -m bilet_consent.worker`.

Feeds the consent service's read model of participants' facts from Kafka: identity's topic
(`bilet.identity`: school, region, grade) and the service's own (`bilet.consent`: the erasure
schedule and the consents the lists show), with the same projection the embedded mode feeds
in-process. Runs until SIGTERM/SIGINT.
"""

import asyncio
import sys
from typing import Final

from bilet.logs import configure_logging
from bilet.projections import KafkaFeed, ProjectionMetrics, ReadModel
from bilet.projections.worker import kafka_feed, serve_feed
from bilet_consent.adapters.stores import open_read_model
from bilet_consent.application.participants import ParticipantFactsProjection
from bilet_consent.settings import ConsentSettings

TOPICS: Final = ("bilet.identity", "bilet.consent")
GROUP: Final = "bilet.consent.participants"


def build_feed(
    settings: ConsentSettings,
    read_model: ReadModel,
    *,
    topics: dict[str, str] | None = None,
    group_id: str = GROUP,
    metrics: ProjectionMetrics | None = None,
) -> KafkaFeed:
    """The feed of the service's topics; `topics` (topic → source) replaces them in tests."""
    return kafka_feed(
        settings,
        read_model,
        ParticipantFactsProjection(),
        topics=TOPICS,
        group_id=group_id,
        sources=topics,
        metrics=metrics,
    )


async def run(settings: ConsentSettings) -> int:
    if settings.kafka_bootstrap is None:
        raise SystemExit("BVB_KAFKA_BOOTSTRAP is not set: the worker reads Kafka")
    return await serve_feed(
        lambda: open_read_model(settings),
        lambda read_model, metrics: build_feed(settings, read_model, metrics=metrics),
        metrics_port=settings.consent_worker_metrics_port,
        metrics_address=settings.host,
    )


def main() -> int:
    configure_logging()
    return asyncio.run(run(ConsentSettings(consent_embedded_feed=False)))


if __name__ == "__main__":
    sys.exit(main())
