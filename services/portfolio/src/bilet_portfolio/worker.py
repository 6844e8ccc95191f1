"""The projection process: `python -m bilet_portfolio.worker`.

Feeds the portfolio read model from Kafka (topics `bilet.identity`, `bilet.consent`,
`bilet.diagnostics`, `bilet.events`, `bilet.recommender`) in the consumer group
`BVB_PORTFOLIO_GROUP_ID`, with static membership when `BVB_PORTFOLIO_INSTANCE_ID` is set (the pod
name). Scale out by partitions: more workers in the group. SIGTERM or SIGINT stops it; a SIGKILL
loses nothing (checkpoints live in the read model, ADR 0008). It refuses to start on tables
built by an older layout of the projection (`bvb portfolio rebuild --from kafka` first). Its
metrics — applied events, duplicates, gaps, dead letters, consumer lag — are served on
`BVB_PORTFOLIO_WORKER_METRICS_PORT`.
"""

import asyncio
import sys

from bilet.logs import configure_logging
from bilet.projections import KafkaFeed, ProjectionMetrics, ReadModel
from bilet.projections.worker import serve_feed
from bilet_portfolio.adapters import layout
from bilet_portfolio.adapters.projection import PortfolioProjection
from bilet_portfolio.adapters.stores import open_read_model
from bilet_portfolio.settings import SOURCES, PortfolioSettings, topic_of


def build_feed(
    settings: PortfolioSettings, read_model: ReadModel, metrics: ProjectionMetrics
) -> KafkaFeed:
    if not settings.kafka_bootstrap:
        raise SystemExit("the portfolio worker needs BVB_KAFKA_BOOTSTRAP")
    return KafkaFeed(
        read_model,
        PortfolioProjection(),
        bootstrap_servers=settings.kafka_connection(),
        topics=[topic_of(source) for source in SOURCES],
        group_id=settings.portfolio_group_id,
        group_instance_id=settings.portfolio_instance_id,
        metrics=metrics,
    )


async def run(settings: PortfolioSettings) -> int:
    if not settings.kafka_bootstrap:
        raise SystemExit("the portfolio worker needs BVB_KAFKA_BOOTSTRAP")
    read_model = await open_read_model(settings)
    try:
        if await layout.outdated(read_model, PortfolioProjection()):
            raise SystemExit(
                "the portfolio read model was built by an older layout of the projection: "
                "run `bvb portfolio rebuild --from kafka`, then start the worker"
            )
    finally:
        await read_model.close()
    return await serve_feed(
        lambda: open_read_model(settings),
        lambda read_model, metrics: build_feed(settings, read_model, metrics),
        metrics_port=settings.portfolio_worker_metrics_port,
        metrics_address=settings.host,
    )


def main() -> int:
    configure_logging()
    return asyncio.run(run(PortfolioSettings()))


if __name__ == "__main__":
    sys.exit(main())
