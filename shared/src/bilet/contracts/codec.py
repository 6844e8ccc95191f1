"""From a domain event to what the store appends, and from what it recorded back to the newest
version of the event.

`encode` writes the event's JSON data and stamps its schema version into the metadata. `decode`
reads the version from the metadata (absent means 1), validates the data straight from its JSON
bytes when it is the newest version (the read-all hot path), and otherwise validates it as the
version it was written as, upcasts it step by step and validates the result as the newest.
"""

import json
import re
from typing import Final, Protocol
from uuid import UUID

from pydantic import ValidationError

from bilet.contracts.base import DomainEvent
from bilet.contracts.catalogue import CATALOGUE
from bilet.contracts.metadata import EventMetadata
from bilet.contracts.registry import (
    ContractError,
    EventRegistry,
    InvalidEventData,
    UnknownSchemaVersion,
)
from bilet.eventstore import NewEvent

# EventMetadata writes schema_version first, and so does the Kafka mapping (cloudevents): the
# version is then read without parsing the whole document.
_VERSION_FIRST: Final = re.compile(rb'^\{"schema_version":([1-9][0-9]{0,8})[,}]')


class StoredEvent(Protocol):
    """What decoding needs of a `RecordedEvent` (or of a `NewEvent`, in tests)."""

    @property
    def type(self) -> str: ...

    @property
    def data(self) -> bytes: ...

    @property
    def metadata(self) -> bytes: ...


def require_newest(event_class: type[DomainEvent]) -> None:
    """Only the newest version of a published type is written: readers upcast older ones, but a
    reader that is older than the writer cannot read a newer version (deploy readers first)."""
    newest = CATALOGUE.latest(event_class.event_type)
    if newest is not event_class:
        raise ContractError(
            f"{event_class.__name__} is not the newest published version of "
            f"{event_class.event_type}: write v{newest.schema_version}"
        )


def encode(event: DomainEvent, metadata: EventMetadata, event_id: UUID | None = None) -> NewEvent:
    """The event as the store appends it: JSON data, metadata with its schema version; only the
    newest version of a published type (`require_newest`)."""
    event_class = type(event)
    require_newest(event_class)
    if metadata.schema_version != event_class.schema_version:
        metadata = metadata.model_copy(update={"schema_version": event_class.schema_version})
    data = event.model_dump_json().encode()
    if event_id is None:
        return NewEvent(type=event_class.event_type, data=data, metadata=metadata.to_json())
    return NewEvent(
        type=event_class.event_type, data=data, metadata=metadata.to_json(), event_id=event_id
    )


def schema_version_of(metadata: bytes) -> int:
    """The schema version stated in an event's metadata; 1 when it states none."""
    if (match := _VERSION_FIRST.match(metadata)) is not None:
        return int(match[1])
    try:
        document = json.loads(metadata or b"{}")
    except ValueError:
        raise InvalidEventData("the event's metadata is not JSON") from None
    version = document.get("schema_version", 1) if isinstance(document, dict) else None
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise UnknownSchemaVersion(f"schema version {version!r} in the metadata is no version")
    return version


def decode(stored: StoredEvent, registry: EventRegistry = CATALOGUE) -> DomainEvent:
    """The newest version of the stored event, validated.

    Raises `UnknownEventType`, `UnknownSchemaVersion` (written by newer code than this reader)
    or `InvalidEventData`; all are `ContractError`s. Messages never include field values.
    """
    model = registry.latest(stored.type)
    version = schema_version_of(stored.metadata)
    try:
        if version == model.schema_version:
            return model.model_validate_json(stored.data)
        written = registry.model(stored.type, version).model_validate_json(stored.data)
    except ValidationError as error:
        raise InvalidEventData(_summary(stored.type, version, error)) from None
    upcast = registry.upcast(stored.type, version, written.model_dump(mode="json"))
    try:
        return model.model_validate_json(json.dumps(upcast))
    except ValidationError as error:
        raise InvalidEventData(
            f"upcast to v{model.schema_version}: {_summary(stored.type, version, error)}"
        ) from None


def _summary(event_type: str, version: int, error: ValidationError) -> str:
    problems = "; ".join(
        f"{'.'.join(map(str, problem['loc'])) or '(data)'}: {problem['msg']}"
        for problem in error.errors(include_url=False, include_input=False, include_context=False)
    )
    return f"{event_type} v{version}: {problems}"
