"""The JSON columns the projection's handlers write, made by orjson: byte for byte the text of
`adapters.json_text.to_json` (the read model's one canonical encoding: keys sorted, no spaces,
non-ASCII kept as it is), at a fraction of the standard library's CPU (ADR 0079). The encoder is
`json_text.to_json_fast` itself (the document's render uses it too, ADR 0097), not a wrapper: it
runs once per JSON column. Its module says where the two encoders agree and why floats never
reach it. The handlers import `to_json` from here by name, so a test can swap it per module.

`FieldsJson` writes a part of a decoded event straight from its models' fields, without the
`model_dump(mode="json")` that turns the whole part into new dicts and lists first (a
recommendation set's dearest step after its decoding, ADR 0102): orjson writes what a contract
model holds — strings, integers, booleans, None, tuples, enum members (their values), UUIDs —
as pydantic's JSON mode does, and is handed each model's `__dict__`. Only models whose dump is
exactly their fields qualify (`plain_models`: no computed fields, serializers, aliases or
exclusions, no extra fields kept); anything else, or a value orjson refuses (an integer beyond 64
bits), raises `NotPlain` and the caller takes the dump's way."""

import functools
import types
import typing
from collections.abc import Iterator
from enum import Enum
from typing import Any, Final
from uuid import UUID

import orjson
from pydantic import BaseModel

from bilet_portfolio.adapters.json_text import to_json_fast as to_json

__all__ = ["FieldsJson", "NotPlain", "plain_models", "to_json"]

# Keys sorted; a datetime, a dataclass or a subclass of str or int handed to `_fields` (which
# refuses them) instead of written in orjson's own form: only what it writes as pydantic's JSON
# mode does is written by it (enum members still are: orjson writes their values).
_OPTIONS: Final = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


class NotPlain(Exception):
    """A value `FieldsJson` does not write as pydantic's JSON mode would: dump it instead."""


# What a plain model's fields may hold besides plain models: what orjson writes as pydantic's
# JSON mode does (not a date or time: orjson writes them in another form).
_LEAVES: Final = (str, int, type(None), UUID, Enum, tuple)


def _types_in(annotation: Any) -> Iterator[type]:
    """The types an annotation names; `object` for what this walk does not know (a `NewType`, a
    type alias, a type variable...), which no plain model may hold: a `NewType` over `datetime`
    would otherwise pass for a model of nothing, and orjson write its times in another form."""
    if annotation is None:
        yield type(None)
        return
    origin = typing.get_origin(annotation)
    if origin is None:
        yield annotation if isinstance(annotation, type) else object
        return
    arguments = typing.get_args(annotation)
    if origin is typing.Literal:  # its values' types
        yield from (type(value) for value in arguments)
        return
    if origin is typing.Annotated:  # the type annotated
        yield from _types_in(arguments[0])
        return
    if isinstance(origin, type) and origin is not types.UnionType:
        yield origin
    elif origin is not typing.Union and origin is not types.UnionType:
        yield object
    for argument in arguments:
        if argument is not Ellipsis:
            yield from _types_in(argument)


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    return (t for t in _types_in(annotation) if issubclass(t, BaseModel))


def _plain(model: type[BaseModel]) -> bool:
    decorators = model.__pydantic_decorators__
    return (
        model.model_config.get("extra") == "forbid"
        and not model.model_config.get("json_encoders")
        and not any(isinstance(v, functools.cached_property) for v in vars(model).values())
        and not model.model_computed_fields
        and not decorators.field_serializers
        and not decorators.model_serializers
        and all(
            not field.exclude
            and getattr(field, "exclude_if", None) is None
            and all(
                issubclass(t, BaseModel) or issubclass(t, _LEAVES)
                for t in _types_in(field.annotation)
            )
            and field.alias is None
            and field.serialization_alias is None
            and not any(
                type(meta).__module__.startswith("pydantic") and "Serializer" in type(meta).__name__
                for meta in field.metadata
            )
            for field in model.model_fields.values()
        )
    )


def plain_models(root: type[BaseModel]) -> frozenset[type[BaseModel]]:
    """The models reachable from `root`'s fields whose JSON dump is exactly their fields."""
    seen: set[type[BaseModel]] = set()
    plain: set[type[BaseModel]] = set()
    todo = [model for field in root.model_fields.values() for model in _models_in(field.annotation)]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        if _plain(model):
            plain.add(model)
        todo.extend(
            m for field in model.model_fields.values() for m in _models_in(field.annotation)
        )
    return frozenset(plain)


class FieldsJson:
    """The canonical JSON text of parts of events whose models are `plain` (`plain_models`)."""

    def __init__(self, plain: frozenset[type[BaseModel]]) -> None:
        # Each plain model's number of fields, counted once: `model_fields` returns the same
        # dict every time, but through pydantic's Python-level descriptor, which binds and
        # calls a classmethod per access (~0.3–0.6 µs against ~0.05–0.08 for a dict look-up on
        # pydantic 2.14), and `_fields` runs for every model in a set (~170 of them: half of a
        # set's JSON, ADR 0114).
        self._sizes: dict[type, int] = {model: len(model.model_fields) for model in plain}

    def _fields(self, value: object) -> dict[str, Any]:
        size = self._sizes.get(type(value))
        if size is not None:
            fields: dict[str, Any] = value.__dict__
            # Its fields and nothing else (no value a `model_copy(update=...)` slipped in).
            if len(fields) == size:
                return fields
        raise NotPlain(type(value).__name__)

    def __call__(self, value: Any) -> str:
        """`to_json(value as pydantic's JSON mode dumps it)`, or `NotPlain`."""
        try:
            return orjson.dumps(value, default=self._fields, option=_OPTIONS).decode()
        except orjson.JSONEncodeError as refused:  # also what `_fields` refused
            raise NotPlain(str(refused)) from refused
