"""Secured Kafka end to end (ADR 0022): the local broker's SASL_SSL listener (TLS + SCRAM-SHA-512)
and SSL listener (mutual TLS), reached only through `bilet.kafka.KafkaConnection`, as every
client of the suite is. Credentials that are wrong, missing or not trusted are refused."""

import asyncio
import dataclasses
import uuid
from pathlib import Path

import pytest
from aiokafka.admin import NewTopic
from aiokafka.errors import KafkaError

from bilet.contracts.cloudevents import topic_of
from bilet.eventstore import RecordedEvent
from bilet.kafka import KafkaConnection
from bilet.projections.testing import history
from bilet.relay.audit import read_topic
from bilet.relay.kafka import KafkaConnector
from bilet.relay.settings import RelaySettings

pytestmark = pytest.mark.integration

# Bounds a refusal that would otherwise be retried forever; a refused login fails long before.
REFUSAL_SECONDS = 30


async def _round_trip(connection: KafkaConnection) -> None:
    topic = f"secured-{uuid.uuid4().hex[:12]}"
    admin = connection.admin()
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    producer = connection.producer(enable_idempotence=True, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, key=b"stream-1", value=b"sealed")
    finally:
        await producer.stop()
    consumer = connection.consumer(topic, auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), REFUSAL_SECONDS)
    finally:
        await consumer.stop()
    assert (record.key, record.value) == (b"stream-1", b"sealed")


async def _refused(connection: KafkaConnection) -> None:
    producer = connection.producer(request_timeout_ms=10_000, metadata_max_age_ms=10_000)
    try:
        with pytest.raises((KafkaError, OSError)) as refused:
            await asyncio.wait_for(producer.start(), REFUSAL_SECONDS)
    finally:
        await producer.stop()
    # Refused by the broker or the TLS handshake, not by a setting this process rejected.
    assert "BVB_KAFKA" not in str(refused.value)


async def test_tls_and_scram_publish_and_consume(scram_kafka: KafkaConnection) -> None:
    await _round_trip(scram_kafka)


async def test_a_wrong_scram_password_is_refused(
    scram_kafka: KafkaConnection, tmp_path: Path
) -> None:
    wrong = tmp_path / "password"
    wrong.write_text("not-the-password\n", encoding="utf-8")
    await _refused(dataclasses.replace(scram_kafka, sasl_password_file=wrong))


async def test_an_unknown_scram_user_is_refused(scram_kafka: KafkaConnection) -> None:
    await _refused(dataclasses.replace(scram_kafka, sasl_username=f"nobody-{uuid.uuid4().hex}"))


async def test_a_broker_certificate_not_signed_by_a_trusted_ca_is_refused(
    scram_kafka: KafkaConnection,
) -> None:
    # The system's trust store does not know the local CA: verification is never switched off.
    await _refused(dataclasses.replace(scram_kafka, ssl_cafile=None))


async def test_mutual_tls_publishes_and_consumes(mtls_kafka: KafkaConnection) -> None:
    await _round_trip(mtls_kafka)


async def test_mutual_tls_without_a_client_certificate_is_refused(
    mtls_kafka: KafkaConnection,
) -> None:
    await _refused(dataclasses.replace(mtls_kafka, ssl_certfile=None, ssl_keyfile=None))


@pytest.fixture
def relay_settings(scram_kafka: KafkaConnection, monkeypatch: pytest.MonkeyPatch) -> RelaySettings:
    """A relay configured the way a deployment configures it: `BVB_KAFKA_*` variables, the
    password as a mounted file."""
    assert scram_kafka.sasl_password_file is not None
    assert scram_kafka.ssl_cafile is not None
    for name, value in {
        "BVB_KAFKA_BOOTSTRAP": scram_kafka.bootstrap_servers,
        "BVB_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "BVB_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "BVB_KAFKA_SASL_USERNAME": scram_kafka.sasl_username or "",
        "BVB_KAFKA_SASL_PASSWORD_FILE": str(scram_kafka.sasl_password_file),
        "BVB_KAFKA_SSL_CAFILE": str(scram_kafka.ssl_cafile),
        "BVB_RELAY_SERVICE": f"secured{uuid.uuid4().hex[:8]}",
    }.items():
        monkeypatch.setenv(name, value)
    return RelaySettings()


async def test_the_relay_publishes_through_tls_and_scram_from_its_settings(
    relay_settings: RelaySettings,
) -> None:
    options = relay_settings.kafka_options()
    service = relay_settings.service()
    events: list[RecordedEvent] = history(streams=4, events_per_stream=5)
    publisher = await KafkaConnector(options, service)()
    try:
        await asyncio.wait_for(await publisher.publish(events), REFUSAL_SECONDS)
    finally:
        await publisher.close(timeout=10)
    published = await read_topic(options.connection, topic_of(service))
    assert sorted(p.event.event_id for p in published) == sorted(e.event_id for e in events)
