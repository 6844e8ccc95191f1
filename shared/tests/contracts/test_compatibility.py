"""The compatibility checker, given a published schema and a deliberately changed copy of it."""

import copy
from collections.abc import Callable
from typing import Any, ClassVar

import pytest

from bilet.contracts import EventRegistry
from bilet.contracts.catalogue.identity import ParticipantRegisteredV1, ParticipantRegisteredV2
from bilet.contracts.compatibility import Incompatibility, incompatibilities
from bilet.contracts.schemas import event_schema

Schema = dict[str, Any]


@pytest.fixture(scope="module")
def published() -> Schema:
    # A version with a closed list in the clear (v3 seals the accessibility needs), taken as if
    # it were the newest: an own registry, where no v3 supersedes it.
    registry = EventRegistry()
    for model in (ParticipantRegisteredV1, ParticipantRegisteredV2):
        registry.register(model)
    return event_schema(ParticipantRegisteredV2, registry)


def _changed(published: Schema, change: Callable[[Schema], None]) -> list[Incompatibility]:
    current = copy.deepcopy(published)
    change(current)
    return incompatibilities(published, current)


def _found(found: list[Incompatibility]) -> set[tuple[str, str, str]]:
    return {(i.path, i.change, i.breaks) for i in found}


def test_an_unchanged_schema_is_compatible(published: Schema) -> None:
    assert incompatibilities(published, copy.deepcopy(published)) == []


def test_documentation_may_change(published: Schema) -> None:
    def reword(schema: Schema) -> None:
        schema["description"] = "Reworded."
        schema["properties"]["grade"]["description"] = "Класс."
        schema["$defs"]["AccessibilityNeed"]["title"] = "Need"
        schema["properties"]["season"]["examples"] = [2020]

    assert _changed(published, reword) == []


def test_a_definition_may_be_renamed_if_it_stays_the_same(published: Schema) -> None:
    def rename(schema: Schema) -> None:
        schema["$defs"]["Envelope"] = schema["$defs"].pop("SealedValue")
        for name in ("full_name", "birth_date", "snils", "health_limitations"):
            schema["properties"][name]["anyOf"][0] = {"$ref": "#/$defs/Envelope"}

    assert _changed(published, rename) == []


def test_a_removed_field_breaks_reading_stored_events(published: Schema) -> None:
    def remove(schema: Schema) -> None:
        del schema["properties"]["grade"]
        schema["required"].remove("grade")

    assert _found(_changed(published, remove)) == {("grade", "field removed", "stored events")}


def test_a_renamed_field_is_reported_as_a_rename(published: Schema) -> None:
    def rename(schema: Schema) -> None:
        schema["properties"]["school_grade"] = schema["properties"].pop("grade")
        schema["required"] = [n if n != "grade" else "school_grade" for n in schema["required"]]

    assert _found(_changed(published, rename)) == {("grade", "renamed to 'school_grade'", "both")}


def test_a_type_change_breaks_both(published: Schema) -> None:
    def retype(schema: Schema) -> None:
        schema["properties"]["season"] = {"type": "string", "pattern": "^[0-9]{4}/[0-9]{2}$"}

    assert _found(_changed(published, retype)) == {
        ("season", "type changed from integer to string", "both")
    }


def test_a_new_required_field_breaks_both(published: Schema) -> None:
    def add(schema: Schema) -> None:
        schema["properties"]["class_letter"] = {"type": "string", "maxLength": 1}
        schema["required"].append("class_letter")

    assert _found(_changed(published, add)) == {("class_letter", "new required field", "both")}


def test_a_new_optional_field_breaks_older_readers(published: Schema) -> None:
    def add(schema: Schema) -> None:
        schema["properties"]["class_letter"] = {"type": "string", "default": None}

    assert _found(_changed(published, add)) == {
        ("class_letter", "new optional field", "older readers")
    }


def test_an_optional_field_made_required_breaks_stored_events(published: Schema) -> None:
    def require(schema: Schema) -> None:
        schema["required"].remove("grade")

    assert _found(_changed(published, require)) == {
        ("grade", "no longer required", "older readers")
    }
    assert _found(incompatibilities(_without_required(published, "grade"), published)) == {
        ("grade", "now required", "stored events")
    }


