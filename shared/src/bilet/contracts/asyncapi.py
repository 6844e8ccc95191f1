"""The AsyncAPI 3.0 document of the suite's topics and messages (`docs/contracts/asyncapi.yaml`).

One channel per producing service (`bilet.<service>`), one message per event version. A
message's headers are the CloudEvents binary-mode attributes (`bilet.contracts.cloudevents`), its
payload the event's JSON Schema (the same as `docs/contracts/schemas/`, its definitions hoisted to
`components/schemas`), its Kafka key the stream id.
"""

import copy
import inspect
import json
from datetime import UTC, datetime
from typing import Any, Final
from uuid import UUID

from bilet.contracts.base import DomainEvent
from bilet.contracts.cloudevents import CONTENT_TYPE, SPEC_VERSION, source_of, to_record, topic_of
from bilet.contracts.examples import EXAMPLES
from bilet.contracts.metadata import EventMetadata
from bilet.contracts.registry import CATALOGUE, EventRegistry, JsonObject
from bilet.contracts.schemas import event_schema, schema_name
from bilet.eventstore import RecordedEvent

ASYNCAPI_VERSION: Final = "3.0.0"
KAFKA_BINDING: Final = "0.5.0"
HEADERS_SCHEMA: Final = "CloudEventsHeaders"

_UUID: Final = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_UUID_BODY: Final = _UUID[1:-1]
_NUMBER: Final = "^(0|[1-9][0-9]*)$"

_SERVICES: Final = {
    "identity": "Seasons, regions, schools and participants (registration and de-duplication).",
    "consent": "Guardians' consents to personal-data processing: upload, verification, "
    "withdrawal, erasure.",
    "diagnostics": "Diagnostics instruments and the three online stages, with scores and levels.",
    "events": "Career events (профпробы): catalogue, booking, attendance, mentor feedback.",
    "portfolio": "Read model and HTTP API for the frontends; publishes no events.",
    "recommender": "Study-plan and opportunity recommendations.",
}


def _string(description: str, **schema: Any) -> JsonObject:
    return {"type": "string", "description": description, **schema}


def headers_schema() -> JsonObject:
    """The Kafka headers of every message: CloudEvents 1.0 attributes in binary content mode."""
    return {
        "type": "object",
        "description": "CloudEvents 1.0, Kafka protocol binding, binary content mode: every "
        "attribute is a header, the value is the event's JSON data. Other headers may be present.",
        "required": [
            "ce_specversion",
            "ce_id",
            "ce_source",
            "ce_type",
            "ce_subject",
            "ce_time",
            "content-type",
            "ce_streamversion",
            "ce_position",
            "ce_schemaversion",
        ],
        "properties": {
            "ce_specversion": _string("CloudEvents version.", const=SPEC_VERSION),
            "ce_id": _string(
                "Event id: the same id is the same event (consumers skip what they applied).",
                pattern=_UUID,
            ),
            "ce_source": _string("The publishing service.", pattern="^/bilet/[a-z]+$"),
            "ce_type": _string("The event type, e.g. ParticipantRegistered."),
            "ce_subject": _string("The stream id; also the record's key."),
            "ce_time": _string("When the store recorded the event.", format="date-time"),
            "content-type": _string("Media type of the value.", const=CONTENT_TYPE),
            "ce_streamversion": _string(
                "The event's version in its stream, from 0: gaps are detected, not skipped.",
                pattern=_NUMBER,
            ),
            "ce_position": _string(
                "The event's global position in its service's store.", pattern=_NUMBER
            ),
            "ce_schemaversion": _string(
                "The schema version of the data; readers upcast older ones.",
                pattern="^[1-9][0-9]*$",
            ),
            "ce_correlationid": _string("The request or process the event belongs to."),
            "ce_causationid": _string("The command or event that caused it."),
            "ce_actor": _string("Opaque account id of who caused it; never a name."),
            "ce_actorrole": _string("The actor's role, e.g. registrar, navigator."),
            "ce_traceparent": _string("W3C trace context, for CloudEvents tooling."),
            "ce_tracestate": _string("W3C trace state, for CloudEvents tooling."),
            "traceparent": _string(
                "W3C trace context, as OpenTelemetry's Kafka instrumentation reads it."
            ),
            "tracestate": _string("W3C trace state."),
        },
    }


def _hoist(schema: JsonObject, name: str, components: JsonObject) -> JsonObject:
    """Move a schema's `$defs` into `components`, rewrite its references, return the rest."""
    body = copy.deepcopy(schema)
    for keyword in ("$schema", "$id"):
        body.pop(keyword, None)  # a nested $id would change the base its $refs resolve against
    definitions: JsonObject = body.pop("$defs", {})
    for def_name, definition in definitions.items():
        rewritten = _rewrite(definition)
        if components.get(def_name, rewritten) != rewritten:
            raise ValueError(f"{name}: definition {def_name} differs from another event's")
        components[def_name] = rewritten
    return _rewrite(body)  # type: ignore[no-any-return]


