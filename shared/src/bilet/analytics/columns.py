"""From a published event type to a typed table, and from a stored event to a row of it.

Every published type is one table (`ParticipantRegistered` → `participant_registered`) whose
columns are derived from the newest version's fields: numbers stay numbers, closed lists (enums)
become strings, dates are dates, times are timestamps with time zone (UTC), nested values are
structs and tuples lists. Three envelope columns come first: `event_key` (the event's pseudonym),
`recorded_at` and `source` (the publishing service).

Two rules keep people out of the tables:
- sealed (personal) fields are dropped: they are never decrypted, and not even their
  ciphertext is written; so are accessibility needs where the bus carries them in the clear;
- every id is replaced by its pseudonym, wherever it sits (nested ones too), except the ids of
  organisations and of the programme's catalogue (`ORGANISATIONAL_IDS`): a new id field is
  pseudonymised until someone decides it names no person.

A row is the JSON object of the newest version (`row_of`): read as it is stored when the source
holds what the contract validated on write (the services' stores) and the event is of the
newest version, else decoded (validated, upcast) and dumped (ADR 0087). The columns are built
from the row's JSON values the same way either way: dates and times cast by Arrow from their
ISO text, ids pseudonymised from theirs.
"""

import re
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from functools import cache
from operator import itemgetter
from typing import Any, Final
from uuid import UUID

import pyarrow as pa
from pydantic import AwareDatetime, BaseModel
from pydantic_core import from_json

from bilet.analytics.pseudonyms import Pseudonymiser
from bilet.contracts import CATALOGUE, DomainEvent, decode, sealed_fields
from bilet.contracts.codec import StoredEvent, schema_version_of

