"""How far the portfolio read model is behind its sources: for `/metrics` and the alert on it
(never for readiness: docs/adr/0022).

- Embedded: per source store, its head position minus the last position the feed handled.
- Kafka (the API beside a separate worker): per topic-partition, the end offset minus the
  checkpoint the worker stored in the read model — what the worker's consumer lag would say,
  measured from the API process, which shares only the read model with it.

Both set `bilet_projection_consumer_lag{projection, topic, partition}` of the process's
`ProjectionMetrics` (a source name stands for the topic on the embedded path, partition 0).
"""

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition

from bilet.eventstore import EventStore
from bilet.kafka import KafkaConnection, KafkaTarget
from bilet.projections import ProjectionMetrics, ReadModel
from bilet.projections.kafka import partitions_of
from bilet_portfolio.settings import PROJECTION_NAME

_log = logging.getLogger(__name__)


class LagProbe(Protocol):
    async def lag(self) -> dict[str, int]:
        """Events (or records) behind, by feed partition (`source` or `topic:partition`)."""
        ...

    async def close(self) -> None: ...


class StoreLag:
    def __init__(
        self, read_model: ReadModel, sources: Mapping[str, EventStore], metrics: ProjectionMetrics
    ) -> None:
        self.read_model = read_model
        self.sources = dict(sources)
        self.metrics = metrics

    async def lag(self) -> dict[str, int]:
        checkpoints = await self.read_model.checkpoints(PROJECTION_NAME)
        behind = {}
        for source, store in self.sources.items():
            head = await store.head_position()
            lag = max(0, head - checkpoints.get((source, 0), 0))
            self.metrics.lag.labels(PROJECTION_NAME, source, "0").set(lag)
            behind[source] = lag
        return behind

    async def close(self) -> None:
        return None


class KafkaLag:
    """End offsets are asked of the broker at most every `refresh` seconds."""

    def __init__(
        self,
        read_model: ReadModel,
        bootstrap_servers: KafkaTarget,
        topics: Sequence[str],
        metrics: ProjectionMetrics,
        *,
        refresh: float = 5.0,
    ) -> None:
        self.read_model = read_model
        self.connection = KafkaConnection.of(bootstrap_servers)
        self.topics = list(topics)
        self.metrics = metrics
        self.refresh = refresh
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        self._ends: dict[TopicPartition, int] = {}
        self._asked = float("-inf")

    async def _end_offsets(self) -> dict[TopicPartition, int]:
        if time.monotonic() - self._asked < self.refresh:
            return self._ends
        if self._consumer is None:
            consumer = self.connection.consumer()
            await consumer.start()
            self._consumer = consumer
        self._partitions = await partitions_of(self.connection, self.topics)
        self._ends = dict(await self._consumer.end_offsets(self._partitions))
        self._asked = time.monotonic()
        return self._ends

    async def lag(self) -> dict[str, int]:
        ends = await self._end_offsets()
        checkpoints = await self.read_model.checkpoints(PROJECTION_NAME)
        behind = {}
        for tp, end in ends.items():
            lag = max(0, end - checkpoints.get((tp.topic, tp.partition), 0))
            self.metrics.lag.labels(PROJECTION_NAME, tp.topic, str(tp.partition)).set(lag)
            behind[f"{tp.topic}:{tp.partition}"] = lag
        return behind

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None


async def keep_sampling(probe: LagProbe, interval: float) -> None:
    """Measure the lag every `interval` seconds (each measurement sets the gauges), until
    cancelled. A measurement that fails (the broker away) is logged when the failures begin and
    when they end, and tried again: the lag is watched, it never stops the API."""
    failing = False
    while True:
        try:
            async with asyncio.timeout(interval * 2):
                await probe.lag()
        except Exception as error:
            if not failing:
                _log.warning(
                    "cannot measure the projection lag; trying again",
                    extra={"error": type(error).__name__, "detail": str(error)[:300]},
                )
            failing = True
        else:
            if failing:
                _log.info("the projection lag is measured again")
            failing = False
        await asyncio.sleep(interval)
