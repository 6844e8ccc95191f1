"""The consumer-contract checker: given what a consumer relies on, it finds every broken promise
of the producer's schema and of real event data."""

import json
from pathlib import Path

import pytest

from bilet.contracts.catalogue.diagnostics import StageCompleted
from bilet.contracts.catalogue.events import MentorFeedbackGiven
from bilet.contracts.catalogue.identity import ParticipantDetailsCorrected
from bilet.contracts.consumers import (
    ConsumerContract,
    Expected,
    data_problems,
    load_all,
    schema_problems,
    verify,
)
from bilet.contracts.examples import EXAMPLES
from bilet.contracts.schemas import event_schema


@pytest.mark.parametrize(
    ("path", "expectation"),
    [
        ("participant_id", "uuid"),
        ("participant_id", "string"),
        ("season", "integer"),
        ("season", "number"),
        ("stage", "enum:interests,soft_skills"),
        ("answer_sheet.digest", "string"),
        ("interests.environments.scores.smart", "integer?"),
        ("interests.environments.leading[]", "enum:smart?"),
        ("soft_skills.levels[].level", "string?"),
        ("interests", "object?"),
    ],
)
def test_a_promise_the_schema_keeps(path: str, expectation: str) -> None:
    assert schema_problems(event_schema(StageCompleted), path, expectation) == []


@pytest.mark.parametrize(
    ("path", "expectation", "problem"),
    [
        ("pupil_name", "string", "no field 'pupil_name'"),
        ("answer_sheet.pages", "integer", "no field 'pages'"),
        ("season", "string", "expected string, the producer has integer"),
        ("participant_id", "date", "expected date, the producer has uuid"),
        ("stage", "enum:interests,career_guidance", "lacks career_guidance"),
        ("answer_sheet.digest", "enum:x", "the producer's is open"),
        ("interests.environments.scores.smart", "integer", "may be null or absent"),
        ("soft_skills.levels[].level", "string", "may be null or absent"),
        ("stage[]", "string", "'stage' is not an array"),
    ],
)
def test_a_promise_the_schema_breaks(path: str, expectation: str, problem: str) -> None:
    problems = schema_problems(event_schema(StageCompleted), path, expectation)
    assert any(problem in found for found in problems), problems


def test_sealed_fields_are_a_shape_of_their_own() -> None:
    schema = event_schema(MentorFeedbackGiven)
    assert schema_problems(schema, "comment", "sealed?") == []
    assert schema_problems(schema, "comment", "sealed") == [
        "may be null or absent: expect sealed? and handle it"
    ]
    assert schema_problems(schema, "comment", "string?") == [
        "expected string, the producer has sealed"
    ]


def test_an_optional_correction_must_be_expected_as_optional() -> None:
    schema = event_schema(ParticipantDetailsCorrected)
    assert schema_problems(schema, "grade", "integer?") == []
    assert schema_problems(schema, "grade", "integer") != []


@pytest.mark.parametrize("text", ["text", "enum:", "integer!", "uuid??"])
def test_an_unknown_expectation_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"no shape|name the values"):
        Expected.parse(text)


def test_real_data_is_checked_along_arrays_and_nulls() -> None:
    data = json.loads(json.dumps(EXAMPLES[("StageCompleted", 1)]))
    assert data_problems(data, "interests.environments.leading[]", "string") == []
    assert data_problems(data, "soft_skills.levels[].level", "string?") == []
    assert data_problems(data, "soft_skills.levels[].level", "string") == [
        "null or absent in the data"
    ]
    assert data_problems(data, "season", "string") == ["int in the data, expected string"]
    data["interests"]["environments"]["leading"] = []
    assert data_problems(data, "interests.environments.leading[]", "string") == []


def test_verify_names_the_consumer_the_event_and_the_path() -> None:
    contract = ConsumerContract.model_validate(
        {
            "consumer": "recommender",
            "reads": {
                "StageCompleted": {"why": "scores", "fields": {"season": "string"}},
                "EventAttended": {"why": "attendance", "fields": {"participant_id": "uuid"}},
                "RecommendationsIssued": {"why": "own", "fields": {"participant_id": "uuid"}},
            },
        }
    )
    assert verify(contract) == [
        "recommender reads StageCompleted.season: expected string, the producer has integer",
        "recommender reads EventAttended: no such published event",
        "recommender reads RecommendationsIssued: its own event is no contract between services",
    ]


def test_a_contract_file_is_named_after_its_consumer(tmp_path: Path) -> None:
    (tmp_path / "events.json").write_text(
        json.dumps(
            {
                "consumer": "portfolio",
                "reads": {"SeatBooked": {"why": "x", "fields": {"a": "uuid"}}},
            }
        )
    )
    with pytest.raises(ValueError, match="states the consumer 'portfolio'"):
        load_all(tmp_path)