# Ids that name an organisation, a place or a catalogue entry, never a person nor a person's
# record: kept as they are, so analysts can join them with public reference data.
ORGANISATIONAL_IDS: Final = frozenset(
    {
        "region_id",
        "to_region_id",
        "school_id",
        "from_school_id",
        "to_school_id",
        "career_event_id",
        "session_id",  # a session of a career event (a catalogue entry, not a person's)
        "organiser_id",
        "opportunity_id",
    }
)
# Fields in the clear on the bus that an export still leaves out: a participant's accessibility
# needs are derived from health data (a special category, ADR 0017); organisers see them to
# prepare a venue, an analysis has no need of them.
WITHHELD_FIELDS: Final = frozenset({"accessibility_needs"})
# The participant an event is about: rows are kept only for participants in the export's
# population, and removed when they leave it.
PARTICIPANT_COLUMN: Final = "participant_id"
ENVELOPE: Final = (
    pa.field("event_key", pa.string(), nullable=False),
    pa.field("recorded_at", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("source", pa.string(), nullable=False),
)
TIMESTAMP: Final = pa.timestamp("us", tz="UTC")

Pseudonymise = Callable[[UUID], str]
# The same for an id's JSON text.
PseudonymiseText = Callable[[str], str]


class UnsupportedField(TypeError):
    """A field type the export does not know how to write (a programming error, found by the
    tests that derive every published type's table)."""


@cache  # asked for every event an export leaves out
def table_name(event_type: str) -> str:
    """`ParticipantRegistered` → `participant_registered`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", event_type).lower()


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """The type inside `Annotated[...]` and `X | None`, and whether None is allowed."""
    nullable = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            arguments = [a for a in typing.get_args(annotation) if a is not type(None)]
            nullable = nullable or len(arguments) < len(typing.get_args(annotation))
            if len(arguments) != 1:
                raise UnsupportedField(f"a union of {arguments}")
            annotation = arguments[0]
        else:
            return annotation, nullable


def arrow_type(annotation: Any) -> pa.DataType:
    """The Arrow type of a field's annotation."""
    annotation, _ = _unwrap(annotation)
    origin = typing.get_origin(annotation)
    if origin is tuple:
        arguments = typing.get_args(annotation)
        if len(arguments) != 2 or arguments[1] is not Ellipsis:
            raise UnsupportedField(f"a fixed tuple {annotation}")
        return pa.list_(arrow_type(arguments[0]))
    if origin is typing.Literal:
        return pa.string()
    if not isinstance(annotation, type):
        raise UnsupportedField(f"{annotation!r}")
    if issubclass(annotation, BaseModel):
        return pa.struct(_fields(annotation, dropped=frozenset()))
    if annotation is UUID or issubclass(annotation, Enum | str):
        return pa.string()
    if annotation is bool:
        return pa.bool_()
    if annotation is int:
        return pa.int64()
    if annotation is float:
        return pa.float64()
    if annotation is AwareDatetime or issubclass(annotation, datetime):
        return TIMESTAMP
    if issubclass(annotation, date):
        return pa.date32()
    raise UnsupportedField(f"{annotation!r}")


def _fields(model: type[BaseModel], dropped: frozenset[str]) -> list[pa.Field]:
    out = []
    for name, info in model.model_fields.items():
        if name in dropped:
            continue
        _, nullable = _unwrap(info.annotation)
        out.append(pa.field(name, arrow_type(info.annotation), nullable=nullable))
    return out


@cache
def dropped_fields(model: type[DomainEvent]) -> frozenset[str]:
    """The fields never written: sealed ones, and the health-derived ones in the clear."""
    return frozenset(sealed_fields(model)) | (WITHHELD_FIELDS & set(model.model_fields))


@cache
def schema_of(event_type: str) -> pa.Schema:
    """The table of a published type: the envelope, then the newest version's fields that are
    not sealed."""
    model = CATALOGUE.latest(event_type)
    fields = [*ENVELOPE, *_fields(model, dropped_fields(model))]
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        raise UnsupportedField(f"{event_type}: a field is named like an envelope column")
    return pa.schema(fields)


# An event as the table reads it: the JSON object of its type's newest version (ids, dates and
# times as their JSON text, enums as their values, nested models as objects).
Row = dict[str, Any]


@dataclass(frozen=True)
class _Shape:
    """What reading a type's stored JSON as a row needs to know of the type."""

    version: int  # the newest version: only its JSON is a row as it is
    columns: frozenset[str]  # the fields a row must hold (every field of the table)
    participant: bool  # `participant_id` is a UUID field: the participant the event is about


@cache
def _shape_of(event_type: str) -> _Shape:
    model = CATALOGUE.latest(event_type)
    info = model.model_fields.get(PARTICIPANT_COLUMN)
    return _Shape(
        model.schema_version,
        frozenset(model.model_fields) - dropped_fields(model),
        info is not None and _unwrap(info.annotation)[0] is UUID,
    )


def row_of(stored: StoredEvent, *, validated: bool) -> Row:
    """The stored event as the row its table is built from.

    `validated`: the event comes from one of our stores, whose events the contract validated
    when they were written (`encode`). Then an event of its type's newest version is read as
    its JSON is, without pydantic validating it again (most of the cost of reading an event);
    its sealed fields are in the object but never read (the table has no column for them).
    Any other event — an older version, which is upcast, or JSON without every column — is
    decoded (validated, upcast to the newest version) exactly as every reader decodes it, then
    dumped to its JSON object."""
    if validated:
        shape = _shape_of(stored.type)
        if schema_version_of(stored.metadata) == shape.version:
            try:
                row = from_json(stored.data)
            except ValueError:
                row = None  # not JSON: `decode` says why
            if isinstance(row, dict) and row.keys() >= shape.columns:
                return row
    return decode(stored).model_dump(mode="json")


def participant_of(event_type: str, row: Row) -> str | None:
    """The participant the event is about (the text of their id), if any."""
    if not _shape_of(event_type).participant:
        return None
    value = row[PARTICIPANT_COLUMN]
    return value if isinstance(value, str) else None


# A field's conversion for the table: None when its JSON value is written as it is (numbers,
# text, enums' values, dates and times: cast by Arrow from their ISO text), else a function of
# the value and the pseudonymiser. Built once per type from the annotations, so the values of
# fields without ids (a stage's nested results) are never walked.
Convert = Callable[[Any, PseudonymiseText], Any]
# The same for a whole column of values.
ConvertColumn = Callable[[list[Any], PseudonymiseText], list[Any]]


def _converter(name: str, annotation: Any) -> Convert | None:
    inner, nullable = _unwrap(annotation)
    convert = _converter_of(name, inner)
    if convert is None or not nullable:
        return convert
    present = convert
    return lambda value, pseudonymise: None if value is None else present(value, pseudonymise)


def _converter_of(name: str, annotation: Any) -> Convert | None:
    if typing.get_origin(annotation) is tuple:
        item = _converter(name, typing.get_args(annotation)[0])
        if item is None:
            return None
        return lambda values, pseudonymise: [item(v, pseudonymise) for v in values]
    if annotation is UUID:
        if name in ORGANISATIONAL_IDS:
            return None  # kept: its JSON text is the id's canonical text
        return lambda value, pseudonymise: pseudonymise(value)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        fields = _plan(annotation)
        if not fields:
            return None
        return lambda value, pseudonymise: _converted(value, fields, pseudonymise)
    return None


def _plan(model: type[BaseModel]) -> tuple[tuple[str, Convert], ...]:
    plan = []
    for name, info in model.model_fields.items():
        if (convert := _converter(name, info.annotation)) is not None:
            plan.append((name, convert))
    return tuple(plan)


def _converted(
    data: dict[str, Any], plan: tuple[tuple[str, Convert], ...], pseudonymise: PseudonymiseText
) -> dict[str, Any]:
    # A copy: the row's own objects stay as they were read.
    data = dict(data)
    for name, convert in plan:
        data[name] = convert(data[name], pseudonymise)
    return data


def _column_converter(name: str, annotation: Any) -> ConvertColumn | None:
    inner, nullable = _unwrap(annotation)
    if inner is UUID and not nullable and name not in ORGANISATIONAL_IDS:
        # the common case, mapped without a Python call per id
        return lambda values, pseudonymise: list(map(pseudonymise, values))
    convert = _converter(name, annotation)
    if convert is None:
        return None
    return lambda values, pseudonymise: [convert(v, pseudonymise) for v in values]


def _as_text(data_type: pa.DataType) -> pa.DataType:
    """The type with its dates and times as text: what a column of JSON values is built as,
    before Arrow casts it to `data_type` (parsing ISO 8601, offsets included)."""
    if pa.types.is_timestamp(data_type) or pa.types.is_date(data_type):
        return pa.string()
    if pa.types.is_list(data_type):
        return pa.list_(_as_text(data_type.value_type))
    if pa.types.is_struct(data_type):
        return pa.struct(
            [
                pa.field(field.name, _as_text(field.type), nullable=field.nullable)
                for field in data_type
            ]
        )
    return data_type


@dataclass(frozen=True)
class _Column:
    """How one field of a type's rows becomes its column."""

    name: str
    type: pa.DataType
    built_as: pa.DataType  # `type`, or its JSON form to cast from
    convert: ConvertColumn | None


@cache
def _columns_of(event_type: str) -> tuple[_Column, ...]:
    model = CATALOGUE.latest(event_type)
    schema = schema_of(event_type)
    columns = []
    for name, info in model.model_fields.items():
        if name in dropped_fields(model):
            continue
        data_type = schema.field(name).type
        convert = _column_converter(name, info.annotation)
        columns.append(_Column(name, data_type, _as_text(data_type), convert))
    return tuple(columns)


# What the table keeps of an event: its id, when it was recorded, the service that published
# it, and its row.
Taken = tuple[UUID, datetime, str, Row]


def table_of(event_type: str, taken: Sequence[Taken], pseudonymiser: Pseudonymiser) -> pa.Table:
    """The events of one type as rows of its table, sealed fields dropped, ids pseudonymised;
    built a column at a time (a field's values of every event, converted together), since
    per-event rows cost a Python dict per event and a lookup per cell."""
    event_ids, recorded_at, sources, rows = (list(c) for c in zip(*taken, strict=True))
    arrays = [
        pa.array(pseudonymiser.of_unique(event_ids), pa.string()),
        pa.array(recorded_at, TIMESTAMP),
        pa.array(sources, pa.string()),
    ]
    pseudonymise = pseudonymiser.of_text
    for column in _columns_of(event_type):
        values = list(map(itemgetter(column.name), rows))
        if column.convert is not None:
            values = column.convert(values, pseudonymise)
        array = pa.array(values, column.built_as)
        if column.built_as is not column.type:
            array = array.cast(column.type)
        arrays.append(array)
    return pa.Table.from_arrays(arrays, schema=schema_of(event_type))
