"""One factory for the services' projection workers (`python -m bilet_<service>.worker`): a
Kafka feed of the service's topics into its read-side projection, served by
`bilet.projections.worker.serve_feed` until SIGTERM/SIGINT.

Consent's, diagnostics' and events' workers differ only in what `ProjectionWorker` holds (the
projection, the topics, the consumer group, where the read model is and on which port the
metrics are served); how a read model is opened and a feed is built, checked and run is here once.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from bilet import stores
from bilet.logs import configure_logging
from bilet.projections import KafkaFeed, Projection, ProjectionMetrics, ReadModel
from bilet.projections.worker import kafka_feed, serve_feed
from bilet.settings import PlatformSettings

S = TypeVar("S", bound=PlatformSettings)


@dataclass(frozen=True)
class ProjectionWorker(Generic[S]):
    """`service`'s projection worker: `projection` fed from `topics` as consumer group
    `group_id` into the service's read model, with `/metrics` on `metrics_port(settings)`
    (0: none)."""

    service: str
    projection: Projection
    topics: tuple[str, ...]
    group_id: str
    metrics_port: Callable[[S], int]

    async def open_read_model(self, settings: S) -> ReadModel:
        """`var/<service>-readmodel.sqlite3`, or PostgreSQL schema `bvb_<service>_rm`."""
        return await stores.open_read_model(settings, self.service)

    def build_feed(
        self,
        settings: S,
        read_model: ReadModel,
        *,
        topics: dict[str, str] | None = None,
        group_id: str | None = None,
        metrics: ProjectionMetrics | None = None,
    ) -> KafkaFeed:
        """The feed of the service's topics; `topics` (topic → source) and `group_id` replace
        them in tests."""
        return kafka_feed(
            settings,
            read_model,
            self.projection,
            topics=self.topics,
            group_id=group_id or self.group_id,
            sources=topics,
            metrics=metrics,
        )

    async def run(self, settings: S) -> int:
        """Feed until a stop signal; 0 after a clean stop."""
        if settings.kafka_bootstrap is None:
            raise SystemExit("BVB_KAFKA_BOOTSTRAP is not set: the worker reads Kafka")
        return await serve_feed(
            lambda: self.open_read_model(settings),
            lambda read_model, metrics: self.build_feed(settings, read_model, metrics=metrics),
            metrics_port=self.metrics_port(settings),
            metrics_address=settings.host,
        )

    def main(self, settings: Callable[[], S]) -> int:
        """The process's entry: JSON logs, the settings from the environment, run."""
        configure_logging()
        return asyncio.run(self.run(settings()))
