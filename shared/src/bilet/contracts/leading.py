"""A cheap partial read of a stored event: its first few fields, without validating the rest.

`decode` validates the whole event (a recommendation set: ~15 KB of JSON, ~100 µs). A reader
that needs only the first fields to decide whether it needs the event at all (the portfolio's
rebuild keeps only the last set of a participant's season, ADR 0107) reads them here, and
decodes fully only what it keeps.

`LeadingFields(event_class, names)` reads `names`, the first fields of the newest version of a
type in declaration order (pydantic writes them first, in that order: `encode`), from the
data's first bytes, and validates them with the event class's own field definitions and
configuration. It answers only where its answer is what `decode` would give for those fields
if `decode` succeeds; everywhere else it answers None, and the reader decodes the event fully
(which then succeeds or raises as it always did):

- an event of another type, or written in an older version (an upcaster may change anything);
  a version this code does not know, or metadata that is no JSON, raises as `decode` does;
- data whose first fields are not written exactly as the encoder writes them (key order,
  spaces, escapes; UUIDs other than in lowercase canonical text);
- data in which a name read appears more than once, or with any `\\u` escape (a key could be
  spelled with one): a JSON object's later duplicate key wins in `decode`;
- values the fields' validation refuses.

It refuses (`ValueError`, when made) a class it could not read so: a field read or before it with
an alias or a validation alias, a field validator of a field read, or a model validator.

Nothing here says the rest of the data is valid: an event whose first fields read well may
still fail `decode`.
"""

import re
from collections.abc import Sequence
from typing import Any, Final
from uuid import UUID

from pydantic import BaseModel, ValidationError, create_model

from bilet.contracts.base import DomainEvent
from bilet.contracts.catalogue import CATALOGUE
from bilet.contracts.codec import StoredEvent, schema_version_of
from bilet.contracts.registry import EventRegistry

# The JSON text of a value as the encoder writes it, by the field's type: no other shapes.
_UUID: Final = rb'"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"'
_INTEGER: Final = rb"-?(?:0|[1-9][0-9]{0,17})"
_SHAPES: Final[dict[object, bytes]] = {UUID: _UUID, int: _INTEGER}


class LeadingFields:
    """Fields among the first of one event type's newest version, read from its data's first
    bytes (see the module's docstring for when it answers None)."""

    def __init__(
        self,
        event_class: type[DomainEvent],
        names: Sequence[str],
        registry: EventRegistry = CATALOGUE,
    ) -> None:
        if registry.latest(event_class.event_type) is not event_class:
            raise ValueError(f"{event_class.__name__} is not the newest version of its type")
        fields = list(event_class.model_fields.items())
        order = [name for name, _ in fields]
        if not names or len(set(names)) != len(names) or not set(names) <= set(order):
            raise ValueError(f"name fields of {event_class.__name__} to read, once each")
        # The data's first fields up to the last one read: those not read are matched by their
        # shape only (a later duplicate of one of them changes nothing read here).
        pattern = rb"\{"
        for name, field in fields[: 1 + max(map(order.index, names))]:
            shape = _SHAPES.get(field.annotation)
            aliased = {field.alias, field.validation_alias} - {None, name}
            if shape is None or aliased:
                raise ValueError(f"{event_class.__name__}.{name} is not read here")
            key = b'"' + name.encode() + b'"'
            read = b"(?P<" + name.encode() + b">" + shape + b")"  # a group by the field's name
            pattern += key + b":" + (read if name in names else shape) + b","
        _refuse_class_validators(event_class, names)
        self.event_type = event_class.event_type
        self.schema_version = event_class.schema_version
        self.names = tuple(names)
        self._prefix = re.compile(pattern)
        self._keys = tuple(b'"' + name.encode() + b'"' for name in names)
        # The fields read, validated as the event class validates them: their definitions
        # (types, bounds) and its configuration (strict, frozen, nothing extra).
        definitions = event_class.model_fields
        self._fields: type[BaseModel] = create_model(  # type: ignore[call-overload]
            f"{event_class.__name__}Leading",
            __config__=event_class.model_config,
            **{name: (definitions[name].annotation, definitions[name]) for name in names},
        )
        # `{"a":…,"b":…}` from the groups matched, in the order of `names`.
        self._object = b"{" + b",".join(key + b":%b" for key in self._keys) + b"}"

    def __call__(self, stored: StoredEvent) -> tuple[Any, ...] | None:
        """The values of the fields read, in the order named, or None: decode the event instead."""
        if stored.type != self.event_type:
            return None
        if schema_version_of(stored.metadata) != self.schema_version:
            return None
        data = stored.data
        found = self._prefix.match(data)
        if found is None or (b"\\" in data and b"\\u" in data):
            return None
        for key, name in zip(self._keys, self.names, strict=True):
            # The key read must be the last of its name (a later duplicate wins in `decode`):
            # searched from the end, the quicker way through ~15 KB.
            if data.rfind(key) != found.start(name) - len(key) - 1:
                return None
        try:
            fields = self._fields.model_validate_json(
                self._object % tuple(found[name] for name in self.names)
            )
        except ValidationError:
            return None
        return tuple(getattr(fields, name) for name in self.names)


def _refuse_class_validators(event_class: type[DomainEvent], names: Sequence[str]) -> None:
    """The fields read are validated by a small model made of their definitions (constraints and
    `Annotated` validators travel with them) and the class's configuration; the class's own
    validators do not: a `@field_validator` of a field read, or any `@model_validator` (one
    before or wrapping sees and may change the raw data; one after may change the fields), could
    make `decode` give another value than the one read. Refused when the reader is made (at
    import), rather than read wrongly."""
    decorators = event_class.__pydantic_decorators__
    for validator in decorators.field_validators.values():
        named = set(validator.info.fields)
        if named & {*names, "*"}:
            raise ValueError(
                f"{event_class.__name__}: a field validator of {sorted(named)} is not read here"
            )
    if decorators.model_validators or decorators.root_validators or decorators.validators:
        raise ValueError(f"{event_class.__name__}: its model validators are not read here")


__all__ = ["LeadingFields"]
