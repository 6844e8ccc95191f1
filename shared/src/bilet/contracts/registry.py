"""The registry of published event types, every version of each, and the upcasters between them.

`CATALOGUE` holds the suite's published events (`bilet.contracts.catalogue` fills it through the
`published` and `upcaster` decorators). Each version of an event type is its own class; the
newest is what readers get, older ones exist so that their schemas stay checked and their
golden samples stay validated. An upcaster turns the JSON data of version N into that of N+1.
"""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from bilet.contracts.base import DomainEvent
from bilet.contracts.sealed import sealed_fields
from bilet.services import SERVICE_NAMES

JsonObject = dict[str, Any]
Upcaster = Callable[[JsonObject], JsonObject]

_EVENT_TYPE: Final = re.compile(r"^[A-Z][A-Za-z0-9]{2,63}$")
_CATEGORY: Final = re.compile(r"^[a-z][a-z0-9_]*$")
_CLASS_VARIABLES: Final = ("event_type", "service", "stream_category", "stream_key")

_E = TypeVar("_E", bound=type[DomainEvent])


class ContractError(Exception):
    """A stored or received event cannot be read as a published event."""


class UnknownEventType(ContractError):
    """No published event has this type name."""


class UnknownSchemaVersion(ContractError):
    """The event's schema version is not one this reader knows (written by newer code)."""


class InvalidEventData(ContractError):
    """The event's data does not match its published schema."""


class CatalogueError(Exception):
    """The catalogue itself is wrong: a programming error, found at import or by the tests."""


@dataclass(frozen=True, slots=True)
class _Type:
    versions: dict[int, type[DomainEvent]]
    latest: type[DomainEvent]


class EventRegistry:
    """Event types by name and version, and the upcasters of each version step."""

    def __init__(self) -> None:
        self._types: dict[str, _Type] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    # ------------------------------------------------------------------ definition
    def register(self, event_class: _E) -> _E:
        """Add one version of an event type (a class decorator)."""
        name = event_class.__name__
        # An inherited type name would silently make two event types one.
        if "event_type" not in vars(event_class):
            raise CatalogueError(f"{name} does not set event_type itself")
        for variable in _CLASS_VARIABLES:
            if getattr(event_class, variable, None) is None:
                raise CatalogueError(f"{name} does not set {variable}")
        event_type, version = event_class.event_type, event_class.schema_version
        if not _EVENT_TYPE.fullmatch(event_type):
            raise CatalogueError(f"{name}: event type {event_type!r} is not a PascalCase name")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise CatalogueError(f"{name}: schema_version is an integer from 1")
        if event_class.service not in SERVICE_NAMES:
            raise CatalogueError(f"{name}: unknown service {event_class.service!r}")
        if not _CATEGORY.fullmatch(event_class.stream_category):
            raise CatalogueError(f"{name}: stream category {event_class.stream_category!r}")
        model: type[DomainEvent] = event_class
        fields = model.model_fields
        if event_class.stream_key not in fields:
            raise CatalogueError(f"{name}: stream key {event_class.stream_key!r} is no field")
        if sealed_fields(event_class) and event_class.subject_key not in fields:
            raise CatalogueError(f"{name}: has sealed fields but no {event_class.subject_key!r}")
        if not (event_class.__doc__ or "").strip():
            raise CatalogueError(f"{name}: say what the event means in its docstring")
        known = self._types.get(event_type)
        if known is None:
            self._types[event_type] = _Type({version: event_class}, event_class)
            return event_class
        if version in known.versions:
            raise CatalogueError(f"{event_type} v{version} is registered twice")
        first = next(iter(known.versions.values()))
        for variable in ("service", "stream_category", "stream_key"):
            if getattr(first, variable) != getattr(event_class, variable):
                raise CatalogueError(f"{event_type}: every version has the same {variable}")
        known.versions[version] = event_class
        latest = max(known.versions)
        self._types[event_type] = _Type(
            dict(sorted(known.versions.items())), known.versions[latest]
        )
        return event_class

    def upcaster(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Register the function that turns `from_version` data into `from_version + 1` data."""

        def decorate(function: Upcaster) -> Upcaster:
            key = (event_type, from_version)
            if key in self._upcasters:
                raise CatalogueError(f"two upcasters for {event_type} v{from_version}")
            self._upcasters[key] = function
            return function

        return decorate

    def check(self) -> None:
        """Every type has versions 1..N and one upcaster per step; raises CatalogueError."""
        for event_type, known in self._types.items():
            versions = list(known.versions)
            if versions != list(range(1, len(versions) + 1)):
                raise CatalogueError(f"{event_type}: versions {versions} are not 1..N")
            for step in range(1, len(versions)):
                if (event_type, step) not in self._upcasters:
                    raise CatalogueError(f"{event_type}: no upcaster from v{step} to v{step + 1}")
        for event_type, step in self._upcasters:
            known_type = self._types.get(event_type)
            if (
                known_type is None
                or step not in known_type.versions
                or step == max(known_type.versions)
            ):
                raise CatalogueError(f"upcaster {event_type} v{step} leads to no known version")

    # ------------------------------------------------------------------ lookup
    def latest(self, event_type: str) -> type[DomainEvent]:
        """The newest version's class: what `decode` returns for every version of the type."""
        try:
            return self._types[event_type].latest
        except KeyError:
            raise UnknownEventType(f"{event_type!r} is not a published event type") from None

    def model(self, event_type: str, version: int) -> type[DomainEvent]:
        """The class of one version of a type."""
        versions = self._known(event_type).versions
        try:
            return versions[version]
        except KeyError:
            raise UnknownSchemaVersion(
                f"{event_type} v{version} is unknown here (known: {', '.join(map(str, versions))})"
            ) from None

    def versions(self, event_type: str) -> tuple[int, ...]:
        return tuple(self._known(event_type).versions)

    def is_published(self, event_type: str) -> bool:
        return event_type in self._types

    def event_types(self) -> tuple[str, ...]:
        """Every published type name, sorted."""
        return tuple(sorted(self._types))

    def event_types_of(self, service: str) -> tuple[str, ...]:
        """The types a service publishes (on its topic `bilet.<service>`), sorted."""
        return tuple(t for t in self.event_types() if self._types[t].latest.service == service)

    def service_of(self, event_type: str) -> str:
        return self.latest(event_type).service

    def producers(self) -> tuple[str, ...]:
        """The services that publish at least one event, in the suite's order."""
        return tuple(s for s in SERVICE_NAMES if self.event_types_of(s))

    def all_versions(self) -> Iterator[type[DomainEvent]]:
        """Every class of every version, by type name then version."""
        for event_type in self.event_types():
            yield from self._types[event_type].versions.values()

    def upcast(self, event_type: str, version: int, data: JsonObject) -> JsonObject:
        """`data` of `version` brought up to the newest version, step by step."""
        known = self._known(event_type)
        latest = known.latest.schema_version
        if version not in known.versions:
            raise UnknownSchemaVersion(
                f"{event_type} v{version} is unknown here (newest known: v{latest})"
            )
        for step in range(version, latest):
            data = self._upcasters[(event_type, step)](data)
        return data

    def _known(self, event_type: str) -> _Type:
        try:
            return self._types[event_type]
        except KeyError:
            raise UnknownEventType(f"{event_type!r} is not a published event type") from None


CATALOGUE: Final = EventRegistry()
published: Final = CATALOGUE.register
upcaster: Final = CATALOGUE.upcaster
