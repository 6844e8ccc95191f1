"""Career events' version 1 read as version 2 (docs/adr/0027): a one-session career event whose
session id every reader derives alike, bookings and attendance of that session, a booking's
clear accessibility list withheld (never carried on), a feedback's ratings read as the rubric."""

import copy
import json
from typing import Any

import pytest

from bilet.contracts import decode
from bilet.contracts.catalogue import events
from bilet.contracts.examples import CAREER_EVENT, EXAMPLES
from bilet.contracts.sealed import ErasedValue
from bilet.eventstore import NewEvent


def _v1(event_type: str, **changes: Any) -> Any:
    data = {**copy.deepcopy(EXAMPLES[(event_type, 1)]), **changes}
    stored = NewEvent(type=event_type, data=json.dumps(data).encode(), metadata=b"")
    return decode(stored)


def test_a_version_1_career_event_is_one_in_person_session() -> None:
    event = _v1("CareerEventPublished")
    assert isinstance(event, events.CareerEventPublished)
    (session,) = event.sessions
    assert session.session_id == events.first_session_id(CAREER_EVENT)
    assert session.capacity == 12
    assert session.starts_at.isoformat() == "2019-11-12T10:00:00+03:00"
    assert event.format is events.CareerEventFormat.IN_PERSON
    assert event.level is events.CareerEventLevel.INTRODUCTORY
    assert event.venue is not None
    assert event.municipality == event.venue.municipality
    assert (event.description, event.mentors) == (None, ())


def test_bookings_and_attendance_of_version_1_are_of_that_session() -> None:
    booked, attended = _v1("SeatBooked"), _v1("CareerEventAttended")
    assert isinstance(booked, events.SeatBooked)
    assert isinstance(attended, events.CareerEventAttended)
    session = events.first_session_id(CAREER_EVENT)
    assert booked.session_id == attended.session_id == session
    assert booked.route is events.BookingRoute.BOOKED


def test_a_version_1_booking_never_carries_its_accessibility_list_on() -> None:
    booked = _v1("SeatBooked")
    assert isinstance(booked, events.SeatBooked)
    assert isinstance(booked.accessibility_needs, ErasedValue)
    assert "step_free_access" not in booked.model_dump_json()


@pytest.mark.parametrize(
    ("task_result", "engagement", "completion", "interest"),
    [
        (5, 4, "completed", "high"),
        (3, 3, "partly_completed", "moderate"),
        (2, 1, "not_completed", "low"),
    ],
)
def test_version_1_ratings_read_as_the_rubric(
    task_result: int, engagement: int, completion: str, interest: str
) -> None:
    feedback = _v1("MentorFeedbackGiven", task_result=task_result, engagement=engagement)
    assert isinstance(feedback, events.MentorFeedbackGiven)
    assert (feedback.task_completion.value, feedback.interest_shown.value) == (
        completion,
        interest,
    )
    assert [(s.skill, s.level) for s in feedback.skills_shown] == [
        ("teamwork", None),
        ("attention_to_detail", None),
    ]


def test_a_venue_is_given_exactly_when_in_person() -> None:
    data = copy.deepcopy(EXAMPLES[("CareerEventPublished", 2)])
    data["format"] = "online"
    with pytest.raises(ValueError, match="venue"):
        events.CareerEventPublished.model_validate_json(json.dumps(data))


def test_a_session_id_repeats_nowhere() -> None:
    data = copy.deepcopy(EXAMPLES[("CareerEventPublished", 2)])
    data["sessions"][1]["session_id"] = data["sessions"][0]["session_id"]
    with pytest.raises(ValueError, match="repeat"):
        events.CareerEventPublished.model_validate_json(json.dumps(data))


def test_the_summary_comes_with_its_key_generation() -> None:
    data = copy.deepcopy(EXAMPLES[("SeatBooked", 2)])
    data["key_generation"] = None
    with pytest.raises(ValueError, match="key generation"):
        events.SeatBooked.model_validate_json(json.dumps(data))