def _rewrite(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: (
                value.replace("#/$defs/", "#/components/schemas/")
                if key == "$ref" and isinstance(value, str)
                else _rewrite(value)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rewrite(item) for item in node]
    return node


def _first_paragraph(event_class: type[DomainEvent]) -> str:
    return inspect.cleandoc(event_class.__doc__ or "").split("\n\n", 1)[0].replace("\n", " ")


def _key_schema(event_class: type[DomainEvent]) -> JsonObject:
    key_field = event_class.model_json_schema()["properties"][event_class.stream_key]
    body = _UUID_BODY if key_field.get("format") == "uuid" else "[A-Za-z0-9_-]+"
    stream = f"{event_class.stream_category}-{{{event_class.stream_key}}}"
    return {
        "type": "string",
        "description": f"The stream id, {stream}: one stream's events stay in one partition, "
        "in order.",
        "pattern": f"^{event_class.stream_category}-{body}$",
    }


def _example(event_class: type[DomainEvent], version: int) -> JsonObject:
    data = EXAMPLES[(event_class.event_type, version)]
    event = event_class.model_validate_json(json.dumps(data))
    metadata = EventMetadata(
        schema_version=version,
        correlation_id="c7e1b2a4-3d5f-4e6a-8b9c-0d1e2f3a4b5c",
        causation_id="d8f2c3b5-4e6a-4f7b-9c0d-1e2f3a4b5c6d",
        actor="account-5f3a",
        actor_role="registrar",
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )
    recorded = RecordedEvent(
        stream_id=event.stream_id,
        version=0,
        position=1,
        event_id=UUID("0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"),
        type=event_class.event_type,
        data=json.dumps(data, ensure_ascii=False).encode(),
        metadata=metadata.to_json(),
        recorded_at=datetime(2019, 10, 11, 9, 30, tzinfo=UTC),
    )
    record = to_record(recorded, event_class.service)
    return {
        "name": "leningrad2019",
        "summary": "Luga district, Leningrad oblast, 2019.",
        "headers": {name: value.decode() for name, value in record.headers},
        "payload": data,
    }


def _message(event_class: type[DomainEvent], payload: str, registry: EventRegistry) -> JsonObject:
    version = event_class.schema_version
    latest = registry.latest(event_class.event_type)
    message: JsonObject = {
        "name": event_class.event_type,
        "title": f"{event_class.event_type} v{version}",
        "summary": _first_paragraph(event_class),
        "description": inspect.cleandoc(event_class.__doc__ or ""),
        "contentType": CONTENT_TYPE,
        "correlationId": {"location": "$message.header#/ce_correlationid"},
        "headers": {
            "allOf": [
                {"$ref": f"#/components/schemas/{HEADERS_SCHEMA}"},
                {
                    "type": "object",
                    "properties": {
                        "ce_type": {"type": "string", "const": event_class.event_type},
                        "ce_source": {"type": "string", "const": source_of(event_class.service)},
                        "ce_schemaversion": {"type": "string", "const": str(version)},
                    },
                },
            ]
        },
        "payload": {"$ref": f"#/components/schemas/{payload}"},
        "bindings": {"kafka": {"key": _key_schema(event_class), "bindingVersion": KAFKA_BINDING}},
        "examples": [_example(event_class, version)],
    }
    if latest is not event_class:
        message["x-superseded-by"] = schema_name(latest)
    return message


def asyncapi_document(registry: EventRegistry = CATALOGUE) -> JsonObject:
    """The whole document, as JSON-shaped data (see `yamltext.dump`)."""
    schemas: JsonObject = {HEADERS_SCHEMA: headers_schema()}
    messages: JsonObject = {}
    channels: JsonObject = {}
    operations: JsonObject = {}
    for service in registry.producers():
        channel_messages: JsonObject = {}
        for event_type in registry.event_types_of(service):
            for version in registry.versions(event_type):
                event_class = registry.model(event_type, version)
                name = schema_name(event_class)
                schemas[name] = _hoist(event_schema(event_class, registry), name, schemas)
                messages[name] = _message(event_class, name, registry)
                channel_messages[name] = {"$ref": f"#/components/messages/{name}"}
        channels[service] = {
            "address": topic_of(service),
            "title": topic_of(service),
            "description": f"{_SERVICES[service]} Published by the {service} service's relay; "
            "retained forever, so history stays replayable.",
            "messages": channel_messages,
            "bindings": {
                "kafka": {
                    "topic": topic_of(service),
                    "topicConfiguration": {"cleanup.policy": ["delete"], "retention.ms": -1},
                    "bindingVersion": KAFKA_BINDING,
                }
            },
        }
        operations[f"{service}Publishes"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{service}"},
            "summary": f"The {service} service publishes its events.",
            "messages": [
                {"$ref": f"#/channels/{service}/messages/{name}"} for name in channel_messages
            ],
        }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Bilet events",
            "version": _catalogue_version(registry),
            "description": "The published events of the six Bilet services («Билет в будущее»). "
            "Generated by `make contracts` from `bilet.contracts`; do not edit. No event carries "
            "readable personal data: personal fields are sealed (x-bilet-sealed) with the "
            "participant's key. See docs/adr/0006-event-contracts.md.",
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "local": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "The single-node broker of `make infra-up`.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": dict(sorted(schemas.items())), "messages": messages},
    }


def _catalogue_version(registry: EventRegistry) -> str:
    """Grows with every published version, so the document's version changes when it does."""
    return f"1.{sum(len(registry.versions(t)) for t in registry.event_types())}.0"
