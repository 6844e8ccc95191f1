"""A published event version is never edited in a way that breaks its readers: the schema the
code generates now is compared with the committed schema of the same version."""

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from bilet.contracts import CATALOGUE
from bilet.contracts.compatibility import incompatibilities
from bilet.contracts.export import SCHEMAS_DIR, main, refusals
from bilet.contracts.schemas import event_schema

REPO = Path(__file__).resolve().parents[2]
MODELS = list(CATALOGUE.all_versions())


@pytest.mark.parametrize("model", MODELS, ids=lambda m: f"{m.event_type}.v{m.schema_version}")
def test_the_current_schema_keeps_every_promise_of_the_published_one(model: Any) -> None:
    committed = REPO / SCHEMAS_DIR / f"{model.event_type}.v{model.schema_version}.json"
    assert committed.exists(), f"{committed.name} is not published yet: run `make contracts`"
    published = json.loads(committed.read_text(encoding="utf-8"))
    found = incompatibilities(published, event_schema(model))
    assert [str(i) for i in found] == [], "publish a new version with an upcaster instead"


def test_no_published_version_was_removed() -> None:
    assert refusals(REPO) == []


def _published_copy(tmp_path: Path) -> Path:
    shutil.copytree(REPO / SCHEMAS_DIR, tmp_path / SCHEMAS_DIR)
    return tmp_path


def test_given_a_published_schema_when_the_code_breaks_it_then_make_contracts_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given: the published ParticipantRegistered v2 has a required field the code no longer
    # has (as if someone deleted it from the class).
    root = _published_copy(tmp_path)
    published = root / SCHEMAS_DIR / "ParticipantRegistered.v2.json"
    schema = json.loads(published.read_text(encoding="utf-8"))
    schema["properties"]["class_letter"] = {"type": "string"}
    schema["required"].append("class_letter")
    published.write_text(json.dumps(schema), encoding="utf-8")
    before = published.read_text(encoding="utf-8")

    # When: `make contracts` runs.
    status = main(["--root", str(root)])

    # Then: it refuses, says why, and overwrites nothing.
    assert status == 2
    assert "class_letter: field removed — breaks stored events" in capsys.readouterr().err
    assert published.read_text(encoding="utf-8") == before
    assert not (root / "docs/contracts/asyncapi.yaml").exists()


def test_a_removed_version_is_refused(tmp_path: Path) -> None:
    root = _published_copy(tmp_path)
    (root / SCHEMAS_DIR / "ParticipantRegistered.v0.json").write_text("{}", encoding="utf-8")
    assert [r.problems for r in refusals(root)] == [("a published version is never removed",)]


def test_a_fresh_checkout_is_generated_whole_and_then_checks_clean(tmp_path: Path) -> None:
    assert main(["--root", str(tmp_path)]) == 0
    assert main(["--root", str(tmp_path), "--check"]) == 0
    for path in (tmp_path / SCHEMAS_DIR).glob("*.json"):
        assert path.read_text(encoding="utf-8") == (REPO / SCHEMAS_DIR / path.name).read_text(
            encoding="utf-8"
        )
    golden = sorted(p.name for p in (tmp_path / "tests/contract/golden").glob("*.json"))
    assert golden == sorted(p.name for p in (REPO / "tests/contract/golden").glob("*.json"))
    (tmp_path / "docs/contracts/asyncapi.yaml").write_text("stale\n", encoding="utf-8")
    assert main(["--root", str(tmp_path), "--check"]) == 1
