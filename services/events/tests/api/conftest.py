"""Fixtures of the career events API tests: the real app on a temporary `var/` (SQLite stores,
the suite's key store, the read model fed in-process) over identity's and consent's stores that
the test fills before the start, a clock the tests move, and tokens for every role.

The pupils (Leningrad oblast unless said): `dasha` (СОШ № 3, needs step-free access, a consent
covering career events and health data), `petya` (СОШ № 3, a consent covering career events,
no health consent), `nastya` (СОШ № 3, no consent), `sasha` (СОШ № 5, consented), `kolya`
(another region, consented), `misha` and `lena` (СОШ № 3, consented: to fill seats)."""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI

from bilet import stores
from bilet.contracts import DomainEvent, EventMetadata, encode
from bilet.contracts.catalogue.consent import Purpose
from bilet.contracts.catalogue.identity import ParticipantRegistered
from bilet.contracts.sealed import seal, sealed_scopes
from bilet.crypto import FieldCipher
from bilet.http import Role
from bilet.http.consistency import POSITION_HEADER
from bilet.http.devkeys import DevelopmentSigner, ensure_development_keys
from bilet.http.testing import app_lifespan
from bilet_events import facts_testing as given
from bilet_events.adapters.facts import CONSENT, IDENTITY
from bilet_events.app import create_app
from bilet_events.domain import career_event
from bilet_events.runtime import Runtime
from bilet_events.settings import EventsSettings
from bilet_events.testing import Clock

NOW = datetime(2019, 10, 1, 9, 0, tzinfo=UTC)
SCHOOL_3 = given.SCHOOL
SCHOOL_5 = UUID("0c3b9a52-7f3e-4d8a-8a10-000000000005")
SPB_SCHOOL = UUID("0c3b9a52-7f3e-4d8a-8a10-000000000078")
COLLEGE = UUID("0a9a0000-0000-4000-8000-00000000c011")  # the organiser's venue
TECHNOPARK = UUID("0a9a0000-0000-4000-8000-00000000de70")  # another venue
MENTOR = UUID("3e470000-0000-4000-8000-000000000001")
OTHER_MENTOR = UUID("3e470000-0000-4000-8000-000000000002")
EVENTS = "/events/v1/career-events"

HEALTH = (Purpose.PROGRAMME_PARTICIPATION, Purpose.CAREER_EVENTS, Purpose.HEALTH_DATA)
PUPILS: dict[str, tuple[UUID, UUID, tuple[Purpose, ...] | None, tuple[str, ...]]] = {
    # name: (school, region, consented purposes (None: no consent), accessibility needs)
    "dasha": (SCHOOL_3, given.REGION, HEALTH, ("step_free_access",)),
    "petya": (SCHOOL_3, given.REGION, given.PARTICIPATION, ("sign_language_interpreter",)),
    "nastya": (SCHOOL_3, given.REGION, None, ()),
    "sasha": (SCHOOL_5, given.REGION, given.PARTICIPATION, ()),
    "kolya": (SPB_SCHOOL, given.OTHER_REGION, given.PARTICIPATION, ()),
    "misha": (SCHOOL_3, given.REGION, given.PARTICIPATION, ()),
    "lena": (SCHOOL_3, given.REGION, given.PARTICIPATION, ()),
}


async def registered(
    cipher: FieldCipher, participant_id: UUID, school: UUID, region: UUID, needs: tuple[str, ...]
) -> ParticipantRegistered:
    """Identity's registration, sealed as identity seals it (the participant key; the health key
    for health data) in the suite's key store the service opens too."""
    values = {
        "full_name": {"last_name": "Иванова", "first_name": "Дарья", "patronymic": None},
        "birth_date": "2006-04-01",
        "snils": "112-233-445 95",
        "health_limitations": {"has_limitations": bool(needs), "kind": None},
        "accessibility_needs": list(needs),
    }
    sealed = await seal(cipher, str(participant_id), values, sealed_scopes(ParticipantRegistered))
    return ParticipantRegistered(
        participant_id=participant_id,
        school_id=school,
        region_id=region,
        season=2019,
        grade=8,
        **sealed,
    )


