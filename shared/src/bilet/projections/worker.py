"""The projection worker process: one Kafka feed, run until SIGTERM or SIGINT, with its
Prometheus metrics (applied events, duplicates, gaps, dead letters, lag per partition) served on a
port of its own and JSON logs. Services' `worker.py` modules build their feed and hand it here,
so every worker stops, logs and reports alike. Once started, the process tunes its garbage
collector for the feed (`bilet.projections.collector`, ADR 0074).
"""

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, start_http_server

from bilet.projections.collector import tune_collector
from bilet.projections.kafka import KafkaFeed
from bilet.projections.metrics import ProjectionMetrics
from bilet.projections.port import Projection
from bilet.projections.readmodel import ReadModel
from bilet.settings import PlatformSettings

_log = logging.getLogger(__name__)

FeedFactory = Callable[[ReadModel, ProjectionMetrics], KafkaFeed]


async def serve_feed(
    open_read_model: Callable[[], Awaitable[ReadModel]],
    build_feed: FeedFactory,
    *,
    metrics_port: int = 0,
    metrics_address: str = "127.0.0.1",
) -> int:
    """Open the read model, build the feed and run it until a stop signal; 0 after a clean stop.
    `metrics_port` 0 serves no metrics; `metrics_address` is the process's BVB_HOST."""
    registry = CollectorRegistry()
    metrics = ProjectionMetrics(registry)
    server = None
    if metrics_port:
        server, _ = start_http_server(metrics_port, metrics_address, registry=registry)
    read_model = await open_read_model()
    try:
        feed = build_feed(read_model, metrics)
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for stop in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(stop, task.cancel)
        tune_collector()  # start-up is done: what exists now lives as long as the process
        _log.info(
            "projection worker started",
            extra={"projection": feed.projection.name, "topics": list(feed.topics)},
        )
        try:
            await feed.run()
        except asyncio.CancelledError:
            _log.info("projection worker stopped", extra={"projection": feed.projection.name})
        return 0
    finally:
        await read_model.close()
        if server is not None:
            server.shutdown()


def kafka_feed(
    settings: PlatformSettings,
    read_model: ReadModel,
    projection: Projection,
    *,
    topics: tuple[str, ...],
    group_id: str,
    sources: dict[str, str] | None = None,
    metrics: ProjectionMetrics | None = None,
) -> KafkaFeed:
    """A service worker's feed of its topics into `projection`, with the platform's Kafka
    connection; `sources` (topic → source) replaces `topics` in tests."""
    if settings.kafka_bootstrap is None:
        raise SystemExit("BVB_KAFKA_BOOTSTRAP is not set: the worker reads Kafka")
    return KafkaFeed(
        read_model,
        projection,
        bootstrap_servers=settings.kafka_connection(),
        topics=list(sources or topics),
        group_id=group_id,
        sources=sources,
        metrics=metrics,
    )
