"""The Kafka form of an event round-trips to the very event the store recorded."""

import uuid
from datetime import UTC, datetime

import pytest

from bilet.contracts.cloudevents import NotACloudEvent, from_record, to_record, topic_of
from bilet.contracts.metadata import EventMetadata
from bilet.eventstore import RecordedEvent


def recorded(metadata: EventMetadata) -> RecordedEvent:
    return RecordedEvent(
        stream_id=f"participant-{uuid.uuid4()}",
        version=3,
        position=(123456 << 20) + 2,
        event_id=uuid.uuid4(),
        type="ParticipantRegistered",
        data=b'{"grade":7}',
        metadata=metadata.to_json(),
        recorded_at=datetime(2019, 10, 11, 9, 30, 0, 123456, tzinfo=UTC),
    )


def test_a_recorded_event_round_trips_through_its_kafka_record() -> None:
    metadata = EventMetadata(
        schema_version=2,
        correlation_id="c-1",
        causation_id="cmd-9",
        actor="account-17",
        actor_role="registrar",
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )
    event = recorded(metadata)
    record = to_record(event, "identity")
    headers = dict(record.headers)
    assert record.key == event.stream_id.encode()
    assert record.value == b'{"grade":7}'
    assert headers["ce_type"] == b"ParticipantRegistered"
    assert headers["ce_source"] == b"/bilet/identity"
    assert headers["ce_subject"] == event.stream_id.encode()
    assert headers["traceparent"] == headers["ce_traceparent"]
    assert headers["content-type"] == b"application/json"
    received = from_record(record.value, record.headers)
    assert received.source == "/bilet/identity"
    assert received.event._replace(metadata=b"") == event._replace(metadata=b"")
    assert EventMetadata.from_json(received.event.metadata) == metadata
    assert topic_of("identity") == "bilet.identity"


def test_a_record_without_cloudevents_attributes_is_refused() -> None:
    record = to_record(recorded(EventMetadata()), "consent")
    without_subject = [(k, v) for k, v in record.headers if k != "ce_subject"]
    with pytest.raises(NotACloudEvent, match="ce_subject"):
        from_record(record.value, without_subject)
    bad_version = [(k, b"x" if k == "ce_streamversion" else v) for k, v in record.headers]
    with pytest.raises(NotACloudEvent, match="malformed"):
        from_record(record.value, bad_version)
