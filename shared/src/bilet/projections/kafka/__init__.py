"""The Kafka feed of the projection runtime (plain aiokafka, see docs/adr/0008): `KafkaFeed` in
`feed`, its partitions' state in `partition`, the topics it reads and dead-letters to in
`topics`, and its `BVB_PROJECTION_FEED_*` settings in `settings`."""

from bilet.projections.kafka.feed import KafkaFeed
from bilet.projections.kafka.settings import FeedSettings
from bilet.projections.kafka.topics import (
    DLQ_SUFFIX,
    TOPIC_PREFIX,
    dlq_topic,
    ensure_dlq_topics,
    partitions_of,
    source_of_topic,
)

__all__ = [
    "DLQ_SUFFIX",
    "TOPIC_PREFIX",
    "FeedSettings",
    "KafkaFeed",
    "dlq_topic",
    "ensure_dlq_topics",
    "partitions_of",
    "source_of_topic",
]
