"""On the day over HTTP: the roster for the check-in (names, schools, what to arrange; audited;
never a birth date, a СНИЛС or a diagnosis), attendance of a session in one commit, and the
mentor's feedback with its comment sealed. Every refusal changes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from bilet.http.consistency import POSITION_HEADER
from bilet_events.domain import career_event

if TYPE_CHECKING:
    from services.events.tests.api.conftest import Api


async def _session_with(api: Api, *names: str) -> tuple[dict[str, Any], dict[str, str]]:
    """A career event starting in an hour with `names` booked; their booking ids by name."""
    published = await api.published(starts_at=api.NOW + timedelta(hours=1), capacity=5)
    return published, {name: await api.booked(published, name) for name in names}


def _attendance(api: Api, published: dict[str, Any]) -> str:
    session_id = published["sessions"][0]["session_id"]
    return f"{api.EVENTS}/{published['career_event_id']}/sessions/{session_id}/attendance"


async def test_the_roster_names_the_pupils_and_what_to_arrange(api: Api) -> None:
    published, booked = await _session_with(api, "dasha", "misha")

    response = await api.client.get(
        f"{api.EVENTS}/{published['career_event_id']}/roster", headers=api.mentor()
    )

    assert response.status_code == 200, response.text
    [session] = response.json()["sessions"]
    pupils = {p["booking_id"]: p for p in session["pupils"]}
    assert set(pupils) == set(booked.values())
    dasha = pupils[booked["dasha"]]
    assert dasha["display_name"] == "Иванова Дарья"
    assert (dasha["school_id"], dasha["school_name"]) == (str(api.SCHOOL_3), "МОУ «СОШ № 3»")
    assert dasha["attendance"] == "booked"
    assert session["accessibility"] == [{"need": "step_free_access", "pupils": 1}]
    assert "2006-04-01" not in response.text  # never the birth date
    assert "112-233-445 95" not in response.text  # never the СНИЛС
    audit = await api.runtime.store.read_all(categories=["audit"])
    assert any("career_event_roster" in repr(e.data) for e in audit)


async def test_attendance_of_a_session_in_one_commit(api: Api) -> None:
    published, booked = await _session_with(api, "dasha", "misha")
    records = [
        {"booking_id": booked["dasha"], "attended": True},
        {"booking_id": booked["misha"], "attended": False},
    ]
    early = await api.client.post(
        _attendance(api, published), headers=api.organiser(), json={"records": records}
    )
    api.clock.advance(timedelta(hours=1, minutes=5))

    response = await api.client.post(
        _attendance(api, published), headers=api.organiser(), json={"records": records}
    )
    again = await api.client.post(
        _attendance(api, published), headers=api.mentor(), json={"records": records[:1]}
    )

    assert (early.status_code, early.json()["code"]) == (409, "session_not_started")
    assert response.status_code == 200, response.text
    assert response.json()["recorded"] == 2
    assert response.headers[POSITION_HEADER].startswith("events:")
    assert (again.status_code, again.json()["code"]) == (409, "attendance_recorded")
    roster = await api.client.get(
        f"{api.EVENTS}/{published['career_event_id']}/roster", headers=api.organiser()
    )
    marks = {p["booking_id"]: p["attendance"] for p in roster.json()["sessions"][0]["pupils"]}
    assert marks == {booked["dasha"]: "attended", booked["misha"]: "missed"}


async def test_one_refused_record_refuses_them_all(api: Api) -> None:
    published, booked = await _session_with(api, "dasha")
    api.clock.advance(timedelta(hours=2))
    before = await api.stream_length(published["career_event_id"])
    records = [
        {"booking_id": booked["dasha"], "attended": True},
        {"booking_id": str(uuid4()), "attended": True},
    ]

    response = await api.client.post(
        _attendance(api, published), headers=api.organiser(), json={"records": records}
    )
    twice = await api.client.post(
        _attendance(api, published),
        headers=api.organiser(),
        json={"records": [records[0], records[0]]},
    )

    assert (response.status_code, response.json()["code"]) == (404, "unknown_booking")
    assert (twice.status_code, twice.json()["code"]) == (422, "invalid_request")
    assert await api.stream_length(published["career_event_id"]) == before


async def _attended(api: Api) -> tuple[dict[str, Any], dict[str, str]]:
    published, booked = await _session_with(api, "dasha", "misha")
    api.clock.advance(timedelta(hours=2))
    records = [
        {"booking_id": booked["dasha"], "attended": True},
        {"booking_id": booked["misha"], "attended": False},
    ]
    marked = await api.client.post(
        _attendance(api, published), headers=api.mentor(), json={"records": records}
    )
    assert marked.status_code == 200, marked.text
    return published, booked


def _feedback(booking_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "booking_id": booking_id,
        "task_completion": "completed",
        "skills_shown": [{"skill": "teamwork", "level": "proficient"}],
        "interest_shown": "high",
        "suggested_environments": ["agrarian", "industrial"],
        "comment": "Уверенно работала с техникой, задавала хорошие вопросы.",
        **overrides,
    }


async def test_a_mentor_gives_feedback_once_with_the_comment_sealed(api: Api) -> None:
    published, booked = await _attended(api)
    url = f"{api.EVENTS}/{published['career_event_id']}/feedback"

    response = await api.client.post(url, headers=api.mentor(), json=_feedback(booked["dasha"]))
    again = await api.client.post(url, headers=api.mentor(), json=_feedback(booked["dasha"]))
    missed = await api.client.post(url, headers=api.mentor(), json=_feedback(booked["misha"]))

    assert response.status_code == 201, response.text
    assert response.json()["booking_id"] == booked["dasha"]
    assert (again.status_code, again.json()["code"]) == (409, "feedback_given")
    assert (missed.status_code, missed.json()["code"]) == (409, "not_attended")
    stream = await api.runtime.store.read_stream(
        career_event.stream_id(UUID(published["career_event_id"]))
    )
    [given] = [e for e in stream if e.type == "MentorFeedbackGiven"]
    assert "Уверенно" not in repr(given.data)


async def test_only_a_mentor_of_the_career_event_gives_feedback(api: Api) -> None:
    published, booked = await _attended(api)
    url = f"{api.EVENTS}/{published['career_event_id']}/feedback"
    before = await api.stream_length(published["career_event_id"])

    other_mentor = await api.client.post(
        url, headers=api.mentor(api.OTHER_MENTOR), json=_feedback(booked["dasha"])
    )
    organiser = await api.client.post(url, headers=api.organiser(), json=_feedback(booked["dasha"]))
    unknown = await api.client.post(url, headers=api.mentor(), json=_feedback(str(uuid4())))
    skill_twice = await api.client.post(
        url,
        headers=api.mentor(),
        json=_feedback(
            booked["dasha"],
            skills_shown=[{"skill": "teamwork", "level": "basic"}] * 2,
        ),
    )

    assert (other_mentor.status_code, other_mentor.json()["code"]) == (
        404,
        "unknown_career_event",
    )
    assert (organiser.status_code, organiser.json()["code"]) == (403, "forbidden")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_booking")
    assert (skill_twice.status_code, skill_twice.json()["code"]) == (422, "invalid_request")
    assert await api.stream_length(published["career_event_id"]) == before
