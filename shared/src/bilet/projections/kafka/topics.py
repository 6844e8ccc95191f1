"""The Kafka topics of the projection runtime: which source a topic carries, its dead-letter
topic `<topic>.dlq` (created here, written by `DeadLetterTopic`), and a topic's partitions.

Dead letters keep the record's key, value and headers and add `bvb_dlq_kind`, `bvb_dlq_reason`,
`bvb_dlq_projection`, `bvb_dlq_topic`, `bvb_dlq_partition`, `bvb_dlq_offset`.
"""

import contextlib
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from bilet.kafka import KafkaConnection, KafkaTarget
from bilet.projections.port import ReadModelTx
from bilet.projections.projector import Delivery

TOPIC_PREFIX = "bilet."
DLQ_SUFFIX = ".dlq"


def dlq_topic(topic: str) -> str:
    return topic + DLQ_SUFFIX


def source_of_topic(topic: str) -> str:
    """`bilet.identity` → `identity`: the service whose store positions the topic carries."""
    return topic.removeprefix(TOPIC_PREFIX)


async def ensure_dlq_topics(bootstrap_servers: KafkaTarget, topics: Sequence[str]) -> None:
    """Create `<topic>.dlq` (one partition, unlimited retention, replicated like a topic should
    be: three times, or on every broker of a smaller cluster) for each topic that lacks one; the
    broker does not create topics by itself."""
    admin = KafkaConnection.of(bootstrap_servers).admin()
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [dlq_topic(t) for t in topics if dlq_topic(t) not in existing]
        if missing:
            brokers = len((await admin.describe_cluster())["brokers"])
            replication = max(1, min(3, brokers))
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [
                        NewTopic(name, 1, replication, topic_configs={"retention.ms": "-1"})
                        for name in missing
                    ]
                )
    finally:
        await admin.close()


async def partitions_of(
    bootstrap_servers: KafkaTarget, topics: Sequence[str]
) -> list[TopicPartition]:
    """Every partition of the topics; a topic that does not exist is an error."""
    admin = KafkaConnection.of(bootstrap_servers).admin()
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    partitions: list[TopicPartition] = []
    for topic in described:
        if topic["error_code"] or not topic["partitions"]:
            raise ValueError(f"topic {topic['topic']!r} cannot be read: {topic['error_code']}")
        partitions.extend(
            TopicPartition(topic["topic"], p["partition"]) for p in topic["partitions"]
        )
    return sorted(partitions)


class DeadLetterTopic:
    """A projector's dead letters, sent to `<topic>.dlq` with the headers listed above."""

    def __init__(self, producer: AIOKafkaProducer, projection: str) -> None:
        self._producer = producer
        self._projection = projection.encode()

    async def __call__(
        self,
        tx: ReadModelTx,
        feed: str,
        part: int,
        delivery: Delivery,
        kind: str,
        reason: str,
    ) -> None:
        record = delivery.record
        headers = [
            *record.headers,
            ("bvb_dlq_kind", kind.encode()),
            ("bvb_dlq_reason", reason.encode()),
            ("bvb_dlq_projection", self._projection),
            ("bvb_dlq_topic", feed.encode()),
            ("bvb_dlq_partition", str(part).encode()),
            ("bvb_dlq_offset", str(delivery.offset).encode()),
        ]
        # Acknowledged before the checkpoint commits: a crash in between, or a transaction
        # rolled back and retried (a joined batch, then its poll, then one event at a time: ADR
        # 0096), sends it again — up to three copies without a crash — never loses it. Its
        # ce_id, or for a record without one its `bvb_dlq_topic`/`bvb_dlq_partition`/
        # `bvb_dlq_offset`, tells the copies apart.
        await self._producer.send_and_wait(
            dlq_topic(feed), key=record.key, value=record.value, headers=headers
        )
