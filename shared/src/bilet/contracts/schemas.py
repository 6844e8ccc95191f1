"""The JSON Schema (draft 2020-12) of each published event version, as committed under
`docs/contracts/schemas/<Type>.v<N>.json`."""

import inspect
from typing import Any, Final

from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import CoreSchema

from bilet.contracts.base import DomainEvent
from bilet.contracts.cloudevents import topic_of
from bilet.contracts.registry import CATALOGUE, EventRegistry, JsonObject

DRAFT: Final = "https://json-schema.org/draft/2020-12/schema"
EVENT_KEYWORD: Final = "x-bilet-event"
# An annotation: a published version gains it when a newer one appears, which breaks no reader.
SUPERSEDED_KEYWORD: Final = "x-bilet-superseded-by"


class _Generator(GenerateJsonSchema):
    # Titles of every field ("Participant Id") are noise: names and descriptions say it.
    def field_title_should_be_set(self, schema: CoreSchema) -> bool:
        return False


def schema_name(event_class: type[DomainEvent]) -> str:
    """`ParticipantRegistered.v2`: the file stem and the AsyncAPI component name."""
    return f"{event_class.event_type}.v{event_class.schema_version}"


def event_schema(event_class: type[DomainEvent], registry: EventRegistry = CATALOGUE) -> JsonObject:
    """The schema of one event version's JSON data, with what the event is in `x-bilet-event`."""
    body: dict[str, Any] = event_class.model_json_schema(schema_generator=_Generator)
    body.pop("title", None)
    body.pop("description", None)
    latest = registry.latest(event_class.event_type)
    meta: JsonObject = {
        "type": event_class.event_type,
        "version": event_class.schema_version,
        "service": event_class.service,
        "topic": topic_of(event_class.service),
        "stream": f"{event_class.stream_category}-{{{event_class.stream_key}}}",
    }
    superseded = {} if latest is event_class else {SUPERSEDED_KEYWORD: schema_name(latest)}
    return {
        "$schema": DRAFT,
        "$id": f"urn:bilet:event:{event_class.event_type}:v{event_class.schema_version}",
        "title": f"{event_class.event_type} v{event_class.schema_version}",
        "description": inspect.cleandoc(event_class.__doc__ or ""),
        EVENT_KEYWORD: meta,
        **superseded,
        # The event's own fields first, the definitions they use last.
        **{key: value for key, value in body.items() if key != "$defs"},
        **({"$defs": body["$defs"]} if "$defs" in body else {}),
    }
