"""The Kafka feed: a consumer group (plain aiokafka, see docs/adr/0008) feeding one projection.

- The read model, not the broker, knows where each partition resumes: on every assignment the
  feed seeks to the offsets stored with the read model, so a lost or wrong offset commit in the
  broker can never skip an event (offsets are committed to Kafka too, for lag tooling only).
- Each partition has a worker that applies the partition's records of one poll — and of the
  polls queued behind it, when it fell behind (ADR 0093) — in one read-model transaction,
  checkpoint included (see `projector`); partitions are independent (a stream lives in one), so
  their transactions run side by side while the next records are fetched and decoded (by the
  fetch loop, ADR 0093). A zombie that lost its partition in a rebalance finds the stored
  checkpoint moved and re-seeks instead of applying anything.
- A version gap is re-read from the stored checkpoint after a pause (a stream's missing event may
  still be on its way, e.g. on another partition after a repartitioning), `gap_retries` times;
  if it persists, the event is parked in `<topic>.dlq` and its stream with it.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from bilet.kafka import KafkaConnection, KafkaTarget
from bilet.projections.decode import decoder_for
from bilet.projections.kafka.partition import (
    AssignedPartition,
    deliveries_of,
    fetched_to,
    forget,
    next_batch,
)
from bilet.projections.kafka.settings import FeedSettings
from bilet.projections.kafka.topics import (
    DeadLetterTopic,
    ensure_dlq_topics,
    partitions_of,
    source_of_topic,
)
from bilet.projections.metrics import ProjectionMetrics
from bilet.projections.port import Projection, declared_event_fields
from bilet.projections.projector import Applied, Delivery, Gap, Moved, Projector
from bilet.projections.readmodel import ReadModel

_log = logging.getLogger(__name__)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, feed: "KafkaFeed") -> None:
        self._feed = feed

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        await self._feed._revoke(revoked)

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        await self._feed._assign(assigned)


class KafkaFeed:
    """Feeds one projection from Kafka topics: `run()` in a consumer group until cancelled, or
    `catch_up(targets)` over every partition (no group) until the stored checkpoints reach the
    targets and the partitions' ends as of the call (a rebuild's replay). `settings` (default:
    `BVB_PROJECTION_FEED_*` from the environment) set the consumer's fetch wait (ADR 0096);
    `consumer_options` override any consumer option."""

    def __init__(
        self,
        read_model: ReadModel,
        projection: Projection,
        *,
        bootstrap_servers: KafkaTarget,
        topics: Sequence[str],
        group_id: str | None = None,
        group_instance_id: str | None = None,
        metrics: ProjectionMetrics | None = None,
        shadow: bool = False,
        max_records: int = 2000,
        gap_retries: int = 3,
        gap_backoff: float = 0.2,
        attempts: int = 3,
        commit_interval: float = 5.0,
        retry_backoff: float = 1.0,
        consumer_options: Mapping[str, Any] | None = None,
        sources: Mapping[str, str] | None = None,
        settings: FeedSettings | None = None,
    ) -> None:
        self.read_model = read_model
        self.projection = projection
        # Only what the projection reads is decoded (ADR 0067).
        self._decode = decoder_for(declared_event_fields(projection))
        self.bootstrap_servers = bootstrap_servers
        self.connection = KafkaConnection.of(bootstrap_servers)
        self.topics = list(topics)
        self.group_id = group_id or f"bilet.projection.{projection.name}"
        self.group_instance_id = group_instance_id
        self.metrics = metrics or ProjectionMetrics()
        self.shadow = shadow
        self.max_records = max_records
        self.gap_retries = gap_retries
        self.gap_backoff = gap_backoff
        self.attempts = attempts
        self.commit_interval = commit_interval
        self.retry_backoff = retry_backoff
        # `BVB_PROJECTION_FEED_*` (ADR 0096), under what the caller asks for.
        self.settings = settings or FeedSettings()
        self.consumer_options = {
            **self.settings.consumer_options(),
            **(consumer_options or {}),
        }
        # Which source (service) each topic carries: positions and stream ids are the source's.
        self.sources = {topic: source_of_topic(topic) for topic in self.topics}
        self.sources.update(sources or {})
        self.projector: Projector | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()  # assignment changes
        self._partitions: dict[TopicPartition, AssignedPartition] = {}
        self._unresolved: set[TopicPartition] = set()  # assigned, stored offset not loaded yet
        self._failure: BaseException | None = None
        self._last_commit = time.monotonic()
        self._group = False
        self._progressed = asyncio.Event()  # a worker finished a batch (or gave up on one)

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        """Consume in the group until cancelled."""
        try:
            # Inside the try: a cancellation while starting must still close what was started.
            await self._start(group=True)
            await self._loop(lambda: False)
        finally:
            await self._stop()

    async def catch_up(self, targets: Mapping[tuple[str, int], int]) -> None:
        """Apply every partition of the topics until each stored checkpoint reaches both its
        target (by (topic, partition)) and the partition's end offset as of now."""
        try:
            await self._start(group=False)
            consumer = self._consumer
            assert consumer is not None
            partitions = await partitions_of(self.connection, self.topics)
            consumer.assign(partitions)
            await self._assign(partitions)
            ends = await consumer.end_offsets(partitions)
            goal = {
                tp: max(ends[tp], targets.get((tp.topic, tp.partition), 0)) for tp in partitions
            }
            await self._loop(
                lambda: all(self._offset(tp) >= goal[tp] for tp in goal),
                lambda: not self._unresolved and fetched_to(self._partitions, goal),
            )
        finally:
            await self._stop()

    def _offset(self, tp: TopicPartition) -> int:
        partition = self._partitions.get(tp)
        return -1 if partition is None else partition.offset

    async def _start(self, *, group: bool) -> None:
        await ensure_dlq_topics(self.connection, self.topics)
        self._group = group
        self._failure = None
        self._producer = self.connection.producer(enable_idempotence=True, acks="all")
        await self._producer.start()
        self.projector = Projector(
            self.read_model,
            self.projection,
            dead_letters=DeadLetterTopic(self._producer, self.projection.name),
            metrics=self.metrics,
            shadow=self.shadow,
            attempts=self.attempts,
        )
        await self.projector.install()
        self._consumer = self.connection.consumer(**self.consumer_settings(group=group))
        if group:
            self._consumer.subscribe(self.topics, listener=_Rebalance(self))
        await self._consumer.start()

    def consumer_settings(self, *, group: bool) -> dict[str, Any]:
        """What the feed's aiokafka consumer is built with: in the group (`run`) or not
        (`catch_up`)."""
        options: dict[str, Any] = {
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "isolation_level": "read_committed",
            "max_partition_fetch_bytes": 4 << 20,
            **self.consumer_options,
        }
        if group:
            options["group_id"] = self.group_id
            options["group_instance_id"] = self.group_instance_id
        return options

    async def _stop(self) -> None:
        await self._drop(list(self._partitions))
        if self._consumer is not None:
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()
        self._consumer = self._producer = None

    # ------------------------------------------------------------------ fetching

    async def _loop(
        self, done: Callable[[], bool], fetched: Callable[[], bool] = lambda: False
    ) -> None:
        """Fetch until `done()`. While `fetched()` (a catch-up has queued everything up to its
        goal), wait for the workers instead of the broker: a poll with nothing left to fetch
        returns only when its timeout runs out, up to half a second after the last batch
        (ADR 0093)."""
        consumer = self._consumer
        assert consumer is not None
        while True:
            # Cleared before `done()` is asked: a batch finished after it sets it again.
            self._progressed.clear()
            if done():
                break
            if self._failure is not None:
                raise self._failure
            try:
                if self._unresolved:
                    async with self._lock:
                        await self._resolve()
                self._resume_due()
                if fetched():
                    # Bounded, in case a partition moves without its worker finishing a batch.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(
                            self._progressed.wait(), self._poll_timeout_ms() / 1000
                        )
                    continue
                batch = await consumer.getmany(
                    timeout_ms=self._poll_timeout_ms(), max_records=self.max_records
                )
                # The epoch each poll was fetched in, taken before the first await below: a
                # worker may seek its partition while the loop waits to queue another's poll,
                # and a poll fetched before that seek must be dropped, not applied from the
                # sought checkpoint with a hole before it (ADR 0093).
                polls = [
                    (tp, partition, partition.epoch, records)
                    for tp, records in batch.items()
                    if (partition := self._partitions.get(tp)) is not None
                ]
                for tp, partition, epoch, records in polls:
                    if (
                        epoch != partition.epoch
                        or tp in self._unresolved
                        or self._partitions.get(tp) is not partition  # revoked meanwhile
                    ):
                        continue
                    partition.fetched = records[-1].offset + 1
                    # Decoded here, not by the worker: the fetch loop decodes the next poll
                    # while the workers wait for PostgreSQL (ADR 0093). Waits while the
                    # partition's worker is two polls behind.
                    await partition.queue.put((epoch, deliveries_of(records, self._decode)))
                self._report_lag()
                await self._commit_offsets()
            except KafkaError as error:
                _log.warning("projection %s: %r; resuming from the read model", self._name, error)
                await asyncio.sleep(self.retry_backoff)
                self._unresolved.update(self._partitions)
        if self._failure is not None:
            raise self._failure

    @property
    def _name(self) -> str:
        return self.projection.name

    # ------------------------------------------------------------------ applying

    async def _work(self, tp: TopicPartition, partition: AssignedPartition) -> None:
        """A partition's worker: applies its batches in order, one transaction each."""
        while True:
            epoch, deliveries = await partition.queue.get()
            async with partition.busy:
                if epoch != partition.epoch or tp in self._unresolved or self._failure:
                    continue  # fetched before a seek, or the feed is failing anyway
                try:
                    await self._process(tp, partition, *next_batch(partition, deliveries))
                except Exception as error:
                    if not self.read_model.is_transient(error):
                        self._failure = error  # the fetch loop raises it
                        continue
                    _log.warning(
                        "projection %s: %r; %s resumes from the read model", self._name, error, tp
                    )
                    await asyncio.sleep(self.retry_backoff)
                    self._unresolved.add(tp)
                finally:
                    self._progressed.set()

    async def _process(
        self,
        tp: TopicPartition,
        partition: AssignedPartition,
        deliveries: list[Delivery],
        polls_from: Sequence[int] = (),
    ) -> None:
        expected = partition.offset
        start = 0
        while start < len(deliveries) and deliveries[start].offset < expected:
            start += 1  # read before a seek back to the stored checkpoint: applied already
        if start == len(deliveries):
            return
        projector = self.projector
        assert projector is not None
        outcome = await projector.apply(
            tp.topic,
            tp.partition,
            expected,
            deliveries[start:] if start else deliveries,
            partition.verdicts,
            polls_from=polls_from,
        )
        if isinstance(outcome, Applied):
            partition.offset = outcome.checkpoint
            forget(partition, below=outcome.checkpoint)
        elif isinstance(outcome, Gap):
            partition.offset = outcome.checkpoint
            self._on_gap(tp, partition, outcome)
        else:
            self._on_moved(tp, outcome)

    def _on_gap(self, tp: TopicPartition, partition: AssignedPartition, gap: Gap) -> None:
        consumer = self._consumer
        assert consumer is not None
        offset = gap.delivery.offset
        attempts = partition.gap_attempts[offset] = partition.gap_attempts.get(offset, 0) + 1
        if attempts == 1:
            self.metrics.gaps.labels(self._name).inc()
        _log.info("projection %s: %s at %s offset %d", self._name, gap.reason, tp, offset)
        self._seek(tp, partition, gap.checkpoint)
        if attempts > self.gap_retries:
            partition.verdicts[offset] = (
                "gap",
                f"{gap.reason}; still missing after {self.gap_retries} re-reads",
            )
        else:
            consumer.pause(tp)
            partition.paused_until = time.monotonic() + self.gap_backoff * attempts

    def _on_moved(self, tp: TopicPartition, moved: Moved) -> None:
        _log.info("projection %s: checkpoint of %s moved to %s; re-reading", self._name, tp, moved)
        self._unresolved.add(tp)

    def _seek(self, tp: TopicPartition, partition: AssignedPartition, offset: int) -> None:
        consumer = self._consumer
        assert consumer is not None
        consumer.seek(tp, offset)
        partition.offset = partition.fetched = offset
        partition.epoch += 1

    def _resume_due(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        now = time.monotonic()
        for tp, partition in self._partitions.items():
            if partition.paused_until is not None and partition.paused_until <= now:
                partition.paused_until = None
                consumer.resume(tp)

    def _poll_timeout_ms(self) -> int:
        pauses = [p.paused_until for p in self._partitions.values() if p.paused_until is not None]
        if not pauses:
            return 500
        return max(1, min(500, int((min(pauses) - time.monotonic()) * 1000)))

    # ------------------------------------------------------------------ assignment

    async def _assign(self, assigned: Sequence[TopicPartition]) -> None:
        async with self._lock:
            self._unresolved.update(assigned)
            try:
                await self._resolve()
            except Exception as error:  # retried by the loop; the partitions wait until then
                _log.warning("projection %s: cannot load checkpoints: %r", self._name, error)

    async def _revoke(self, revoked: Sequence[TopicPartition]) -> None:
        async with self._lock:
            await self._drop(revoked)

    async def _drop(self, tps: Sequence[TopicPartition]) -> None:
        for tp in tps:
            self._unresolved.discard(tp)
            partition = self._partitions.pop(tp, None)
            if partition is None:
                continue
            async with partition.busy:  # the batch being applied, if any, finishes first
                if partition.worker is not None:
                    partition.worker.cancel()
            if partition.worker is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await partition.worker
            with contextlib.suppress(KeyError):
                self.metrics.lag.remove(self._name, tp.topic, str(tp.partition))

    async def _resolve(self) -> None:
        """Seek the unresolved partitions to the offsets stored with the read model."""
        consumer = self._consumer
        projector = self.projector
        assert consumer is not None
        assert projector is not None
        by_topic: dict[str, list[int]] = {}
        for tp in self._unresolved:
            by_topic.setdefault(tp.topic, []).append(tp.partition)
        for topic, parts in by_topic.items():
            stored = await projector.resume_points(topic, parts, self.sources[topic])
            for part, offset in stored.items():
                tp = TopicPartition(topic, part)
                self._unresolved.discard(tp)
                if tp not in consumer.assignment():
                    continue
                partition = self._partitions.get(tp)
                if partition is None:
                    partition = self._partitions[tp] = AssignedPartition(offset)
                    partition.worker = asyncio.create_task(self._work(tp, partition))
                async with partition.busy:
                    self._seek(tp, partition, offset)
                    partition.gap_attempts.clear()
                    partition.verdicts.clear()
                    if partition.paused_until is not None:
                        partition.paused_until = None
                        consumer.resume(tp)

    # ------------------------------------------------------------------ reporting

    def _report_lag(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        for tp, partition in self._partitions.items():
            highwater = consumer.highwater(tp)
            if highwater is not None:
                self.metrics.lag.labels(self._name, tp.topic, str(tp.partition)).set(
                    max(0, highwater - partition.offset)
                )

    async def _commit_offsets(self, *, force: bool = False) -> None:
        """Tell the broker how far we are, for lag tooling; never read back."""
        consumer = self._consumer
        if not self._group or consumer is None or not self._partitions:
            return
        now = time.monotonic()
        if not force and now - self._last_commit < self.commit_interval:
            return
        self._last_commit = now
        assignment = consumer.assignment()
        offsets = {tp: p.offset for tp, p in self._partitions.items() if tp in assignment}
        try:
            await consumer.commit(offsets)
        except KafkaError as error:
            _log.debug("projection %s: informational offset commit failed: %r", self._name, error)
