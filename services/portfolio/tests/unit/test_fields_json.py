"""A recommendation set's JSON columns written by orjson from its models' fields (ADR 0102,
`json_columns.FieldsJson`): the text pydantic's JSON mode and the canonical encoder give, for
every model of the set; a model whose dump is not its fields, or a value orjson refuses, is
refused, and the handler then writes the same rows by the dump."""

import json
import uuid
import warnings
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, NewType

import pytest
from pydantic import BaseModel, ConfigDict, Field, computed_field, field_serializer

from bilet.contracts import CATALOGUE
from bilet.contracts.catalogue.recommender import RecommendationsIssued
from bilet.contracts.examples import EXAMPLES
from bilet.eventstore import RecordedEvent
from bilet.projections.sqlite import SqliteReadModel
from bilet_portfolio.adapters import json_text
from bilet_portfolio.adapters.projection import recommender
from bilet_portfolio.adapters.projection.json_columns import FieldsJson, NotPlain, plain_models
from bilet_portfolio.adapters.testing import apply_in_order, dump

_FORBID = ConfigDict(frozen=True, extra="forbid")


def _set(version: int) -> RecommendationsIssued:
    data = EXAMPLES[("RecommendationsIssued", version)]
    newest = CATALOGUE.upcast("RecommendationsIssued", version, data) if version == 1 else data
    return RecommendationsIssued.model_validate_json(json.dumps(newest))


def test_every_model_of_a_set_is_written_from_its_fields() -> None:
    """Else the fast way is never taken (the schema's objects: every model the set holds)."""
    definitions = RecommendationsIssued.model_json_schema()["$defs"]
    models = {name for name, schema in definitions.items() if schema.get("type") == "object"}
    assert {model.__name__ for model in plain_models(RecommendationsIssued)} == models


@pytest.mark.parametrize("version", [1, 2])
def test_each_part_of_a_set_is_the_text_of_its_json_dump(version: int) -> None:
    issued = _set(version)
    fields_json = FieldsJson(plain_models(RecommendationsIssued))
    dumped = issued.model_dump(mode="json")
    for part in recommender._JSON_PARTS:
        value = getattr(issued, part)
        expected = None if value is None else json_text.to_json(dumped[part])
        assert (None if value is None else fields_json(value)) == expected, part


class _Plain(BaseModel):
    model_config = _FORBID
    name: str
    count: int


class _Dated(BaseModel):
    model_config = _FORBID
    at: datetime


class _Computed(BaseModel):
    model_config = _FORBID
    count: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def double(self) -> int:
        return 2 * self.count


class _Serialised(BaseModel):
    model_config = _FORBID
    count: int

    @field_serializer("count")
    def _as_text(self, count: int) -> str:
        return str(count)


class _Aliased(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", serialize_by_alias=True)
    count: int = Field(serialization_alias="n")


class _Excluded(BaseModel):
    model_config = _FORBID
    count: int = Field(exclude=True)


class _Extra(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")
    count: int


Instant = NewType("Instant", datetime)


class _NewTyped(BaseModel):  # a name for datetime: the walk sees no type in it
    model_config = _FORBID
    at: Instant


class _Cached(BaseModel):  # once read, its value sits in __dict__
    model_config = ConfigDict(frozen=True, extra="forbid", ignored_types=(cached_property,))
    count: int

    @cached_property
    def double(self) -> int:
        return 2 * self.count


with warnings.catch_warnings():  # `json_encoders` is deprecated, and still honoured by the dump
    warnings.simplefilter("ignore", DeprecationWarning)

    class _Encoded(BaseModel):
        model_config = ConfigDict(
            frozen=True, extra="forbid", json_encoders={uuid.UUID: lambda u: u.hex}
        )
        id: uuid.UUID


class _ExcludedIf(BaseModel):
    model_config = _FORBID
    count: int | None = Field(default=None, exclude_if=lambda value: value is None)


class Shouting(str):
    """A str of its own: orjson would write it as it is, whatever pydantic makes of it."""


class _Subclassed(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)
    word: Shouting


class _Root(BaseModel):
    plain: _Plain
    dated: _Dated
    computed: tuple[_Computed, ...]
    serialised: _Serialised | None
    aliased: _Aliased
    excluded: _Excluded
    extra: _Extra
    new_typed: _NewTyped
    cached: _Cached
    encoded: _Encoded
    excluded_if: _ExcludedIf


def test_only_models_whose_dump_is_their_fields_are_plain() -> None:
    assert plain_models(_Root) == {_Plain}


def test_a_value_of_a_plain_model_that_is_more_than_its_fields_is_refused() -> None:
    # `model_copy(update=...)` with a key that is no field puts it in __dict__.
    with pytest.raises(NotPlain):
        FieldsJson(plain_models(_Root))(_Plain(name="x", count=1).model_copy(update={"more": 2}))


def test_a_subclass_of_str_is_refused_even_in_a_model_taken_for_plain() -> None:
    with pytest.raises(NotPlain):
        FieldsJson(frozenset({_Subclassed}))(_Subclassed(word=Shouting("ab")))


def test_a_datetime_is_refused_even_in_a_model_taken_for_plain() -> None:
    with pytest.raises(NotPlain):
        FieldsJson(frozenset({_NewTyped}))(_NewTyped(at=Instant(datetime(2026, 1, 2, tzinfo=UTC))))


@pytest.mark.parametrize(
    "value",
    [
        _Dated(at=datetime(2026, 1, 1, tzinfo=UTC)),
        (_Computed(count=1),),
        _Serialised(count=1),
        _Aliased(count=1),
        _Excluded(count=1),
        _Extra(count=1, more=2),
        _Plain(name="x", count=2**70),  # beyond 64 bits: orjson refuses it
    ],
    ids=lambda value: type(value).__name__,
)
def test_what_is_not_written_as_its_dump_is_refused(value: Any) -> None:
    with pytest.raises(NotPlain):
        FieldsJson(plain_models(_Root))(value)


def test_a_plain_model_is_written_as_its_dump() -> None:
    value = [_Plain(name="Ёжик «в» \u2028", count=-(2**63))]
    assert FieldsJson(plain_models(_Root))(value) == json_text.to_json(
        [item.model_dump(mode="json") for item in value]
    )


@pytest.mark.parametrize("version", [1, 2])
async def test_a_set_refused_takes_the_dumps_way_to_the_same_rows(
    tmp_path: Path, version: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = EXAMPLES[("RecommendationsIssued", version)]
    recorded = RecordedEvent(
        stream_id=_set(version).stream_id,
        version=0,
        position=1,
        event_id=uuid.uuid4(),
        type="RecommendationsIssued",
        data=json.dumps(data).encode(),
        metadata=json.dumps({"schema_version": version}).encode(),
        recorded_at=datetime(2019, 12, 1, tzinfo=UTC),
    )
    rows: list[dict[str, Any]] = []
    for plain in (plain_models(RecommendationsIssued), frozenset()):
        monkeypatch.setattr(recommender, "_FIELDS_JSON", FieldsJson(plain))
        read_model = await SqliteReadModel.open(tmp_path / f"rm{len(rows)}.sqlite3")
        await apply_in_order(read_model, [("recommender", recorded)])
        rows.append(await dump(read_model))
        await read_model.close()
    assert rows[0] == rows[1]
