"""Fixtures of the identity tests: a running service on a temporary `var/`, a small world of
seasons, regions and schools, tokens for every role, and the consent service's events as its
store records them (identity's embedded feed follows that store)."""

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI

from bilet.contracts import EventMetadata, encode
from bilet.contracts.base import DomainEvent
from bilet.contracts.catalogue.consent import ConsentPurposesWithdrawn, ConsentVerified, Purpose
from bilet.contracts.vocabulary import Stage
from bilet.eventstore.sqlite import SqliteEventStore
from bilet.http import Role
from bilet.http.auth import Principal
from bilet.http.devkeys import DevelopmentSigner, ensure_development_keys
from bilet.http.testing import app_lifespan
from bilet_identity.app import create_app
from bilet_identity.application.inputs import CommandContext
from bilet_identity.application.service import IdentityService
from bilet_identity.domain.region import region_id_for
from bilet_identity.domain.school import school_id_for
from bilet_identity.domain.season import PublishSeasonRules
from bilet_identity.settings import IdentitySettings

STAGES = (Stage.INTERESTS, Stage.SOFT_SKILLS, Stage.PROFESSIONS_KNOWLEDGE)
LENINGRAD = region_id_for("47")
SPB = region_id_for("78")
NOT_ADMITTED = region_id_for("77")
SCHOOL_3 = school_id_for(LENINGRAD, "Лужский муниципальный район", "МОУ «СОШ № 3»")
SCHOOL_5 = school_id_for(LENINGRAD, "Лужский муниципальный район", "МБОУ «СОШ № 5»")
SPB_SCHOOL = school_id_for(SPB, "Адмиралтейский район", "ГБОУ СОШ № 1")
UNREGISTERED_SCHOOL = UUID("00000000-0000-4000-8000-000000000001")


def context(role: Role, **scopes: Any) -> CommandContext:
    return CommandContext(Principal(subject=f"test-{role.value}", role=role, **scopes), "test")


async def seed(service: IdentityService) -> None:
    """Season 2019 (grades 6–11); Leningrad oblast and St Petersburg admitted, two Luga schools
    and one in St Petersburg."""
    operator = context(Role.OPERATOR)
    await service.publish_season_rules(
        operator,
        PublishSeasonRules(2019, 6, 11, 3, STAGES, date(2019, 9, 1), date(2020, 5, 31)),
    )
    for code, name in (("47", "Ленинградская область"), ("78", "Санкт-Петербург")):
        await service.admit_region(
            operator,
            region_code=code,
            name=name,
            season=2019,
            time_zone="Europe/Moscow",
            coordinator=f"Координатор: {name}",
        )
    luga = context(Role.COORDINATOR, region_id=str(LENINGRAD))
    for name in ("МОУ «СОШ № 3»", "МБОУ «СОШ № 5»"):
        await service.register_school(
            luga, LENINGRAD, name=name, municipality="Лужский муниципальный район"
        )
    await service.register_school(
        context(Role.COORDINATOR, region_id=str(SPB)),
        SPB,
        name="ГБОУ СОШ № 1",
        municipality="Адмиралтейский район",
    )


