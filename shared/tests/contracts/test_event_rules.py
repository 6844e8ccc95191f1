"""The rules a published event itself guarantees to every reader, given the example of each
event, when one rule is broken, then the event is refused."""

import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from bilet.contracts import CATALOGUE, DomainEvent
from bilet.contracts.catalogue.events import SeatBooked
from bilet.contracts.examples import EXAMPLES

Change = Callable[[dict[str, Any]], None]


def _valid(event_type: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        json.dumps(EXAMPLES[(event_type, max(CATALOGUE.versions(event_type)))])
    )
    return data


def _event(event_type: str, data: dict[str, Any]) -> DomainEvent:
    return CATALOGUE.latest(event_type).model_validate_json(json.dumps(data))


def _set(path: str, value: object) -> Change:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for name in parents:
            data = data[name]
        data[last] = value

    return change


BROKEN_RULES: dict[str, tuple[str, Change]] = {
    "ДДО scores sum to 20, one point per pair": (
        "StageCompleted",
        _set("interests.klimov.scores.technology", 8),
    ),
    "a ДДО type scores at most 8": ("StageCompleted", _set("interests.klimov.scores.nature", 9)),
    "a RIASEC type scores at most 40": (
        "StageCompleted",
        _set("interests.riasec.scores.social", 41),
    ),
    "an environment scores 0–100": (
        "StageCompleted",
        _set("interests.environments.scores.smart", 101),
    ),
    "a completed stage carries its own stage's result": (
        "StageCompleted",
        _set("stage", "soft_skills"),
    ),
    "ДДО scores name the ДДО instrument": (
        "StageCompleted",
        _set("interests.klimov.instrument.instrument", "onet_ip_short"),
    ),
    "interests come from ДДО or RIASEC": (
        "StageCompleted",
        lambda data: data["interests"].update(klimov=None, riasec=None),
    ),
    "an instrument version is MAJOR.MINOR.PATCH": (
        "StageStarted",
        lambda data: data["instruments"][0].update(version="v1"),
    ),
    "grades are 1–11": ("ParticipantRegistered", _set("grade", 12)),
    "accessibility needs come from the closed list": (
        "ParticipantRegistered",
        _set("accessibility_needs", ["wheelchair user, cerebral palsy"]),
    ),
    "accessibility needs do not repeat": (
        "SeatBooked",
        _set("accessibility_needs", ["quiet_space", "quiet_space"]),
    ),
    "a correction corrects something": (
        "ParticipantDetailsCorrected",
        lambda data: data.update(health_limitations=None, accessibility_needs=None),
    ),
    "eligible grades run from lowest to highest": (
        "SeasonRulesPublished",
        _set("eligible_grades", {"lowest": 9, "highest": 6}),
    ),
    "a diagnostics window closes after it opens": (
        "DiagnosticsWindowScheduled",
        _set("closes_on", "2019-10-10"),
    ),
    "a consent is valid after it is signed": (
        "ConsentSubmitted",
        _set("valid_until", "2019-09-15"),
    ),
    "a consent has purposes": ("ConsentVerified", _set("purposes", [])),
    "erasure is due after the withdrawal": ("ConsentWithdrawn", _set("erase_by", "2020-01-01")),
    "erasure time has a time zone": ("ParticipantErased", _set("erased_at", "2020-02-10T12:00:00")),
    "a career event ends after it starts": (
        "CareerEventPublished",
        _set("ends_at", "2019-11-12T09:00:00+03:00"),
    ),
    "mentor ratings are 1–5": ("MentorFeedbackGiven", _set("engagement", 0)),
    "a study-plan item says which mapping row it comes from": (
        "RecommendationsIssued",
        lambda data: data["study_plan"][0].update(because=[]),
    ),
    "a season is a number, not text": ("SeatBooked", _set("season", "2019")),
    "no field beyond the published ones": ("SeatBooked", _set("pupil_name", "Иванова")),
}


@pytest.mark.parametrize("rule", list(BROKEN_RULES))
def test_given_a_valid_event_when_a_rule_is_broken_then_it_is_refused(rule: str) -> None:
    event_type, change = BROKEN_RULES[rule]
    data = _valid(event_type)
    _event(event_type, data)  # given: valid as it is
    change(data)  # when
    with pytest.raises(ValidationError):  # then
        _event(event_type, data)


def test_events_are_immutable() -> None:
    event = SeatBooked.model_validate_json(json.dumps(_valid("SeatBooked")))
    with pytest.raises(ValidationError):
        event.season = 2020  # type: ignore[misc]


def test_the_stream_id_is_the_category_and_the_aggregate_id() -> None:
    assert _event("SeasonRulesPublished", _valid("SeasonRulesPublished")).stream_id == "season-2019"
    assert _event("InstrumentVersionPublished", _valid("InstrumentVersionPublished")).stream_id == (
        "instrument-klimov_ddo"
    )
    consent = _event("ConsentWithdrawn", _valid("ConsentWithdrawn"))
    assert consent.stream_id == "consent-3f0c5e0a-0b7e-4c1c-9a51-2b7d1d1f0001"
    assert consent.subject == "3f0c5e0a-0b7e-4c1c-9a51-2b7d1d1f0001"
