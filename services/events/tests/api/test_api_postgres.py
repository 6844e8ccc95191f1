"""The HTTP app on the real PostgreSQL (production's event store, in a schema of its own): parallel
requests on the last seats of a session get exactly its capacity and the rest a place each in its
line; parallel cancellations promote the first in line; a pupil racing four career events with the
season's maximum of three gets three."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bilet.http import Role
from bilet.http.devkeys import DevelopmentSigner, ensure_development_keys
from bilet.http.testing import app_lifespan
from bilet.pgschema import drop_schema
from bilet_events.app import create_app
from bilet_events.application.facts import Pupil
from bilet_events.settings import EventsSettings
from bilet_events.testing import CONSENTED, ORGANISER, REGION, SCHOOL, SEASON, Clock, StaticFacts

pytestmark = pytest.mark.integration

EVENTS = "/events/v1/career-events"
NOW = datetime(2019, 10, 1, 9, tzinfo=UTC)
PUPILS = 12
CAPACITY = 5


@dataclass
class Http:
    client: httpx.AsyncClient
    signer: DevelopmentSigner
    pupils: list[uuid.UUID]

    def pupil(self, participant_id: uuid.UUID) -> dict[str, str]:
        token = self.signer.mint(Role.PUPIL, participant=str(participant_id))
        return {"Authorization": f"Bearer {token}"}

    async def published(self, starts_at: datetime) -> dict[str, Any]:
        body = {
            "region_id": str(REGION),
            "season": SEASON,
            "organiser_id": str(ORGANISER),
            "title": "Оператор станков с ЧПУ",
            "description": "Практическое задание в мастерской колледжа.",
            "profession": "cnc_operator",
            "environments": ["industrial"],
            "level": "introductory",
            "format": "online",
            "municipality": "Лужский район",
            "sessions": [
                {
                    "starts_at": starts_at.isoformat(),
                    "ends_at": (starts_at + timedelta(hours=2)).isoformat(),
                    "capacity": CAPACITY,
                }
            ],
            "eligible_grades": {"lowest": 6, "highest": 11},
        }
        token = self.signer.mint(Role.ORGANISER, venue=str(ORGANISER))
        response = await self.client.post(
            EVENTS, headers={"Authorization": f"Bearer {token}"}, json=body
        )
        assert response.status_code == 201, response.text
        career_event_id = response.json()["career_event_id"]
        session_id = uuid.uuid5(uuid.UUID(career_event_id), "session-1")
        return {"career_event_id": career_event_id, "session_id": str(session_id)}

    async def book(self, published: dict[str, Any], participant_id: uuid.UUID) -> httpx.Response:
        url = f"{EVENTS}/{published['career_event_id']}/sessions/{published['session_id']}/bookings"
        return await self.client.post(
            url, headers=self.pupil(participant_id), json={"participant_id": str(participant_id)}
        )

    async def seated(self, published: dict[str, Any]) -> list[str]:
        token = self.signer.mint(Role.ORGANISER, venue=str(ORGANISER))
        response = await self.client.get(
            f"{EVENTS}/{published['career_event_id']}/roster",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text
        [session] = response.json()["sessions"]
        return [pupil["participant_id"] for pupil in session["pupils"]]


@pytest.fixture
async def http(database_url: str, tmp_path: Path) -> AsyncIterator[Http]:
    schema = f"t_events_api_{uuid.uuid4().hex[:10]}"
    facts = StaticFacts(season_maximum={SEASON: 3})
    pupils = [uuid.uuid4() for _ in range(PUPILS)]
    for participant_id in pupils:
        facts.pupils[participant_id] = Pupil(
            participant_id=participant_id,
            school_id=SCHOOL,
            region_id=REGION,
            municipality="Лужский район",
            grade=8,
            season=SEASON,
            purposes=CONSENTED,
            erased=False,
            sealed_needs=None,
        )
    settings = EventsSettings(
        var_dir=tmp_path,
        event_store="postgres",
        key_store="sqlite",
        read_model="sqlite",
        database_url=database_url,
        events_store_schema=schema,
        events_embedded_feed=False,
    )
    app = create_app(settings, clock=Clock(NOW), facts=facts)
    try:
        async with app_lifespan(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://e") as client:
                yield Http(client, ensure_development_keys(tmp_path), pupils)
    finally:
        await drop_schema(database_url, schema)


async def test_the_last_seats_go_to_exactly_capacity_racers_and_the_line_is_exact(
    http: Http,
) -> None:
    published = await http.published(NOW + timedelta(days=10))

    answers = await asyncio.gather(*(http.book(published, p) for p in http.pupils))

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] * CAPACITY + [202] * (PUPILS - CAPACITY)
    places = sorted(a.json()["waitlist_position"] for a in answers if a.status_code == 202)
    assert places == list(range(1, PUPILS - CAPACITY + 1))
    seated = {a.json()["participant_id"] for a in answers if a.status_code == 201}
    assert set(await http.seated(published)) == seated

    first_in_line = [
        a.json()["participant_id"]
        for a in sorted(
            (a for a in answers if a.status_code == 202),
            key=lambda a: int(a.json()["waitlist_position"]),
        )
    ][:2]
    leaving = [a.json() for a in answers if a.status_code == 201][:2]
    cancelled = await asyncio.gather(
        *(
            http.client.delete(
                f"{EVENTS}/{published['career_event_id']}/bookings/{seat['booking_id']}",
                headers=http.pupil(uuid.UUID(seat["participant_id"])),
            )
            for seat in leaving
        )
    )
    assert [c.status_code for c in cancelled] == [200, 200]
    now_seated = await http.seated(published)
    assert len(now_seated) == CAPACITY
    assert set(first_in_line) <= set(now_seated)


async def test_a_pupil_racing_four_career_events_gets_the_seasons_three(http: Http) -> None:
    career_events = [await http.published(NOW + timedelta(days=10 + n)) for n in range(4)]
    racer = http.pupils[0]

    answers = await asyncio.gather(*(http.book(c, racer) for c in career_events))

    assert sorted(a.status_code for a in answers) == [201, 201, 201, 422]
    [refused] = [a for a in answers if a.status_code == 422]
    assert refused.json()["code"] == "season_limit_reached"
