"""encode / decode: what a producer appends is what a consumer reads, at the newest version."""

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from bilet.contracts import (
    ContractError,
    EventMetadata,
    InvalidEventData,
    UnknownEventType,
    UnknownSchemaVersion,
    decode,
    encode,
    schema_version_of,
)
from bilet.contracts.catalogue.events import BookingCancelled
from bilet.contracts.catalogue.identity import ParticipantRegistered, ParticipantRegisteredV1
from bilet.contracts.cloudevents import from_record, to_record
from bilet.contracts.examples import EXAMPLES
from bilet.eventstore import NewEvent, RecordedEvent


def _example(event_type: str, version: int) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.dumps(EXAMPLES[(event_type, version)]))
    return data


def _recorded(new: NewEvent, stream_id: str = "participant-1") -> RecordedEvent:
    return RecordedEvent(
        stream_id=stream_id,
        version=0,
        position=1,
        event_id=new.event_id,
        type=new.type,
        data=new.data,
        metadata=new.metadata,
        recorded_at=datetime(2019, 10, 11, tzinfo=UTC),
    )


def _stored(event_type: str, data: object, metadata: bytes) -> NewEvent:
    return NewEvent(type=event_type, data=json.dumps(data).encode(), metadata=metadata)


def test_given_an_event_when_encoded_and_decoded_then_it_is_the_same_event() -> None:
    event = BookingCancelled.model_validate_json(json.dumps(EXAMPLES[("BookingCancelled", 1)]))
    event_id = uuid.uuid4()
    metadata = EventMetadata(correlation_id="c-1", actor="account-1", actor_role="registrar")

    new = encode(event, metadata, event_id=event_id)

    assert new.type == "BookingCancelled"
    assert new.event_id == event_id
    assert json.loads(new.data) == EXAMPLES[("BookingCancelled", 1)]
    stored_metadata = EventMetadata.from_json(new.metadata)
    assert stored_metadata.schema_version == 1
    assert stored_metadata.correlation_id == "c-1"
    assert decode(_recorded(new)) == event


def test_the_metadata_states_the_events_own_schema_version() -> None:
    event = ParticipantRegistered.model_validate_json(
        json.dumps(EXAMPLES[("ParticipantRegistered", 3)])
    )
    new = encode(event, EventMetadata(schema_version=7, causation_id="cmd-1"))
    assert new.metadata.startswith(b'{"schema_version":3,')
    assert EventMetadata.from_json(new.metadata).causation_id == "cmd-1"
    assert encode(event, EventMetadata()).event_id != new.event_id  # a fresh id each time


def test_a_superseded_version_is_not_written() -> None:
    old = ParticipantRegisteredV1.model_validate_json(
        json.dumps(EXAMPLES[("ParticipantRegistered", 1)])
    )
    with pytest.raises(ContractError, match="write v3"):
        encode(old, EventMetadata())


def test_given_a_v1_registration_when_decoded_then_it_is_upcast_to_the_newest() -> None:
    stored = _stored(
        "ParticipantRegistered", _example("ParticipantRegistered", 1), b'{"schema_version":1}'
    )
    event = decode(stored)
    assert isinstance(event, ParticipantRegistered)
    assert event.season == 2019
    assert event.grade == 7


def test_metadata_without_a_schema_version_means_version_1() -> None:
    v1 = _example("ParticipantRegistered", 1)
    assert isinstance(decode(_stored("ParticipantRegistered", v1, b"{}")), ParticipantRegistered)
    assert isinstance(decode(_stored("ParticipantRegistered", v1, b"")), ParticipantRegistered)


def test_a_kafka_record_decodes_like_the_stored_event() -> None:
    event = BookingCancelled.model_validate_json(json.dumps(EXAMPLES[("BookingCancelled", 1)]))
    recorded = _recorded(encode(event, EventMetadata(correlation_id="c-9")), event.stream_id)
    record = to_record(recorded, event.service)
    received = from_record(record.value, record.headers)
    assert record.key == b"career_event-d4e5f6a7-b8c9-4d0e-8f1a-2b3c4d5e6f01"
    assert decode(received.event) == event


@pytest.mark.parametrize(
    ("metadata", "version"),
    [
        (b'{"schema_version":2,"actor":"a"}', 2),
        (b'{"schema_version":12}', 12),
        (b'{"actor":"a","schema_version":3}', 3),
        (b'{ "schema_version" : 4 }', 4),
        (b'{"actor":{"schema_version":9},"schema_version":5}', 5),
        (b"{}", 1),
        (b"", 1),
    ],
)
def test_the_schema_version_is_read_from_the_metadata(metadata: bytes, version: int) -> None:
    assert schema_version_of(metadata) == version


@pytest.mark.parametrize("metadata", [b'{"schema_version":0}', b'{"schema_version":"2"}', b"[]"])
def test_a_schema_version_that_is_no_version_is_refused(metadata: bytes) -> None:
    with pytest.raises(UnknownSchemaVersion):
        schema_version_of(metadata)


def test_an_event_from_newer_code_is_refused_as_such() -> None:
    stored = _stored("BookingCancelled", _example("BookingCancelled", 1), b'{"schema_version":2}')
    with pytest.raises(UnknownSchemaVersion, match="BookingCancelled v2"):
        decode(stored)


def test_an_unpublished_type_is_refused() -> None:
    with pytest.raises(UnknownEventType):
        decode(_stored("EventAttended", {}, b"{}"))


def test_invalid_data_is_refused_without_echoing_values() -> None:
    data = _example("SeatBooked", 1)
    data["season"] = "Иванова Мария"
    data["surprise"] = "СНИЛС 112-233-445 95"
    with pytest.raises(InvalidEventData) as refused:
        decode(_stored("SeatBooked", data, b'{"schema_version":1}'))
    message = str(refused.value)
    assert "SeatBooked v1" in message
    assert "season" in message
    assert "surprise" in message
    assert "Иванова" not in message
    assert "112-233" not in message


def test_an_old_version_is_validated_as_what_it_was_before_upcasting() -> None:
    data = _example("ParticipantRegistered", 1)
    data["season"] = 2019  # v1 had no season: this is no v1 event
    with pytest.raises(InvalidEventData, match="ParticipantRegistered v1: season"):
        decode(_stored("ParticipantRegistered", data, b'{"schema_version":1}'))


def test_the_newest_version_is_validated_from_bytes_without_parsing_json_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The read-all hot path: neither the metadata nor the data goes through json.loads.
    event = BookingCancelled.model_validate_json(json.dumps(EXAMPLES[("BookingCancelled", 1)]))
    stored = encode(event, EventMetadata(actor="account-1"))

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("json.loads on the hot path")

    monkeypatch.setattr(json, "loads", refuse)
    assert decode(stored) == event
