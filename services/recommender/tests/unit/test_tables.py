"""The recommendation rules tables: every shipped version parses and keeps the rules, and a
published version is never edited (its digest is recorded here; a change is a new version)."""

import hashlib
import json
from pathlib import Path

import pytest

from bilet.contracts.vocabulary import Environment, MappingRowRef
from bilet_recommender.adapters.tables import current_rules, load_tables, shipped
from bilet_recommender.domain.errors import InvalidRules
from bilet_recommender.domain.rules import Route, Source, parse_rules

# A new version adds a line; nobody edits a digest on an old line. Old versions stay shipped:
# published recommendations name them.
PUBLISHED = {
    "recommendation_rules/1.0.0.json": (
        "2ea6b4053af067d18ebab90e464b14b7e444973782be10fab22e3c16d71686f8"
    ),
}
TABLES = Path(str(shipped()))


def test_published_tables_are_never_edited() -> None:
    for path, digest in PUBLISHED.items():
        data = (TABLES / path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, f"{path} was edited: bump its version"
    assert {t.digest for t in load_tables()} == set(PUBLISHED.values())


def test_the_current_table_covers_every_environment_with_subjects_profiles_and_routes() -> None:
    rules = current_rules()
    assert rules.ref.version == "1.0.0"
    assert [e.environment for e in rules.environments] == list(Environment)
    for entry in rules.environments:
        assert entry.subjects
        assert entry.profile_classes
        assert {(r.after_grade, r.route) for r in entry.routes} == {
            (9, Route.SPO),
            (11, Route.SPO),
            (11, Route.VO),
        }
    assert [w.source for w in rules.weights] == list(Source)
    for row in rules._rows():  # every row id is a valid published row reference
        MappingRowRef(mapping_id=rules.rules_id, version=rules.version, row=row.row)
        assert rules.reason(row.row)


def _edited(**changes: object) -> bytes:
    data = json.loads((TABLES / "recommendation_rules/1.0.0.json").read_bytes())
    data.update(changes)
    return json.dumps(data, ensure_ascii=False).encode()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"weights": []}, "one row per source"),
        ({"environments": []}, "one entry per environment"),
        ({"leading_count": 4}, "leading_count"),
    ],
)
def test_a_broken_table_is_refused_naming_the_file(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidRules, match=message) as refused:
        parse_rules("recommendation_rules/1.0.0.json", _edited(**changes))
    assert refused.value.details["source"] == "recommendation_rules/1.0.0.json"


def test_a_table_is_named_after_the_version_it_states() -> None:
    with pytest.raises(InvalidRules, match="named so"):
        parse_rules("recommendation_rules/1.1.0.json", _edited())


def test_repeated_row_ids_are_refused() -> None:
    data = json.loads((TABLES / "recommendation_rules/1.0.0.json").read_bytes())
    data["environments"][1]["row"] = data["environments"][0]["row"]
    with pytest.raises(InvalidRules, match=r"row ids repeat: env\.safe"):
        parse_rules("recommendation_rules/1.0.0.json", json.dumps(data).encode())