def _without_required(schema: Schema, name: str) -> Schema:
    changed = copy.deepcopy(schema)
    changed["required"].remove(name)
    return changed


def test_closed_lists_may_neither_lose_nor_gain_values(published: Schema) -> None:
    def narrow(schema: Schema) -> None:
        schema["$defs"]["AccessibilityNeed"]["enum"].remove("quiet_space")

    def widen(schema: Schema) -> None:
        schema["$defs"]["AccessibilityNeed"]["enum"].append("ramp")

    assert _found(_changed(published, narrow)) == {
        ("accessibility_needs[]", 'values "quiet_space" no longer accepted', "stored events")
    }
    assert _found(_changed(published, widen)) == {
        ("accessibility_needs[]", 'new values "ramp"', "older readers")
    }


def test_tighter_and_looser_bounds(published: Schema) -> None:
    def tighten(schema: Schema) -> None:
        schema["properties"]["grade"]["minimum"] = 6

    def loosen(schema: Schema) -> None:
        schema["properties"]["grade"]["maximum"] = 12

    assert _found(_changed(published, tighten)) == {("grade", "minimum 1 → 6", "stored events")}
    assert _found(_changed(published, loosen)) == {("grade", "maximum 11 → 12", "older readers")}


def test_a_sealed_field_may_not_become_plain(published: Schema) -> None:
    def unseal(schema: Schema) -> None:
        schema["properties"]["snils"] = {"type": "string", "x-bilet-sealed": "string"}

    assert _found(_changed(published, unseal)) == {
        ("snils", "2 accepted form(s) removed", "stored events"),
        ("snils", "1 accepted form(s) added", "older readers"),
        ("snils", "'x-bilet-sealed' changed", "both"),
    }

    def relabel(schema: Schema) -> None:
        schema["properties"]["snils"]["x-bilet-sealed"] = "string, digits only"

    assert _found(_changed(published, relabel)) == {("snils", "'x-bilet-sealed' changed", "both")}


def test_a_field_that_may_now_be_null_breaks_older_readers(published: Schema) -> None:
    def nullable(schema: Schema) -> None:
        schema["properties"]["grade"] = {"anyOf": [schema["properties"]["grade"], {"type": "null"}]}

    assert _found(_changed(published, nullable)) == {("grade", "may now be null", "older readers")}


def test_a_changed_stream_breaks_both(published: Schema) -> None:
    def restream(schema: Schema) -> None:
        schema["x-bilet-event"]["stream"] = "school-{school_id}"

    assert _found(_changed(published, restream)) == {("", "'x-bilet-event' changed", "both")}


def test_a_changed_nested_definition_is_found_where_it_is_used(published: Schema) -> None:
    def drop_kid(schema: Schema) -> None:
        schema["$defs"]["SealedValue"]["properties"].pop("kid")
        schema["$defs"]["SealedValue"]["required"].remove("kid")

    paths = {i.path for i in _changed(published, drop_kid)}
    assert paths == {"full_name.kid", "birth_date.kid", "snils.kid", "health_limitations.kid"}


def test_every_finding_reads_as_a_sentence() -> None:
    finding = Incompatibility("grade", "field removed", "stored events")
    assert str(finding) == "grade: field removed — breaks stored events"


def test_a_newer_version_leaves_the_published_ones_compatible(published: Schema) -> None:
    # Given ParticipantRegistered v2 is the newest; when a v3 appears, v2's schema gains only
    # the annotation that it is superseded.
    class ParticipantRegisteredV3(ParticipantRegisteredV2):
        """A later form."""

        event_type: ClassVar[str] = "ParticipantRegistered"
        schema_version: ClassVar[int] = 3

    registry = EventRegistry()
    for model in (ParticipantRegisteredV1, ParticipantRegisteredV2, ParticipantRegisteredV3):
        registry.register(model)
    superseded = event_schema(ParticipantRegisteredV2, registry)

    assert superseded["x-bilet-superseded-by"] == "ParticipantRegistered.v3"
    assert incompatibilities(published, superseded) == []
