"""The projection's handlers write the same bytes with the fast JSON encoder as with the read
model's canonical one (ADR 0079): the encoders agree value by value, on every event of the
catalogue and on a whole world history's rows; a recommendation set serialised in one pass
gives each column the text its items gave one by one; timestamps keep their fixed-width form."""

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from bilet.contracts import CATALOGUE
from bilet.contracts.catalogue.recommender import RecommendationsIssued
from bilet.contracts.examples import EXAMPLES
from bilet.eventstore import RecordedEvent
from bilet.projections.sqlite import SqliteReadModel
from bilet_portfolio.adapters import document, json_text
from bilet_portfolio.adapters.projection import (
    career_events,
    consent,
    diagnostics,
    identity,
    json_columns,
    recommender,
    step,
)
from bilet_portfolio.adapters.testing import apply_in_order, dump, world_history

if TYPE_CHECKING:
    from bilet.projections import ReadModelTx
    from services.portfolio.tests.conftest import Catalogue, Ids, Recorder


class _Colour(StrEnum):
    RED = "red"


AWKWARD_VALUES: list[Any] = [
    "".join(chr(code) for code in range(0x100)),  # every control character, quotes, backslash
    "Ёжик «в тумане» \u2028\u2029\ufeff \U0001f600",
    {"b": 1, "a": [1, (2, 3)], "Я": None, "é": True, "z": False, "": "", "A": {"y": 1, "x": 2}},
    [_Colour.RED, {"key": _Colour.RED}],
    [2**63 - 1, -(2**63), 2**64 - 1, 2**70, -(2**70)],  # beyond 64 bits: the standard encoder
    {2: "b", 1: "a"},  # a key that is not a string: the standard encoder
    "\ud800 a lone surrogate",  # not UTF-8: the standard encoder
    [],
    {},
    None,
]


@pytest.mark.parametrize("value", AWKWARD_VALUES)
def test_the_fast_encoder_writes_the_canonical_text(value: Any) -> None:
    assert json_columns.to_json(value) == json_text.to_json(value)


def test_the_handlers_encoder_is_the_fast_one_itself() -> None:
    """No wrapper on the hot path: a call more per JSON column."""
    assert json_columns.to_json is json_text.to_json_fast


@pytest.mark.parametrize("value", [*AWKWARD_VALUES, 2**64 + 1, -(2**63) - 1])
def test_the_fast_decoder_reads_back_what_the_standard_one_reads(value: Any) -> None:
    """orjson turns an integer beyond 64 bits into a float rather than refusing it: such texts
    must reach the standard decoder (a column holds what the contract allows, any integer)."""
    fast = json_text.from_json(json_text.to_json_fast(value))
    standard = json.loads(json_text.to_json(value))
    assert fast == standard
    # `==` alone takes 2**70 and its float for equal: their texts tell them apart.
    assert json_text.to_json(fast) == json_text.to_json(standard)


@pytest.mark.parametrize(
    "text",
    [
        "18446744073709551617",
        '{"a": [1, -9223372036854775809]}',  # not canonical, beyond 64 bits
        '{"b":1, "a":"x"}',  # not canonical: read as it stands
        "[1" + "0" * 400 + "]",  # beyond a double
        '"\\ud800"',
        '{"count":18446744073709551615,"low":-9223372036854775808}',  # within 64 bits
        '["12345678901234567890123 digits in a string"]',
    ],
)
def test_the_fast_decoder_reads_any_text_as_the_standard_one(text: str) -> None:
    fast, standard = json_text.from_json(text), json.loads(text)
    assert (fast, json_text.to_json(fast)) == (standard, json_text.to_json(standard))


@pytest.mark.parametrize("key", sorted(EXAMPLES), ids=lambda key: f"{key[0]}-v{key[1]}")
def test_every_event_of_the_catalogue_encodes_the_same(key: tuple[str, int]) -> None:
    event_type, version = key
    event = CATALOGUE.model(event_type, version).model_validate_json(json.dumps(EXAMPLES[key]))
    values = event.model_dump(mode="json")
    assert json_columns.to_json(values) == json_text.to_json(values)


def _has_number(schema: Any) -> bool:
    if isinstance(schema, dict):
        return schema.get("type") == "number" or any(_has_number(v) for v in schema.values())
    if isinstance(schema, list):
        return any(_has_number(item) for item in schema)
    return False


