"""Fixtures of the recommender API tests: the real app on a temporary `var/` (SQLite stores, the
suite's key store, the read model fed in-process by the issuing and insights feeds) over
identity's, consent's, diagnostics' and events' stores that the test fills before the start, the
clock at `testing.NOW`, and tokens for every role.

The pupils (Leningrad oblast, Луга, unless said), none with a consent to health data:
`dasha` (СОШ № 3, three stages, attended a career event with a mentor's rubric), `petya`
(СОШ № 3, three stages, a consent without `recommendations`), `nastya` (СОШ № 3, two stages),
`sasha` (СОШ № 5, three stages), `kolya` (another region, three stages), and `fill1`…`fill5`
(СОШ № 3, three stages: so that the insights have cells of 5 pupils or more)."""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI

from bilet import stores
from bilet.contracts import DomainEvent, EventMetadata, encode
from bilet.contracts.catalogue.consent import Purpose
from bilet.contracts.catalogue.events import BookingRoute, CareerEventPublished, SeatBooked
from bilet.contracts.catalogue.identity import SchoolRegistered
from bilet.contracts.vocabulary import Environment, Level
from bilet.http import Role
from bilet.http.devkeys import DevelopmentSigner, ensure_development_keys
from bilet.http.testing import app_lifespan
from bilet_recommender import testing as given
from bilet_recommender.app import create_app
from bilet_recommender.runtime import Runtime
from bilet_recommender.settings import RecommenderSettings

NOW = given.NOW
REGION = UUID("b04673c4-e959-5e7b-b095-3d9da56889fb")
OTHER_REGION = UUID("0e5b0000-0000-4000-8000-000000000078")
SCHOOL_3 = UUID("16fae2ab-d1c8-5e70-ba8f-657ddc885c03")
SCHOOL_5 = UUID("2b848086-7aca-51be-b130-41e65476f3a5")
SPB_SCHOOL = UUID("0c3b9a52-7f3e-4d8a-8a10-000000000078")
LUGA = "Лужский муниципальный район"
EVERYTHING_BUT_HEALTH = tuple(p for p in Purpose if p is not Purpose.HEALTH_DATA)
NO_RECOMMENDATIONS = tuple(p for p in EVERYTHING_BUT_HEALTH if p is not Purpose.RECOMMENDATIONS)
SMART_FIRST = {Environment.SMART: 90, Environment.AGRARIAN: 70, Environment.CREATIVE: 60}

# name: (school, region, purposes, stages completed)
PUPILS: dict[str, tuple[UUID, UUID, tuple[Purpose, ...], int]] = {
    "dasha": (SCHOOL_3, REGION, EVERYTHING_BUT_HEALTH, 3),
    "petya": (SCHOOL_3, REGION, NO_RECOMMENDATIONS, 3),
    "nastya": (SCHOOL_3, REGION, EVERYTHING_BUT_HEALTH, 2),
    "sasha": (SCHOOL_5, REGION, EVERYTHING_BUT_HEALTH, 3),
    "kolya": (SPB_SCHOOL, OTHER_REGION, EVERYTHING_BUT_HEALTH, 3),
    **{f"fill{n}": (SCHOOL_3, REGION, EVERYTHING_BUT_HEALTH, 3) for n in range(1, 6)},
}


def school(school_id: UUID, region_id: UUID, municipality: str) -> SchoolRegistered:
    return SchoolRegistered(
        school_id=school_id, region_id=region_id, name="МОУ «СОШ»", municipality=municipality
    )


def pupil_facts(
    participant_id: UUID,
    school_id: UUID,
    region_id: UUID,
    purposes: tuple[Purpose, ...],
    stages: int,
) -> list[DomainEvent]:
    registered = given.registered(participant_id, region_id).model_copy(
        update={"school_id": school_id}
    )
    completed = [
        given.interests(participant_id, SMART_FIRST),
        given.soft_skills(participant_id, Level.BASIC),
        given.knowledge(participant_id, {Environment.SMART: Level.ADVANCED}),
    ]
    return [registered, given.verified(participant_id, *purposes), *completed[:stages]]


@dataclass
class Seeded:
    pupils: dict[str, UUID]
    career_event: CareerEventPublished
    heads: dict[str, int]


