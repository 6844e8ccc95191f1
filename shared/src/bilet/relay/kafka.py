"""The relay's Kafka side: the service topic, and producer sessions that publish windows of events.

Producer settings and why (docs/adr/0007-relay.md):
- `enable_idempotence=True`, `acks="all"`: the broker writes a retried batch once, and a record
  counts as published only when every in-sync replica has it.
- aiokafka sends at most one batch per partition at a time and offers no
  `max.in.flight.requests.per.connection` (its docs: "only 1 batch per partition is sent at a
  time"), so batches of a partition reach the broker in the order they were handed over; the
  idempotent producer's per-partition sequence numbers make the broker refuse a batch that would
  leave a gap. What the broker accepts from one session is therefore, per partition, a gap-free
  prefix of what was handed over.
- aiokafka's idempotent producer never expires a batch: while the broker is away, a delivery waits
  forever (aiokafka#1101, and `stop()` waits with it). The relay bounds every wait itself (its
  delivery timeout), then discards the producer (`abort`) and starts a new one from the stored
  position.
- Records are packed into batches per partition with aiokafka's batch API (`create_batch`,
  `send_batch`) and the default partitioner (murmur2 of the key, as Java clients do), which the
  relay's throughput needs; the key is the stream id, so a stream lives in one partition.
"""

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, ProducerClosed, for_code
from aiokafka.partitioner import DefaultPartitioner

from bilet.contracts.cloudevents import to_record, topic_of
from bilet.eventstore import RecordedEvent
from bilet.kafka import TOPIC_ALREADY_EXISTS, KafkaConnection, KafkaTarget, every_partition_led

_log = logging.getLogger(__name__)

# History must stay replayable: never delete by age or size.
TOPIC_CONFIGS: Final = {"retention.ms": "-1", "retention.bytes": "-1"}
# Copies of every history topic where the cluster has the brokers for it (fewer on a smaller one).
SAFE_REPLICATION: Final = 3


class TopicMissingError(KafkaError):  # type: ignore[misc]
    """The relay may not create its topic (`BVB_RELAY_CREATE_TOPICS=false`, as in production,
    where topics are declared: deploy/k8s/components/kafka-topics) and it does not exist. A
    KafkaError, so the relay keeps retrying (with backoff) until an operator declares it."""


_PARTITION_CACHE_LIMIT: Final = 100_000


@dataclass(frozen=True)
class KafkaOptions:
    # A `KafkaConnection` (security included), or a bare PLAINTEXT `host:port`.
    bootstrap_servers: KafkaTarget
    partitions: int = 6
    # None: three copies, or one per broker of a smaller cluster (a development broker).
    replication_factor: int | None = None
    # False: the topic must exist (declared by the platform); a missing one is named and waited for.
    create_topics: bool = True
    # Bytes per batch and partition; a larger batch means fewer round trips per event.
    max_batch_size: int = 256 * 1024
    linger_ms: int = 0
    # Per request to the broker (also how long the broker may wait for its replicas).
    request_timeout: float = 15.0
    client_id: str | None = None

    @property
    def connection(self) -> KafkaConnection:
        return KafkaConnection.of(self.bootstrap_servers)

    def producer_settings(self) -> dict[str, Any]:
        """The producer's settings, connection included; also the benchmark's raw producer's."""
        return {**self.connection.client_options(), **self.producer_tuning()}

    def producer_tuning(self) -> dict[str, Any]:
        return {
            "enable_idempotence": True,
            "acks": "all",
            "linger_ms": self.linger_ms,
            "max_batch_size": self.max_batch_size,
            "request_timeout_ms": int(self.request_timeout * 1000),
        }


