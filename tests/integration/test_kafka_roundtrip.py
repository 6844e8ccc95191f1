"""The broker is a real Apache Kafka: idempotent keyed produce with headers, a group commit."""

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

pytestmark = pytest.mark.integration


async def test_keyed_messages_with_headers_round_trip_through_a_consumer_group(
    kafka_bootstrap: str,
) -> None:
    topic = f"smoke-{uuid.uuid4().hex[:12]}"
    group = f"smoke-group-{uuid.uuid4().hex[:12]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
        cluster = await admin.describe_cluster()
        assert cluster["brokers"], "the broker describes itself"
    finally:
        await admin.close()

    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, enable_idempotence=True, acks="all"
    )
    await producer.start()
    sent: dict[str, list[int]] = {}
    try:
        for stream in ("participant-a", "participant-b", "participant-c"):
            for version in range(5):
                metadata = await producer.send_and_wait(
                    topic,
                    key=stream.encode(),
                    value=f'{{"version": {version}}}'.encode(),
                    headers=[("ce_type", b"SmokeTested"), ("ce_id", uuid.uuid4().hex.encode())],
                )
                sent.setdefault(stream, []).append(metadata.partition)
    finally:
        await producer.stop()
    # Same key, same partition: the per-stream order the relay will rely on.
    assert all(len(set(partitions)) == 1 for partitions in sent.values())

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    received: dict[str, list[int]] = {}
    try:
        while sum(len(v) for v in received.values()) < 15:
            batch = await consumer.getmany(timeout_ms=10_000)
            assert batch, "the consumer received nothing within 10 s"
            for records in batch.values():
                for record in records:
                    assert record.key is not None
                    assert dict(record.headers)["ce_type"] == b"SmokeTested"
                    version = int(record.value.decode().split(":")[1].strip(" }"))
                    received.setdefault(record.key.decode(), []).append(version)
        await consumer.commit()
        committed = {
            tp.partition: await consumer.committed(tp)
            for tp in (TopicPartition(topic, p) for p in range(3))
        }
    finally:
        await consumer.stop()

    assert received == {stream: list(range(5)) for stream in sent}
    assert sum(offset or 0 for offset in committed.values()) == 15

    # A new member of the same group resumes from the committed offsets: nothing is read twice.
    again = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False
    )
    await again.start()
    try:
        assert await again.getmany(timeout_ms=2_000) == {}
    finally:
        await again.stop()
