"""Golden samples: one stored event of every published version, committed once and never
rewritten. Every one of them must decode, through the upcasters, to the newest version forever."""

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bilet.contracts import CATALOGUE, EventMetadata, decode
from bilet.contracts.catalogue.identity import ParticipantRegistered
from bilet.eventstore import NewEvent

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
SCHEMAS = HERE.parents[1] / "docs" / "contracts" / "schemas"
SAMPLES = sorted(GOLDEN.glob("*.json"))


def _load(path: Path) -> dict[str, Any]:
    sample: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return sample


def _stored(sample: dict[str, Any]) -> NewEvent:
    return NewEvent(
        type=sample["type"],
        data=json.dumps(sample["data"], ensure_ascii=False).encode(),
        metadata=json.dumps(sample["metadata"]).encode(),
    )


def test_every_published_version_has_a_golden_sample_and_nothing_else_does() -> None:
    published = {f"{m.event_type}.v{m.schema_version}.json" for m in CATALOGUE.all_versions()}
    assert {path.name for path in SAMPLES} == published


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_a_golden_sample_decodes_to_the_newest_version(path: Path) -> None:
    sample = _load(path)
    event_type, version = sample["type"], sample["metadata"]["schema_version"]
    assert path.stem == f"{event_type}.v{version}"

    event = decode(_stored(sample))

    assert type(event) is CATALOGUE.latest(event_type)
    assert event.stream_id == sample["stream_id"]
    assert EventMetadata.model_validate(sample["metadata"]).schema_version == version


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_a_golden_sample_is_what_its_version_published(path: Path) -> None:
    # The sample is a genuine event of its own version: its model and its committed schema
    # accept it, so the sample, the code and the documentation cannot drift apart unnoticed.
    sample = _load(path)
    version = sample["metadata"]["schema_version"]
    CATALOGUE.model(sample["type"], version).model_validate_json(json.dumps(sample["data"]))
    schema = json.loads((SCHEMAS / path.name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(
        sample["data"]
    )


def test_given_a_2019_registration_when_replayed_then_it_reads_as_the_2019_season() -> None:
    v1 = _load(GOLDEN / "ParticipantRegistered.v1.json")
    v2 = _load(GOLDEN / "ParticipantRegistered.v2.json")
    assert "season" not in v1["data"]

    old, new = decode(_stored(v1)), decode(_stored(v2))

    assert isinstance(old, ParticipantRegistered)
    assert old.season == 2019
    # Apart from the season, v2 carries what v1 did: the upcaster loses nothing.
    assert old.model_dump(exclude={"season"}) == new.model_dump(exclude={"season"})