async def ensure_topic(options: KafkaOptions, topic: str) -> None:
    """Create the topic with explicit partitions, replicas and unlimited retention, unless it
    exists (or, with `create_topics` off, insist that it does).

    An existing topic is left as it is: adding partitions would move streams to other partitions
    (and break their order). A topic that deletes old events is reported as an error, loudly, but
    used: what it still holds is better published than nothing.
    """
    admin = options.connection.admin(
        request_timeout_ms=int(options.request_timeout * 1000),
        client_id=options.client_id or "bilet-relay-admin",
    )
    try:
        await admin.start()
        if not options.create_topics:
            (described,) = await admin.describe_topics([topic])
            if described["error_code"] != 0 or not described["partitions"]:
                raise TopicMissingError(
                    f"topic {topic} does not exist and this relay may not create it "
                    "(BVB_RELAY_CREATE_TOPICS=false): declare it (KafkaTopic, "
                    "deploy/k8s/components/kafka-topics)"
                )
            await _check_existing_topic(admin, options, topic)
            return
        replication = options.replication_factor
        if replication is None:
            brokers = len((await admin.describe_cluster())["brokers"])
            replication = max(1, min(SAFE_REPLICATION, brokers))
        response = await admin.create_topics(
            [
                NewTopic(
                    topic,
                    num_partitions=options.partitions,
                    replication_factor=replication,
                    # A write is acknowledged by two copies of three: one broker may be lost.
                    topic_configs={
                        **TOPIC_CONFIGS,
                        "min.insync.replicas": str(max(1, replication - 1)),
                    },
                )
            ]
        )
        ((_, code, message),) = response.topic_errors
        if code == 0:
            await _wait_for_leaders(admin, topic, options.request_timeout)
            _log.info(
                "topic created",
                extra={
                    "topic": topic,
                    "partitions": options.partitions,
                    "replication_factor": replication,
                },
            )
            return
        if code != TOPIC_ALREADY_EXISTS:
            raise for_code(code)(f"creating topic {topic}: {message}")
        await _check_existing_topic(admin, options, topic)
    finally:
        await admin.close()


async def _wait_for_leaders(admin: AIOKafkaAdminClient, topic: str, timeout: float) -> None:
    """A new topic's partitions get their leaders a moment after it is created; the first produce
    to one without a leader would only be retried."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            while True:
                (described,) = await admin.describe_topics([topic])
                if every_partition_led(described):
                    return
                await asyncio.sleep(0.05)


async def _check_existing_topic(
    admin: AIOKafkaAdminClient, options: KafkaOptions, topic: str
) -> None:
    (described,) = await admin.describe_topics([topic])
    partitions = len(described["partitions"])
    if partitions != options.partitions:
        _log.warning(
            "the topic exists with another partition count; kept as it is",
            extra={"topic": topic, "partitions": partitions, "configured": options.partitions},
        )
    (configs,) = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, topic, dict.fromkeys(TOPIC_CONFIGS))]
    )
    for resource in configs.to_object()["resources"]:
        for entry in resource["config_entries"]:
            name, value = entry["config_names"], entry["config_value"]
            if TOPIC_CONFIGS.get(name) != value:
                _log.error(
                    "the topic deletes old events: history on it is not replayable",
                    extra={"topic": topic, "config": name, "value": value},
                )


def _all_acknowledged(batches: Sequence["asyncio.Future[Any]"]) -> "asyncio.Future[None]":
    """Done when every batch is acknowledged, failed with the first error otherwise. Unlike
    `gather`, it retrieves every batch's error, so none is reported as never retrieved."""
    result: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    remaining = len(batches)

    def on_done(batch: "asyncio.Future[Any]") -> None:
        nonlocal remaining
        error = ProducerClosed() if batch.cancelled() else batch.exception()
        if result.done():
            return
        if error is not None:
            result.set_exception(error)
            return
        remaining -= 1
        if remaining == 0:
            result.set_result(None)

    if not batches:
        result.set_result(None)
    for batch in batches:
        batch.add_done_callback(on_done)
    return result


