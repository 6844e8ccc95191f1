"""The projection process of the distributed mode: `python -m bilet_identity.worker`.

Follows the consent service's topic (`bilet.consent`): keeps the read model of consents in force
that identity's API reads before it shows health data (`application.consent_state`), and on
`ParticipantErased` purges the erased participant's reservation and profile from identity's store
(`application.erasures`), with the same projection the embedded mode feeds in-process
(`application.consent_feed`). Runs until SIGTERM/SIGINT.
"""

import asyncio
import sys
from typing import Final

from bilet.audit import EventStoreAuditLog
from bilet.logs import configure_logging
from bilet.projections import KafkaFeed, ProjectionMetrics, ReadModel
from bilet.projections.worker import serve_feed
from bilet_identity.adapters.stores import open_event_store, open_read_model
from bilet_identity.application.consent_feed import ConsentFeedProjection
from bilet_identity.application.erasures import Release, ReservationRelease
from bilet_identity.settings import KURRENTDB_CANNOT_ERASE, IdentitySettings

TOPICS: Final = ("bilet.consent",)
GROUP: Final = "bilet.identity.consent"


def build_feed(
    settings: IdentitySettings,
    read_model: ReadModel,
    release: Release,
    *,
    topics: dict[str, str] | None = None,
    group_id: str = GROUP,
    metrics: ProjectionMetrics | None = None,
) -> KafkaFeed:
    """The feed of consent's topic; `topics` (topic → source) replaces it in tests."""
    if settings.kafka_bootstrap is None:
        raise SystemExit("BVB_KAFKA_BOOTSTRAP is not set: the worker reads Kafka")
    return KafkaFeed(
        read_model,
        ConsentFeedProjection(release),
        bootstrap_servers=settings.kafka_connection(),
        topics=list(topics or TOPICS),
        group_id=group_id,
        sources=topics,
        metrics=metrics,
    )


async def run(settings: IdentitySettings) -> int:
    if settings.kafka_bootstrap is None:
        raise SystemExit("BVB_KAFKA_BOOTSTRAP is not set: the worker reads Kafka")
    if settings.event_store == "kurrentdb":
        raise SystemExit(KURRENTDB_CANNOT_ERASE)
    # The store and its audit trail only: the worker holds neither the key store's master key
    # nor the pseudonym key (tests/deploy checks that a worker is given neither).
    store = await open_event_store(settings)
    try:
        release = ReservationRelease(store, EventStoreAuditLog(store))
        return await serve_feed(
            lambda: open_read_model(settings),
            lambda read_model, metrics: build_feed(settings, read_model, release, metrics=metrics),
            metrics_port=settings.identity_worker_metrics_port,
            metrics_address=settings.host,
        )
    finally:
        await store.close()


def main() -> int:
    configure_logging()
    return asyncio.run(run(IdentitySettings(identity_embedded_feed=False)))


if __name__ == "__main__":
    sys.exit(main())
