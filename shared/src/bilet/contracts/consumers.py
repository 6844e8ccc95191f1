"""Consumer-driven contracts: what a consuming service relies on in the events it reads, and a
check that the producers' current schemas (and real event data) provide it.

A consumer states, per event type it reads, each field path it uses and what it expects there:

    {"consumer": "events",
     "reads": {"SeatBooked": {"why": "…", "fields": {"participant_id": "uuid",
                                                    "accessibility_needs[]": "string",
                                                    "comment": "sealed?"}}}}

Paths are dotted field names; `name[]` steps into the items of an array. Expected shapes:
`string` (any string, including uuid/date/date-time/closed lists), `uuid`, `date`, `date-time`,
`integer`, `number`, `boolean`, `object`, `array`, `sealed` (a personal field), or
`enum:a,b` (a closed list offering at least those values). A trailing `?` says the consumer
handles null or absence; without it, a field that may be null or absent anywhere on its path is
a broken promise. Consumers always read the newest version (`decode` upcasts).
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from bilet.contracts.catalogue import CATALOGUE
from bilet.contracts.registry import EventRegistry, JsonObject
from bilet.contracts.schemas import event_schema
from bilet.contracts.sealed import SEALED_KEYWORD
from bilet.services import SERVICE_NAMES

_FORMATS: Final = frozenset({"uuid", "date", "date-time"})
_SHAPES: Final = frozenset(
    {"string", "integer", "number", "boolean", "object", "array", "sealed", *_FORMATS}
)


class Reliance(BaseModel):
    """What a consumer uses of one event type, and why (a sentence for the producer's team)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    why: str = Field(min_length=1)
    fields: dict[str, str] = Field(min_length=1)


class ConsumerContract(BaseModel):
    """One consuming service's expectations of the events it reads from other services."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    consumer: str
    reads: dict[str, Reliance] = Field(min_length=1)

    @classmethod
    def load(cls, path: Path) -> "ConsumerContract":
        return cls.model_validate_json(path.read_bytes())


@dataclass(frozen=True, slots=True)
class Expected:
    """A parsed expectation: the shape, the closed-list values relied on, null tolerated."""

    shape: str
    values: frozenset[str] = field(default_factory=frozenset)
    optional: bool = False

    @classmethod
    def parse(cls, text: str) -> "Expected":
        optional = text.endswith("?")
        body = text.removesuffix("?")
        if body.startswith("enum:"):
            values = frozenset(
                v.strip() for v in body.removeprefix("enum:").split(",") if v.strip()
            )
            if not values:
                raise ValueError(f"{text!r}: name the values relied on")
            return cls("string", values, optional)
        if body not in _SHAPES:
            raise ValueError(f"{text!r} is no shape ({', '.join(sorted(_SHAPES))}, enum:…)")
        return cls(body, frozenset(), optional)


@dataclass(frozen=True, slots=True)
class _Found:
    shapes: frozenset[str]
    values: frozenset[str] | None
    nullable: bool


class _PathError(Exception):
    pass


def _resolve(root: JsonObject, node: JsonObject) -> JsonObject:
    while "$ref" in node:
        target: Any = root
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _variants(root: JsonObject, node: JsonObject) -> tuple[list[JsonObject], bool]:
    """The non-null alternatives of a node (resolved) and whether null is one of them."""
    node = _resolve(root, node)
    alternatives = node.get("anyOf") or node.get("oneOf") or [node]
    resolved = [_resolve(root, alternative) for alternative in alternatives]
    nullable = any(v.get("type") == "null" for v in resolved)
    return [v for v in resolved if v.get("type") != "null"], nullable


def _find(schema: JsonObject, path: str) -> _Found:
    node: JsonObject = schema
    nullable = False
    for step in path.split("."):
        name, into_items = (step[:-2], True) if step.endswith("[]") else (step, False)
        variants, may_be_null = _variants(schema, node)
        nullable |= may_be_null
        holders = [v for v in variants if name in v.get("properties", {})]
        if not holders:
            raise _PathError(f"no field {name!r} here")
        holder = holders[0]
        if name not in holder.get("required", ()):
            nullable = True
        node = holder["properties"][name]
        if into_items:
            arrays, may_be_null = _variants(schema, node)
            nullable |= may_be_null
            if not arrays or any(v.get("type") != "array" for v in arrays):
                raise _PathError(f"{name!r} is not an array")
            node = arrays[0].get("items", {})
    if SEALED_KEYWORD in node:
        _, may_be_null = _variants(schema, node)
        return _Found(frozenset({"sealed"}), None, nullable or may_be_null)
    variants, may_be_null = _variants(schema, node)
    shapes: set[str] = set()
    values: set[str] | None = None
    for variant in variants:
        declared = variant.get("type", "object" if "properties" in variant else "any")
        shapes.add(variant["format"] if variant.get("format") in _FORMATS else str(declared))
        if "enum" in variant or "const" in variant:
            listed = variant.get("enum", [variant.get("const")])
            values = (values or set()) | {str(v) for v in listed}
    return _Found(
        frozenset(shapes), None if values is None else frozenset(values), nullable or may_be_null
    )


def _accepts(expected: str, actual: str) -> bool:
    if expected == "string":
        return actual in {"string", *_FORMATS}
    if expected == "number":
        return actual in {"number", "integer"}
    return expected == actual


def schema_problems(schema: JsonObject, path: str, expectation: str) -> list[str]:
    """What the schema fails to promise of one path (empty: it promises it)."""
    expected = Expected.parse(expectation)
    try:
        found = _find(schema, path)
    except _PathError as gap:
        return [str(gap)]
    problems: list[str] = []
    if not found.shapes or not all(_accepts(expected.shape, s) for s in found.shapes):
        problems.append(
            f"expected {expected.shape}, the producer has {'/'.join(sorted(found.shapes))}"
        )
    if expected.values:
        if found.values is None:
            problems.append("expected a closed list, the producer's is open")
        elif missing := sorted(expected.values - found.values):
            problems.append(f"the closed list lacks {', '.join(missing)}")
    if found.nullable and not expected.optional:
        problems.append(f"may be null or absent: expect {expectation}? and handle it")
    return problems


def _values_at(data: object, steps: list[str]) -> Iterator[object]:
    """Every value a path reaches in JSON data (None where it stops at a null or a gap)."""
    if not steps:
        yield data
        return
    if not isinstance(data, Mapping):
        yield None
        return
    step, rest = steps[0], steps[1:]
    name, into_items = (step[:-2], True) if step.endswith("[]") else (step, False)
    value = data.get(name)
    if into_items and isinstance(value, list):
        for item in value:
            yield from _values_at(item, rest)
    elif into_items:
        yield None
    else:
        yield from _values_at(value, rest)


_PYTHON_SHAPES: Final[dict[str, tuple[type, ...]]] = {
    "string": (str,),
    "uuid": (str,),
    "date": (str,),
    "date-time": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "sealed": (dict,),
}


def data_problems(data: JsonObject, path: str, expectation: str) -> list[str]:
    """What one event's JSON data fails to provide of one path."""
    expected = Expected.parse(expectation)
    problems = []
    for value in _values_at(data, path.split(".")):
        if value is None:
            if not expected.optional:
                problems.append("null or absent in the data")
        elif not isinstance(value, _PYTHON_SHAPES[expected.shape]) or (
            expected.shape in ("integer", "number") and isinstance(value, bool)
        ):
            problems.append(f"{type(value).__name__} in the data, expected {expected.shape}")
    return problems


def verify(contract: ConsumerContract, registry: EventRegistry = CATALOGUE) -> list[str]:
    """Every expectation of the consumer that the producers' current schemas do not meet."""
    problems: list[str] = []
    if contract.consumer not in SERVICE_NAMES:
        return [f"{contract.consumer!r} is not a service"]
    for event_type, reliance in contract.reads.items():
        where = f"{contract.consumer} reads {event_type}"
        if not registry.is_published(event_type):
            problems.append(f"{where}: no such published event")
            continue
        if registry.service_of(event_type) == contract.consumer:
            problems.append(f"{where}: its own event is no contract between services")
            continue
        schema = event_schema(registry.latest(event_type), registry)
        for path, expectation in reliance.fields.items():
            try:
                found = schema_problems(schema, path, expectation)
            except ValueError as bad:
                found = [str(bad)]
            problems.extend(f"{where}.{path}: {problem}" for problem in found)
    return problems


def load_all(directory: Path) -> list[ConsumerContract]:
    """Every `<service>.json` contract in a directory, checked to be named after its consumer."""
    contracts = []
    for path in sorted(directory.glob("*.json")):
        contract = ConsumerContract.load(path)
        if contract.consumer != path.stem:
            raise ValueError(f"{path} states the consumer {contract.consumer!r}")
        contracts.append(contract)
    return contracts
