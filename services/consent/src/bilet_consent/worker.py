"""The projection process of the distributed mode: `python -m bilet_consent.worker`.

Feeds the consent service's read model of participants' facts from Kafka: identity's topic
(`bilet.identity`: school, region, grade) and the service's own (`bilet.consent`: the erasure
schedule), with the same projection the embedded mode feeds in-process. Runs until SIGTERM/SIGINT.
"""

import asyncio
import logging
import signal
from typing import Final

from bilet.projections import KafkaFeed, ReadModel
from bilet_consent.adapters.stores import open_read_model
from bilet_consent.application.participants import ParticipantFactsProjection
from bilet_consent.settings import ConsentSettings

TOPICS: Final = ("bilet.identity", "bilet.consent")
GROUP: Final = "bilet.consent.participants"

_log = logging.getLogger(__name__)


def build_feed(
    settings: ConsentSettings,
    read_model: ReadModel,
    *,
    topics: dict[str, str] | None = None,
    group_id: str = GROUP,
) -> KafkaFeed:
    """The feed of the service's topics; `topics` (topic → source) replaces them in tests."""
    if settings.kafka_bootstrap is None:
        raise SystemExit("BVB_KAFKA_BOOTSTRAP is not set: the worker reads Kafka")
    return KafkaFeed(
        read_model,
        ParticipantFactsProjection(),
        bootstrap_servers=settings.kafka_bootstrap,
        topics=list(topics or TOPICS),
        group_id=group_id,
        sources=topics,
    )


async def run(settings: ConsentSettings) -> None:
    read_model = await open_read_model(settings)
    try:
        feed = build_feed(settings, read_model)
        task = asyncio.create_task(feed.run())
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            _log.info("consent worker stopped")
    finally:
        await read_model.close()


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    asyncio.run(run(ConsentSettings(consent_embedded_feed=False)))


if __name__ == "__main__":
    main()