def test_no_published_event_carries_a_float() -> None:
    """Floats are where the encoders differ (`1e-07` against `1e-7`): a float field in the
    catalogue needs `json_columns` to send floats to the standard encoder first."""
    with_floats = [
        event_type
        for event_type in CATALOGUE.event_types()
        if _has_number(CATALOGUE.latest(event_type).model_json_schema())
    ]
    assert with_floats == []


@pytest.mark.parametrize("version", [1, 2])
async def test_a_recommendation_set_writes_the_text_of_its_items(
    tmp_path: Path, version: int
) -> None:
    data = EXAMPLES[("RecommendationsIssued", version)]
    event = CATALOGUE.model("RecommendationsIssued", version).model_validate_json(json.dumps(data))
    newest = CATALOGUE.upcast("RecommendationsIssued", version, data) if version == 1 else data
    issued = RecommendationsIssued.model_validate_json(json.dumps(newest))
    recorded = RecordedEvent(
        stream_id=event.stream_id,
        version=0,
        position=1,
        event_id=uuid.uuid4(),
        type="RecommendationsIssued",
        data=json.dumps(data).encode(),
        metadata=json.dumps({"schema_version": version}).encode(),
        recorded_at=datetime(2019, 12, 1, tzinfo=UTC),
    )
    read_model = await SqliteReadModel.open(tmp_path / "rm.sqlite3")
    await apply_in_order(read_model, [("recommender", recorded)])
    rows = await dump(read_model)
    await read_model.close()

    def items(values: Any) -> str | None:  # the handler's encoding before ADR 0079
        return None if values is None else json_text.to_json([step.plain(v) for v in values])

    ((_, _, _, rules, basis, leading, plan, opportunities, _, _),) = rows["recommendations"]
    assert (rules, basis) == (
        json_text.to_json(step.plain(issued.rules)),
        json_text.to_json(step.plain(issued.basis)),
    )
    assert leading == json_text.to_json([e.value for e in issued.leading_environments])
    assert (plan, opportunities) == (items(issued.study_plan), items(issued.opportunities))
    ((_, _, scores, classes, routes),) = rows["recommendation_outlooks"]
    assert (scores, classes, routes) == (
        items(issued.environment_scores),
        items(issued.profile_classes),
        items(issued.routes),
    )
    if version == 2:
        assert scores is not None
        assert classes is not None
        assert routes is not None


async def test_a_world_history_writes_the_rows_the_standard_encoder_writes(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    catalogue: "Catalogue",
    ids: "Ids",
    recorder: "Recorder",
) -> None:
    recorded = await world_history(catalogue, ids, recorder)
    fast = await SqliteReadModel.open(tmp_path / "fast.sqlite3")
    await apply_in_order(fast, recorded)
    rows = await dump(fast)
    await fast.close()
    for module in (career_events, consent, diagnostics, identity, recommender, step, document):
        monkeypatch.setattr(module, "to_json", json_text.to_json)
    # A set's columns by the dump's way, not from its models' fields (ADR 0102).
    monkeypatch.setattr(recommender, "_FIELDS_JSON", json_columns.FieldsJson(frozenset()))
    # The documents read their JSON columns back with the standard decoder too (ADR 0097).
    monkeypatch.setattr(document, "from_json", _standard_from_json)
    standard = await SqliteReadModel.open(tmp_path / "standard.sqlite3")
    await apply_in_order(standard, recorded)
    assert rows == await dump(standard)
    assert rows["recommendations"]
    assert rows["portfolio_documents"]
    await standard.close()


def _standard_from_json(text: str | None, default: Any = None) -> Any:
    return default if text is None else json.loads(text)


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 12, 7, 8, 0, 0, tzinfo=UTC),  # no microseconds: still six digits
        datetime(2026, 12, 7, 8, 0, 0, 5, tzinfo=timezone(timedelta(hours=3))),
        datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=-5))),
    ],
)
def test_a_timestamp_keeps_its_fixed_width_utc_form(moment: datetime) -> None:
    assert step.timestamp(moment) == moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_a_participant_id_becomes_its_text_whichever_came_before() -> None:
    recorded = RecordedEvent(
        stream_id="s",
        version=0,
        position=1,
        event_id=uuid.uuid4(),
        type="T",
        data=b"{}",
        metadata=b"{}",
        recorded_at=datetime(2019, 12, 1, tzinfo=UTC),
    )
    one, other = uuid.uuid4(), uuid.uuid4()
    at = step.Step(cast("ReadModelTx", None), recorded, "identity")
    for participant_id in (None, one, one, other, one, None):
        assert at.text_of(participant_id) == str(participant_id)
