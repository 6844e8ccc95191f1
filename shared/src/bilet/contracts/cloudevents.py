"""The Kafka form of a stored event: CloudEvents 1.0 in binary mode.

The record's key is the stream id (so one stream's events stay in one partition, in order), its
value is the event's JSON data, and every envelope attribute is a header: `ce_id`, `ce_source`,
`ce_type`, `ce_subject` (the stream id), `ce_time`, `content-type`, and the extensions
`ce_schemaversion`, `ce_streamversion`, `ce_position`, `ce_correlationid`, `ce_causationid`,
`ce_actor`, `ce_actorrole`; W3C trace context travels as `traceparent`/`tracestate` (what
OpenTelemetry's Kafka instrumentation reads) and, for CloudEvents tooling, as `ce_traceparent`/
`ce_tracestate`. `from_record` rebuilds the very `RecordedEvent` the relay read from the store,
so projections run the same code on the Kafka path and on the embedded path.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from uuid import UUID

from bilet.contracts import metadata as keys
from bilet.eventstore import RecordedEvent

SPEC_VERSION: Final = "1.0"
CONTENT_TYPE: Final = "application/json"

Headers = list[tuple[str, bytes]]

# Metadata key → CloudEvents extension attribute.
_EXTENSIONS: Final = {
    keys.SCHEMA_VERSION: "schemaversion",
    keys.CORRELATION_ID: "correlationid",
    keys.CAUSATION_ID: "causationid",
    keys.ACTOR: "actor",
    keys.ACTOR_ROLE: "actorrole",
    keys.TRACEPARENT: "traceparent",
    keys.TRACESTATE: "tracestate",
}
_W3C: Final = (keys.TRACEPARENT, keys.TRACESTATE)


class NotACloudEvent(ValueError):
    """A Kafka record without the attributes a Bilet event must carry."""


def topic_of(service: str) -> str:
    """The topic a service publishes its events to."""
    return f"bilet.{service}"


def source_of(service: str) -> str:
    return f"/bilet/{service}"


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    key: bytes
    value: bytes
    headers: Headers


def to_record(event: RecordedEvent, service: str) -> KafkaRecord:
    metadata = json.loads(event.metadata or b"{}")
    headers: Headers = [
        ("ce_specversion", SPEC_VERSION.encode()),
        ("ce_id", str(event.event_id).encode()),
        ("ce_source", source_of(service).encode()),
        ("ce_type", event.type.encode()),
        ("ce_subject", event.stream_id.encode()),
        ("ce_time", event.recorded_at.isoformat().encode()),
        ("content-type", CONTENT_TYPE.encode()),
        ("ce_streamversion", str(event.version).encode()),
        ("ce_position", str(event.position).encode()),
    ]
    for key, attribute in _EXTENSIONS.items():
        value = metadata.get(key)
        if value is None:
            continue
        encoded = str(value).encode()
        headers.append((f"ce_{attribute}", encoded))
        if key in _W3C:
            headers.append((key, encoded))
    return KafkaRecord(key=event.stream_id.encode(), value=event.data, headers=headers)


@dataclass(frozen=True, slots=True)
class ReceivedEvent:
    """An event as a consumer received it: the stored event and which service published it."""

    source: str
    event: RecordedEvent


def from_record(value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> ReceivedEvent:
    try:
        attributes = {name: raw.decode() for name, raw in headers if name.startswith("ce_")}
    except AttributeError:  # a header without a value (Kafka allows a null one)
        nameless = sorted(name for name, raw in headers if name.startswith("ce_") and raw is None)
        raise NotACloudEvent(f"attribute without a value: {', '.join(nameless)}") from None
    try:
        if attributes["ce_specversion"] != SPEC_VERSION:
            raise NotACloudEvent(f"CloudEvents spec version {attributes['ce_specversion']}")
        metadata: dict[str, object] = {}
        for key, attribute in _EXTENSIONS.items():
            if (raw := attributes.get(f"ce_{attribute}")) is not None:
                metadata[key] = int(raw) if key == keys.SCHEMA_VERSION else raw
        event = RecordedEvent(
            stream_id=attributes["ce_subject"],
            version=int(attributes["ce_streamversion"]),
            position=int(attributes["ce_position"]),
            event_id=UUID(attributes["ce_id"]),
            type=attributes["ce_type"],
            data=value or b"",
            metadata=json.dumps(metadata, separators=(",", ":")).encode(),
            recorded_at=datetime.fromisoformat(attributes["ce_time"]),
        )
        return ReceivedEvent(source=attributes["ce_source"], event=event)
    except KeyError as missing:
        raise NotACloudEvent(f"missing attribute {missing}") from None
    except ValueError as bad:
        if isinstance(bad, NotACloudEvent):
            raise
        raise NotACloudEvent(f"malformed attribute: {bad}") from None