@dataclass
class Api:
    """A client of a running identity service, and what tests need around it."""

    client: httpx.AsyncClient
    app: FastAPI
    signer: DevelopmentSigner
    var_dir: Path

    @property
    def service(self) -> IdentityService:
        service: IdentityService = self.app.state.identity
        return service

    def token(self, role: Role, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.signer.mint(role, **claims)}"}

    def registrar(self, school: UUID = SCHOOL_3) -> dict[str, str]:
        return self.token(Role.REGISTRAR, school=str(school))

    async def shown(
        self, participant_id: str, headers: dict[str, str], token: str | None = None
    ) -> dict[str, Any]:
        """The participant as the caller is shown it, after the consent command `token`
        names (its `BVB-Position`)."""
        if token is not None:
            headers = headers | {"BVB-Position": token}
        url = f"/identity/v1/participants/{participant_id}"
        response = await self.client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def registered_with_health(self) -> str:
        """A pupil of school 3 with health limitations and accessibility needs (no consent)."""
        response = await self.client.post(
            "/identity/v1/participants",
            headers=self.registrar(),
            json=World.pupil(
                health_limitations={"has_limitations": True, "kind": "musculoskeletal"},
                accessibility_needs=["step_free_access"],
            ),
        )
        assert response.status_code == 201, response.text
        participant_id: str = response.json()["participant_id"]
        return participant_id

    async def consent_recorded(self, participant_id: UUID | str, *events: DomainEvent) -> str:
        """Append consent's events for the participant to the consent service's store, as its
        commands do; answer the `BVB-Position` token the command would have answered."""
        stream_id = f"consent-{participant_id}"
        store = await SqliteEventStore.open(self.var_dir / "consent.sqlite3")
        try:
            new = [encode(event, EventMetadata(actor="test-consent")) for event in events]
            result = await store.append(stream_id, new)
        finally:
            await store.close()
        return f"consent:{result.position}:{stream_id}"

    async def consent_verified(
        self,
        participant_id: UUID | str,
        purposes: tuple[Purpose, ...] = tuple(Purpose),
        consent_id: UUID | None = None,
    ) -> str:
        """A verified consent in force for a year (every purpose unless told), as the consent
        service publishes it; answers its `BVB-Position` token."""
        verified = ConsentVerified(
            participant_id=UUID(str(participant_id)),
            consent_id=consent_id or uuid4(),
            purposes=purposes,
            valid_until=date.today() + timedelta(days=365),
        )
        return await self.consent_recorded(participant_id, verified)

    async def health_data_withdrawn(self, participant_id: UUID | str, consent_id: UUID) -> str:
        """The guardian withdrew `health_data` (only) from the consent, as the consent service
        publishes it (the health key it destroys is the caller's to destroy); its token."""
        withdrawn = ConsentPurposesWithdrawn(
            participant_id=UUID(str(participant_id)),
            consent_id=consent_id,
            withdrawn=(Purpose.HEALTH_DATA,),
            remaining=tuple(p for p in Purpose if p is not Purpose.HEALTH_DATA),
            withdrawn_on=date.today(),
        )
        return await self.consent_recorded(participant_id, withdrawn)


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., IdentitySettings]:
    def make(**overrides: Any) -> IdentitySettings:
        return IdentitySettings(var_dir=tmp_path / "var", **overrides)

    return make


@pytest.fixture
async def api(make_settings: Callable[..., IdentitySettings]) -> AsyncIterator[Api]:
    settings = make_settings()
    app = create_app(settings)
    async with app_lifespan(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
            result = Api(client, app, ensure_development_keys(settings.var_dir), settings.var_dir)
            await seed(result.service)
            yield result


@dataclass(frozen=True)
class World:
    """The ids of what `seed` creates (test modules cannot import this conftest)."""

    leningrad: UUID = LENINGRAD
    spb: UUID = SPB
    not_admitted: UUID = NOT_ADMITTED
    school_3: UUID = SCHOOL_3
    school_5: UUID = SCHOOL_5
    spb_school: UUID = SPB_SCHOOL
    unregistered_school: UUID = UNREGISTERED_SCHOOL

    @staticmethod
    def pupil(**overrides: Any) -> dict[str, Any]:
        """A registration body of an eligible pupil (valid СНИЛС 112-233-445 95)."""
        body: dict[str, Any] = {
            "last_name": "Соколова",
            "first_name": "Дарья",
            "middle_name": "Андреевна",
            "birth_date": "2007-04-12",
            "snils": "112-233-445 95",
            "grade": 7,
        }
        body.update(overrides)
        return body

    @staticmethod
    def context(role: Role, **scopes: Any) -> CommandContext:
        return context(role, **scopes)


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def seed_world() -> Callable[[IdentityService], Awaitable[None]]:
    """`seed`, for tests that start their own service."""
    return seed
