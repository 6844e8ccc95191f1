"""The relay's topic (ADR 0022): created with safe replication where the relay may create it; in
production (`BVB_RELAY_CREATE_TOPICS=false`) never created, a missing one named and waited for."""

import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka.admin import NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from bilet.kafka import KafkaConnection
from bilet.relay.kafka import KafkaConnector, KafkaOptions, TopicMissingError, ensure_topic
from bilet.relay.settings import RelaySettings

pytestmark = pytest.mark.integration


@pytest.fixture
async def topic(kafka_bootstrap: str) -> AsyncIterator[str]:
    name = f"bilet.topics{uuid.uuid4().hex[:10]}"
    yield name
    admin = KafkaConnection.of(kafka_bootstrap).admin()
    await admin.start()
    try:
        if name in await admin.list_topics():
            await admin.delete_topics([name])
    finally:
        await admin.close()


async def _exists(kafka_bootstrap: str, topic: str) -> bool:
    admin = KafkaConnection.of(kafka_bootstrap).admin()
    await admin.start()
    try:
        return topic in await admin.list_topics()
    finally:
        await admin.close()


async def test_a_relay_that_may_not_create_topics_names_the_missing_one(
    kafka_bootstrap: str, topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BVB_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("BVB_RELAY_CREATE_TOPICS", "false")
    options = RelaySettings().kafka_options()
    with pytest.raises(TopicMissingError, match=f"topic {topic} does not exist"):
        await KafkaConnector(options, "topics", topic=topic)()
    assert not await _exists(kafka_bootstrap, topic)

    # Once declared (here by hand, in a cluster by a KafkaTopic), the same relay publishes.
    admin = KafkaConnection.of(kafka_bootstrap).admin()
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()
    publisher = await KafkaConnector(options, "topics", topic=topic)()
    await publisher.close(timeout=10)


async def test_a_created_topic_keeps_history_and_asks_for_enough_copies(
    kafka_bootstrap: str, topic: str
) -> None:
    # The default replication is three copies, capped by the brokers there are: one locally.
    await ensure_topic(KafkaOptions(bootstrap_servers=kafka_bootstrap, partitions=2), topic)
    admin = KafkaConnection.of(kafka_bootstrap).admin()
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
        (configs,) = await admin.describe_configs(
            [
                ConfigResource(
                    ConfigResourceType.TOPIC,
                    topic,
                    dict.fromkeys(["retention.ms", "retention.bytes", "min.insync.replicas"]),
                )
            ]
        )
    finally:
        await admin.close()
    assert len(described["partitions"]) == 2
    assert {len(p["replicas"]) for p in described["partitions"]} == {1}
    values = {
        entry["config_names"]: entry["config_value"]
        for resource in configs.to_object()["resources"]
        for entry in resource["config_entries"]
    }
    assert values == {"retention.ms": "-1", "retention.bytes": "-1", "min.insync.replicas": "1"}
