"""The projection process: `python -m bilet_portfolio.worker`.

Feeds the portfolio read model from Kafka (topics `bilet.identity`, `bilet.consent`,
`bilet.diagnostics`, `bilet.events`, `bilet.recommender`) in the consumer group
`BVB_PORTFOLIO_GROUP_ID`, with static membership when `BVB_PORTFOLIO_INSTANCE_ID` is set (the pod
name). Scale out by partitions: more workers in the group. SIGTERM or SIGINT stops it; a SIGKILL
loses nothing (checkpoints live in the read model, ADR 0008). Its metrics — applied events,
duplicates, gaps, dead letters, consumer lag — are served on `BVB_PORTFOLIO_WORKER_METRICS_PORT`.
"""

import asyncio
import logging
import signal
import sys

from prometheus_client import CollectorRegistry, start_http_server

from bilet.projections import KafkaFeed, ProjectionMetrics, ReadModel
from bilet_portfolio.adapters.projection import PortfolioProjection
from bilet_portfolio.adapters.stores import open_read_model
from bilet_portfolio.settings import SOURCES, PortfolioSettings, topic_of

_log = logging.getLogger("bilet_portfolio.worker")


def build_feed(
    settings: PortfolioSettings, read_model: ReadModel, metrics: ProjectionMetrics
) -> KafkaFeed:
    if not settings.kafka_bootstrap:
        raise SystemExit("the portfolio worker needs BVB_KAFKA_BOOTSTRAP")
    return KafkaFeed(
        read_model,
        PortfolioProjection(),
        bootstrap_servers=settings.kafka_bootstrap,
        topics=[topic_of(source) for source in SOURCES],
        group_id=settings.portfolio_group_id,
        group_instance_id=settings.portfolio_instance_id,
        metrics=metrics,
    )


async def run(settings: PortfolioSettings) -> int:
    registry = CollectorRegistry()
    metrics = ProjectionMetrics(registry)
    if settings.portfolio_worker_metrics_port:
        start_http_server(settings.portfolio_worker_metrics_port, registry=registry)
    if not settings.kafka_bootstrap:
        raise SystemExit("the portfolio worker needs BVB_KAFKA_BOOTSTRAP")
    read_model = await open_read_model(settings)
    try:
        feed = build_feed(settings, read_model, metrics)
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for stop in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(stop, task.cancel)
        _log.info("feeding the portfolio read model from %s", ", ".join(feed.topics))
        try:
            await feed.run()
        except asyncio.CancelledError:
            _log.info("stopped")
        return 0
    finally:
        await read_model.close()


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return asyncio.run(run(PortfolioSettings()))


if __name__ == "__main__":
    sys.exit(main())
