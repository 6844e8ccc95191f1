"""A career event end to end in the embedded host (issue #14, "Proof"): an organiser publishes it,
the printed demo pupil books a seat, the organiser records attendance once the session started,
the mentor gives feedback, and at each step the pupil's portfolio shows it as soon as it is asked
with the command's `BVB-Position` (read-your-writes across services).

The host is `make run`'s (identity's and consent's demo pupils and consents), with the career
events service on a clock the test moves past the session's start."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from bilet.http import Role
from bilet.http.consistency import POSITION_HEADER
from bilet.http.devkeys import ensure_development_keys
from bilet.http.testing import app_lifespan
from bilet.services import SERVICE_NAMES
from bilet.settings import PlatformSettings
from bilet_events.app import create_app
from bilet_events.settings import EventsSettings
from bilet_events.testing import Clock
from bilet_host.embedded import EmbeddedHost, MountedService, load_services
from bilet_identity import demo as identity_demo

VENUE = UUID("6b1f4c2e-0d3a-4e5f-8a9b-7c6d5e4f3a21")  # the organiser's college
MENTOR = UUID("9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a")
PUPIL = identity_demo.FIRST_PUPIL
EVENTS = "/events/v1/career-events"


@dataclass
class Suite:
    client: httpx.AsyncClient
    clock: Clock

    @staticmethod
    def token(role: Role, **claims: Any) -> dict[str, str]:
        signer = ensure_development_keys(PlatformSettings().var_dir)
        return {"Authorization": f"Bearer {signer.mint(role, **claims)}"}

    async def portfolio_bookings(self, position: str) -> dict[str, dict[str, Any]]:
        """The pupil's career events in their portfolio, as of (at least) `position`."""
        answer = await self.client.get(
            f"/portfolio/v1/participants/{PUPIL}",
            headers={**pupil(), POSITION_HEADER: position},
        )
        assert answer.status_code == 200, answer.text
        return {booking["booking_id"]: booking for booking in answer.json()["career_events"]}


def pupil() -> dict[str, str]:
    return Suite.token(Role.PUPIL, subject="demo-pupil", participant=str(PUPIL))


def organiser() -> dict[str, str]:
    return Suite.token(Role.ORGANISER, subject="college-organiser", venue=str(VENUE))


def mentor() -> dict[str, str]:
    return Suite.token(Role.MENTOR, subject=str(MENTOR))


@pytest.fixture
async def suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Suite]:
    monkeypatch.setenv("BVB_VAR_DIR", str(tmp_path / "var"))
    clock = Clock(datetime.now(UTC))
    others = {
        service.name: service
        for service in load_services(tuple(name for name in SERVICE_NAMES if name != "events"))
    }
    events = MountedService("events", create_app(EventsSettings(), clock=clock))
    host = EmbeddedHost([events if name == "events" else others[name] for name in SERVICE_NAMES])
    async with app_lifespan(host) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bilet") as client:
            yield Suite(client, clock)


def career_event(starts_at: datetime) -> dict[str, Any]:
    today = starts_at.date()
    return {
        "career_event_id": str(uuid4()),
        "region_id": str(identity_demo.REGION_ID),
        "season": identity_demo.season_of(today),
        "organiser_id": str(VENUE),
        "title": "Электромонтёр: собираем электрическую цепь",
        "description": "Техника безопасности и сборка цепи освещения на учебном стенде.",
        "profession": "electrician",
        "environments": ["industrial"],
        "level": "introductory",
        "format": "in_person",
        "venue": {
            "kind": "college",
            "name": "Лужский колледж технологий и сервиса",
            "address": "Ленинградская обл., г. Луга, пр. Кирова, 12",
            "municipality": identity_demo.MUNICIPALITY,
        },
        "municipality": identity_demo.MUNICIPALITY,
        "sessions": [
            {
                "starts_at": starts_at.isoformat(),
                "ends_at": (starts_at + timedelta(hours=3)).isoformat(),
                "capacity": 10,
            }
        ],
        "eligible_grades": {"lowest": 6, "highest": 11},
        "accommodates": [],
        "mentors": [str(MENTOR)],
    }


async def test_a_pupil_books_attends_gets_feedback_and_the_portfolio_shows_each_step(
    suite: Suite,
) -> None:
    client = suite.client
    starts_at = (suite.clock.now + timedelta(days=3)).replace(microsecond=0)
    published = await client.post(EVENTS, headers=organiser(), json=career_event(starts_at))
    assert published.status_code == 201, published.text
    career_event_id = published.json()["career_event_id"]
    shown = await client.get(
        f"{EVENTS}/{career_event_id}",
        headers={**pupil(), POSITION_HEADER: published.headers[POSITION_HEADER]},
    )
    assert shown.status_code == 200, shown.text
    (session,) = shown.json()["sessions"]

    booked = await client.post(
        f"{EVENTS}/{career_event_id}/sessions/{session['session_id']}/bookings",
        headers=pupil(),
        json={"participant_id": str(PUPIL)},
    )
    assert booked.status_code == 201, booked.text
    booking_id = booked.json()["booking_id"]
    in_portfolio = await suite.portfolio_bookings(booked.headers[POSITION_HEADER])
    assert in_portfolio[booking_id]["status"] == "booked"
    assert in_portfolio[booking_id]["career_event"]["title"].startswith("Электромонтёр")

    too_early = await client.post(
        f"{EVENTS}/{career_event_id}/sessions/{session['session_id']}/attendance",
        headers=organiser(),
        json={"records": [{"booking_id": booking_id, "attended": True}]},
    )
    assert too_early.status_code == 409
    assert too_early.json()["code"] == "session_not_started"

    suite.clock.now = starts_at + timedelta(hours=3)
    attended = await client.post(
        f"{EVENTS}/{career_event_id}/sessions/{session['session_id']}/attendance",
        headers=organiser(),
        json={"records": [{"booking_id": booking_id, "attended": True}]},
    )
    assert attended.status_code == 200, attended.text
    in_portfolio = await suite.portfolio_bookings(attended.headers[POSITION_HEADER])
    assert in_portfolio[booking_id]["status"] == "attended"
    assert in_portfolio[booking_id]["feedback"] == []

    comment = "Аккуратно собрал цепь и помог соседу — приходи на углублённый уровень."
    feedback = await client.post(
        f"{EVENTS}/{career_event_id}/feedback",
        headers=mentor(),
        json={
            "booking_id": booking_id,
            "task_completion": "completed",
            "skills_shown": [{"skill": "teamwork", "level": "proficient"}],
            "interest_shown": "high",
            "suggested_environments": ["industrial", "smart"],
            "comment": comment,
        },
    )
    assert feedback.status_code == 201, feedback.text
    in_portfolio = await suite.portfolio_bookings(feedback.headers[POSITION_HEADER])
    (given,) = in_portfolio[booking_id]["feedback"]
    assert given["feedback_id"] == feedback.json()["feedback_id"]
    assert given["task_completion"] == "completed"
    assert given["interest_shown"] == "high"
    assert given["skills_shown"] == [{"skill": "teamwork", "level": "proficient"}]
    assert sorted(given["suggested_environments"]) == ["industrial", "smart"]
    assert given["comment"] == comment, "the pupil reads their mentor's words"

    again = await client.post(
        f"{EVENTS}/{career_event_id}/feedback",
        headers=mentor(),
        json={"booking_id": booking_id, "task_completion": "completed", "interest_shown": "low"},
    )
    assert again.status_code == 409
    assert again.json()["code"] == "feedback_given"