class KafkaPublisher:
    """One idempotent producer session publishing a service's events to its topic."""

    def __init__(
        self, producer: AIOKafkaProducer, service: str, topic: str, partitions: Sequence[int]
    ) -> None:
        self._producer = producer
        self._service = service
        self._topic = topic
        self._partitions = sorted(partitions)
        self._partitioner = DefaultPartitioner()
        self._partition_of_key: dict[bytes, int] = {}

    def _partition(self, key: bytes) -> int:
        partition = self._partition_of_key.get(key)
        if partition is None:
            if len(self._partition_of_key) >= _PARTITION_CACHE_LIMIT:
                self._partition_of_key.clear()
            partition = self._partitioner(key, self._partitions, self._partitions)
            self._partition_of_key[key] = partition
        return partition

    async def publish(self, events: Sequence[RecordedEvent]) -> "asyncio.Future[None]":
        producer, topic, service = self._producer, self._topic, self._service
        open_batches: dict[int, Any] = {}
        sent: list[asyncio.Future[Any]] = []
        for event in events:
            record = to_record(event, service)
            partition = self._partition(record.key)
            batch = open_batches.get(partition)
            if batch is None:
                batch = open_batches[partition] = producer.create_batch()
            timestamp = int(event.recorded_at.timestamp() * 1000)
            appended = batch.append(
                key=record.key, value=record.value, timestamp=timestamp, headers=record.headers
            )
            if appended is None:
                # Full: send it (after the partition's earlier batches) and start the next one,
                # which always takes its first record.
                sent.append(await producer.send_batch(batch, topic, partition=partition))
                batch = open_batches[partition] = producer.create_batch()
                batch.append(
                    key=record.key, value=record.value, timestamp=timestamp, headers=record.headers
                )
        for partition, batch in open_batches.items():
            sent.append(await producer.send_batch(batch, topic, partition=partition))
        return _all_acknowledged(sent)

    async def close(self, timeout: float) -> None:
        try:
            async with asyncio.timeout(timeout):
                await self._producer.flush()
        except TimeoutError:
            _log.warning("closing a producer whose deliveries are still unacknowledged")
            await self.abort(timeout)
            return
        await _stop(self._producer, timeout)

    async def abort(self, timeout: float) -> None:
        await _abandon(self._producer, timeout)


async def _stop(producer: AIOKafkaProducer, timeout: float) -> None:
    """`stop()`, bounded; an old producer that fails to stop must not take the relay with it."""
    try:
        async with asyncio.timeout(timeout):
            await producer.stop()
    except TimeoutError:
        _log.warning("a producer did not stop in time; left to the garbage collector")
    except Exception as error:
        _log.warning(
            "a producer failed to stop; left to the garbage collector",
            extra={"error": type(error).__name__, "detail": str(error)[:300]},
        )


async def _abandon(producer: AIOKafkaProducer, timeout: float) -> None:
    """Stop a producer without waiting for its deliveries.

    `stop()` first waits until every queued batch is delivered, which with an idempotent producer
    and no broker is forever (aiokafka#1101). So: end the sender task first (it finishes or requeues
    the request it has in flight), then fail what is still queued, then `stop()`, which now has
    nothing to wait for. In that order because failing a batch that is still in flight makes the
    sender's requeue raise (a KeyError in `MessageAccumulator.reenqueue`). What was already on the
    wire may still land: the broker takes it in order, or not at all.

    aiokafka has no public abort, so this uses its internals, guarded: without them it degrades to
    the bounded `stop()`.
    """
    sender = getattr(producer, "_sender", None)
    accumulator = getattr(producer, "_message_accumulator", None)
    task = getattr(sender, "sender_task", None)
    if isinstance(task, asyncio.Task) and not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=timeout)
    if accumulator is not None and isinstance(task, asyncio.Task) and task.done():
        queued = [batch for batches in accumulator._batches.values() for batch in batches]
        accumulator.fail_all(ProducerClosed())
        for batch in queued:
            # Nobody waits for these batches to drain any more: mark the failure as seen.
            waiter = getattr(batch, "_drain_waiter", None)
            if isinstance(waiter, asyncio.Future) and waiter.done() and not waiter.cancelled():
                waiter.exception()
    await _stop(producer, timeout)


class KafkaConnector:
    """Starts producer sessions for one service's relay; ensures its topic once."""

    def __init__(self, options: KafkaOptions, service: str, *, topic: str | None = None) -> None:
        self.options = options
        self.service = service
        self.topic = topic or topic_of(service)
        self._topic_ready = False

    async def __call__(self) -> KafkaPublisher:
        options = self.options
        if not self._topic_ready:
            async with asyncio.timeout(options.request_timeout * 2):
                await ensure_topic(options, self.topic)
            self._topic_ready = True
        producer = options.connection.producer(
            **options.producer_tuning(),
            client_id=options.client_id or f"bilet-relay-{self.service}",
        )
        try:
            # start() waits for a producer id for as long as no broker answers: bounded here.
            async with asyncio.timeout(options.request_timeout * 2):
                await producer.start()
                partitions = await producer.partitions_for(self.topic)
        except BaseException:
            with contextlib.suppress(Exception):
                await _abandon(producer, options.request_timeout)
            raise
        return KafkaPublisher(producer, self.service, self.topic, sorted(partitions))
