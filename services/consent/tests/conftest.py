"""Fixtures of the consent tests: a running service on a temporary `var/` with three pupils
registered in identity's store (two in Leningrad oblast, one elsewhere), a clock the tests move,
and tokens for every role."""

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI

from bilet.http import Role
from bilet.http.devkeys import DevelopmentSigner, ensure_development_keys
from bilet.http.testing import app_lifespan
from bilet_consent.app import create_app
from bilet_consent.application.service import ConsentService
from bilet_consent.settings import ConsentSettings
from bilet_consent.testing import (
    OTHER_REGION,
    PDF,
    REGION,
    SCHOOL_3,
    SCHOOL_5,
    SPB_SCHOOL,
    Clock,
    consent_form,
    register_pupils,
)


@dataclass
class Api:
    client: httpx.AsyncClient
    app: FastAPI
    signer: DevelopmentSigner
    settings: ConsentSettings
    clock: Clock
    pupils: dict[str, UUID] = field(default_factory=dict)

    @property
    def service(self) -> ConsentService:
        service: ConsentService = self.app.state.consent
        return service

    def token(self, role: Role, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.signer.mint(role, **claims)}"}

    def registrar(self, school: UUID = SCHOOL_3) -> dict[str, str]:
        return self.token(Role.REGISTRAR, school=str(school))

    def coordinator(self, region: UUID = REGION) -> dict[str, str]:
        return self.token(Role.COORDINATOR, region=str(region))

    def operator(self) -> dict[str, str]:
        return self.token(Role.OPERATOR)

    def pupil(self, participant_id: UUID) -> dict[str, str]:
        return self.token(Role.PUPIL, participant=str(participant_id))

    def guardian(self, *children: UUID, subject: str | None = None) -> dict[str, str]:
        return self.token(Role.GUARDIAN, subject=subject, children=[str(c) for c in children])

    async def submit(
        self,
        participant_id: UUID,
        *,
        document: bytes = PDF,
        headers: dict[str, str] | None = None,
        filename: str = "consent.pdf",
        **overrides: Any,
    ) -> httpx.Response:
        return await self.client.post(
            "/consent/v1/consents",
            headers=headers or self.registrar(),
            files={
                "consent": (None, json.dumps(consent_form(participant_id, **overrides)),
                            "application/json"),
                "document": (filename, document, "application/pdf"),
            },
        )  # fmt: skip

    async def status_of(self, participant_id: UUID) -> str:
        response = await self.client.get(
            f"/consent/v1/participants/{participant_id}/status", headers=self.operator()
        )
        assert response.status_code == 200, response.text
        state: str = response.json()["state"]
        return state

    async def submitted(self, participant_id: UUID, **overrides: Any) -> UUID:
        response = await self.submit(participant_id, **overrides)
        assert response.status_code == 201, response.text
        return UUID(response.json()["consent_id"])

    async def verified(self, participant_id: UUID, **overrides: Any) -> UUID:
        consent_id = await self.submitted(participant_id, **overrides)
        response = await self.client.post(
            f"/consent/v1/consents/{consent_id}/verify", headers=self.coordinator()
        )
        assert response.status_code == 200, response.text
        return consent_id


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2019, 9, 20, 10, 0, tzinfo=UTC))


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., ConsentSettings]:
    def make(**overrides: Any) -> ConsentSettings:
        return ConsentSettings(var_dir=tmp_path / "var", **overrides)

    return make


@pytest.fixture
async def api(make_settings: Callable[..., ConsentSettings], clock: Clock) -> AsyncIterator[Api]:
    settings = make_settings()
    pupils = {"dasha": uuid4(), "petya": uuid4(), "spb": uuid4()}
    await register_pupils(
        settings,
        [
            (pupils["dasha"], SCHOOL_3, REGION),
            (pupils["petya"], SCHOOL_5, REGION),
            (pupils["spb"], SPB_SCHOOL, OTHER_REGION),
        ],
    )
    app = create_app(settings, clock=clock)
    async with app_lifespan(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://consent") as client:
            yield Api(
                client, app, ensure_development_keys(settings.var_dir), settings, clock, pupils
            )
