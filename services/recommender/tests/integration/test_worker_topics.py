"""The worker declares its own topics on the real broker before faust starts (ADR 0085): created
with every partition led, left alone when they exist, and a topic with another partition count
stops the worker with the reason."""

import uuid

import pytest
from aiokafka.admin import NewTopic

from bilet.kafka import KafkaConnection
from bilet_recommender.worker_guards import declare_topics

pytestmark = pytest.mark.integration


async def test_missing_topics_are_created_led_and_existing_ones_kept(kafka_bootstrap: str) -> None:
    connection = KafkaConnection(kafka_bootstrap)
    tag = uuid.uuid4().hex[:10]
    topics = {
        f"t-guard-{tag}-{n}": NewTopic(
            f"t-guard-{tag}-{n}",
            num_partitions=3,
            replication_factor=1,
            topic_configs={"cleanup.policy": "compact"} if n else {},
        )
        for n in range(2)
    }
    admin = connection.admin()
    await admin.start()
    try:
        await declare_topics(connection, topics, timeout=60)
        described = {d["topic"]: d for d in await admin.describe_topics(list(topics))}
        for name in topics:
            partitions = described[name]["partitions"]
            assert len(partitions) == 3
            assert all(p["leader"] >= 0 for p in partitions)
        # Again: nothing to create, nothing changed.
        await declare_topics(connection, topics, timeout=60)

        other = {name: NewTopic(name, num_partitions=4, replication_factor=1) for name in topics}
        with pytest.raises(SystemExit, match="has 3 partitions, the worker needs 4"):
            await declare_topics(connection, other, timeout=60)
    finally:
        await admin.delete_topics(list(topics))
        await admin.close()