async def seed(settings: EventsSettings, pupils: dict[str, UUID]) -> dict[str, int]:
    """Identity's and consent's facts, appended to their stores; the head of each store."""
    sources = await stores.open_source_stores(settings, (IDENTITY, CONSENT))
    keystore = await stores.open_key_store(settings)
    try:
        cipher = FieldCipher(keystore)
        events: list[DomainEvent] = [
            given.rules(2019),
            given.school(SCHOOL_3),
            given.school(SCHOOL_5),
            given.school(SPB_SCHOOL, given.OTHER_REGION, "Санкт-Петербург"),
        ]
        for name, (school, region, purposes, needs) in PUPILS.items():
            events.append(await registered(cipher, pupils[name], school, region, needs))
            if purposes is not None:
                events.append(given.verified(pupils[name], purposes=purposes))
        for event in events:
            new = encode(event, EventMetadata(actor="test"))
            await sources[type(event).service].append(event.stream_id, [new])
        return {name: await store.head_position() for name, store in sources.items()}
    finally:
        await keystore.close()
        for store in sources.values():
            await store.close()


@dataclass
class Api:
    client: httpx.AsyncClient
    app: FastAPI
    signer: DevelopmentSigner
    clock: Clock
    pupils: dict[str, UUID] = field(default_factory=dict)

    # What the tests name (the test modules import nothing from here at run time).
    EVENTS: ClassVar[str] = EVENTS
    NOW: ClassVar[datetime] = NOW
    REGION: ClassVar[UUID] = given.REGION
    OTHER_REGION: ClassVar[UUID] = given.OTHER_REGION
    SCHOOL_3: ClassVar[UUID] = SCHOOL_3
    SCHOOL_5: ClassVar[UUID] = SCHOOL_5
    COLLEGE: ClassVar[UUID] = COLLEGE
    TECHNOPARK: ClassVar[UUID] = TECHNOPARK
    MENTOR: ClassVar[UUID] = MENTOR
    OTHER_MENTOR: ClassVar[UUID] = OTHER_MENTOR

    @staticmethod
    def body(**overrides: Any) -> dict[str, Any]:
        return career_event_body(**overrides)

    def revision(self, **overrides: Any) -> dict[str, Any]:
        """A revision's body: the details without what a revision cannot change."""
        body = career_event_body(**overrides)
        for name in ("region_id", "season", "organiser_id"):
            del body[name]
        return body

    async def stream_length(self, career_event_id: str) -> int:
        """How many events the career event's stream holds (a refusal must add none)."""
        stream = career_event.stream_id(UUID(career_event_id))
        return len(await self.runtime.store.read_stream(stream))

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    def token(self, role: Role, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.signer.mint(role, **claims)}"}

    def pupil(self, name: str) -> dict[str, str]:
        return self.token(Role.PUPIL, participant=str(self.pupils[name]))

    def organiser(self, venue: UUID = COLLEGE) -> dict[str, str]:
        return self.token(Role.ORGANISER, venue=str(venue))

    def mentor(self, mentor: UUID = MENTOR) -> dict[str, str]:
        return self.token(Role.MENTOR, subject=str(mentor))

    def registrar(self, school: UUID = SCHOOL_3) -> dict[str, str]:
        return self.token(Role.REGISTRAR, school=str(school))

    def navigator(self, school: UUID = SCHOOL_3) -> dict[str, str]:
        return self.token(Role.NAVIGATOR, school=str(school))

    def coordinator(self, region: UUID = given.REGION) -> dict[str, str]:
        return self.token(Role.COORDINATOR, region=str(region))

    async def publish(
        self, headers: dict[str, str] | None = None, **overrides: Any
    ) -> httpx.Response:
        return await self.client.post(
            EVENTS, headers=headers or self.organiser(), json=career_event_body(**overrides)
        )

    async def published(self, **overrides: Any) -> dict[str, Any]:
        """A career event of the college, as the catalogue shows it once it has applied it."""
        response = await self.publish(**overrides)
        assert response.status_code == 201, response.text
        career_event_id = response.json()["career_event_id"]
        shown = await self.client.get(
            f"{EVENTS}/{career_event_id}",
            headers={**self.organiser(), POSITION_HEADER: response.headers[POSITION_HEADER]},
        )
        assert shown.status_code == 200, shown.text
        body: dict[str, Any] = shown.json()
        return body

    async def book(
        self,
        career_event: dict[str, Any],
        name: str,
        *,
        session: int = 0,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        session_id = career_event["sessions"][session]["session_id"]
        return await self.client.post(
            f"{EVENTS}/{career_event['career_event_id']}/sessions/{session_id}/bookings",
            headers=headers or self.pupil(name),
            json={"participant_id": str(self.pupils[name])},
        )

    async def booked(self, career_event: dict[str, Any], name: str, session: int = 0) -> str:
        response = await self.book(career_event, name, session=session)
        assert response.status_code == 201, response.text
        booking_id: str = response.json()["booking_id"]
        return booking_id

    async def shown(self, career_event_id: str, after: httpx.Response) -> dict[str, Any]:
        """The career event as the catalogue shows it once it has applied `after`."""
        response = await self.client.get(
            f"{EVENTS}/{career_event_id}",
            headers={**self.pupil("dasha"), POSITION_HEADER: after.headers[POSITION_HEADER]},
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def career_event_body(
    *,
    starts_at: datetime = NOW + timedelta(days=10),
    capacity: int = 2,
    sessions: int = 1,
    accommodates: tuple[str, ...] = ("step_free_access",),
    mentors: tuple[UUID, ...] = (MENTOR,),
    organiser_id: UUID = COLLEGE,
    region_id: UUID = given.REGION,
    **overrides: Any,
) -> dict[str, Any]:
    """An in-person career event of the college for grades 6–11, its sessions a day apart."""
    body: dict[str, Any] = {
        "region_id": str(region_id),
        "season": 2019,
        "organiser_id": str(organiser_id),
        "title": "Мастер сельскохозяйственного производства",
        "description": "Знакомство с профессией и практическое задание на учебной ферме.",
        "profession": "agricultural_master",
        "environments": ["agrarian"],
        "level": "introductory",
        "format": "in_person",
        "venue": {
            "kind": "college",
            "name": "ГАПОУ ЛО «Лужский агропромышленный техникум»",
            "address": "г. Луга, ул. Дзержинского, 1",
            "municipality": given.LUGA,
        },
        "municipality": given.LUGA,
        "sessions": [
            {
                "starts_at": (starts_at + timedelta(days=n)).isoformat(),
                "ends_at": (starts_at + timedelta(days=n, hours=2)).isoformat(),
                "capacity": capacity,
            }
            for n in range(sessions)
        ],
        "eligible_grades": {"lowest": 6, "highest": 11},
        "accommodates": list(accommodates),
        "mentors": [str(m) for m in mentors],
    }
    body.update(overrides)
    return body


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def notice_hours() -> int:
    """Until how many hours before the start a booking may be given up (the default)."""
    return 24


@pytest.fixture
async def api(tmp_path: Path, clock: Clock, notice_hours: int) -> AsyncIterator[Api]:
    settings = EventsSettings(
        var_dir=tmp_path / "var", events_cancellation_notice_hours=notice_hours
    )
    pupils = {name: uuid4() for name in PUPILS}
    heads = await seed(settings, pupils)
    app = create_app(settings, clock=clock)
    async with app_lifespan(app) as manager:
        runtime: Runtime = app.state.runtime
        for source, head in heads.items():  # every pupil known before the first request
            assert await runtime.catalogue.wait_for(source, head, 10.0)
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://events") as client:
            yield Api(client, app, ensure_development_keys(settings.var_dir), clock, pupils)