async def seed(settings: RecommenderSettings, pupils: dict[str, UUID]) -> Seeded:
    """The other services' facts, appended to their stores; the head of each store."""
    sources = await stores.open_source_stores(
        settings, ("identity", "consent", "diagnostics", "events")
    )
    try:
        published = given.career_event(
            REGION, Environment.SMART, Environment.AGRARIAN, title="Профпроба «Агроинженер»"
        )
        events: list[DomainEvent] = [
            school(SCHOOL_3, REGION, LUGA),
            school(SCHOOL_5, REGION, LUGA),
            school(SPB_SCHOOL, OTHER_REGION, "Санкт-Петербург"),
            published,
        ]
        for name, (school_id, region_id, purposes, stages) in PUPILS.items():
            events += pupil_facts(pupils[name], school_id, region_id, purposes, stages)
        attended = given.attended(pupils["dasha"], published)
        events += [
            SeatBooked(
                career_event_id=published.career_event_id,
                session_id=attended.session_id,
                booking_id=attended.booking_id,
                participant_id=pupils["dasha"],
                season=given.SEASON,
                route=BookingRoute.BOOKED,
            ),
            attended,
            given.feedback(attended, suggested=(Environment.AGRARIAN,)),
        ]
        for event in events:
            new = encode(event, EventMetadata(actor="test"))
            await sources[type(event).service].append(event.stream_id, [new])
        heads = {name: await store.head_position() for name, store in sources.items()}
        return Seeded(pupils, published, heads)
    finally:
        for store in sources.values():
            await store.close()


@dataclass
class Api:
    client: httpx.AsyncClient
    app: FastAPI
    signer: DevelopmentSigner
    seeded: Seeded
    pupils: dict[str, UUID] = field(default_factory=dict)

    REGION: ClassVar[UUID] = REGION
    OTHER_REGION: ClassVar[UUID] = OTHER_REGION
    SCHOOL_3: ClassVar[UUID] = SCHOOL_3
    SCHOOL_5: ClassVar[UUID] = SCHOOL_5
    NOW: ClassVar = NOW

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    def token(self, role: Role, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.signer.mint(role, **claims)}"}

    def pupil(self, name: str) -> dict[str, str]:
        return self.token(Role.PUPIL, participant=str(self.pupils[name]))

    def guardian(self, *names: str) -> dict[str, str]:
        return self.token(Role.GUARDIAN, children=[str(self.pupils[n]) for n in names])

    def navigator(self, school_id: UUID = SCHOOL_3) -> dict[str, str]:
        return self.token(Role.NAVIGATOR, school=str(school_id))

    def coordinator(self, region: UUID = REGION) -> dict[str, str]:
        return self.token(Role.COORDINATOR, region=str(region))

    def organiser(self) -> dict[str, str]:
        return self.token(Role.ORGANISER, venue=str(uuid4()))

    def recommendations_of(self, name: str) -> str:
        return f"/recommender/v1/participants/{self.pupils[name]}/recommendations"

    async def store_length(self) -> int:
        """How many events the recommender's store holds (a refusal must add none)."""
        return await self.runtime.store.head_position()


def opportunity_body(**overrides: Any) -> dict[str, Any]:
    """A club in Luga for grades 6–11 through this school year, serving smart and industrial."""
    body: dict[str, Any] = {
        "region_id": str(REGION),
        "kind": "club",
        "title": "Кружок робототехники",
        "provider": "Лужский центр детского творчества",
        "municipality": LUGA,
        "environments": ["smart", "industrial"],
        "eligible_grades": {"lowest": 6, "highest": 11},
        "accommodates": ["step_free_access"],
        "seats": 20,
        "starts_on": NOW.date().isoformat(),
        "ends_on": (NOW.date() + timedelta(days=180)).isoformat(),
    }
    body.update(overrides)
    return body


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    settings = RecommenderSettings(var_dir=tmp_path / "var")
    pupils = {name: uuid4() for name in PUPILS}
    seeded = await seed(settings, pupils)
    app = create_app(settings, clock=lambda: NOW)
    async with app_lifespan(app) as manager:
        runtime: Runtime = app.state.runtime
        # The feeds catch up before the app serves: every fact seeded is applied.
        for source, head in seeded.heads.items():
            assert await runtime.issued_positions.wait_for(source, head, 10.0)
            assert await runtime.insight_positions.wait_for(source, head, 10.0)
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://recommender") as client:
            yield Api(client, app, ensure_development_keys(settings.var_dir), seeded, pupils)
