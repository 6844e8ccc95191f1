"""Fixtures of the diagnostics tests: a running service on a temporary `var/` whose facts (pupils,
season rules, windows) the test sets (`StaticFacts`), a clock the tests move, the shipped
instruments, and tokens for every role."""

import functools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI

from bilet.contracts.vocabulary import Stage
from bilet.http import Role
from bilet.http.devkeys import DevelopmentSigner, ensure_development_keys
from bilet.http.testing import app_lifespan
from bilet_diagnostics.adapters.instruments import load_instruments
from bilet_diagnostics.app import create_app
from bilet_diagnostics.application.ports import Instruments
from bilet_diagnostics.application.service import DiagnosticsService
from bilet_diagnostics.settings import DiagnosticsSettings
from bilet_diagnostics.testing import (
    OTHER_REGION,
    REGION,
    SCHOOL_3,
    SCHOOL_5,
    SPB_SCHOOL,
    STAGES,
    Clock,
    StaticFacts,
    Window,
)


@functools.cache
def shipped_instruments() -> Instruments:
    """The shipped item banks, loaded once for the whole run (they never change)."""
    return load_instruments()


def option(item: dict[str, Any], lean: int = 0) -> str:
    """An option of an item as `GET /attempts/{id}` lists it: the `lean`-th (wrapping)."""
    choices = item["choices"]
    chosen: str = choices[lean % len(choices)]["option_id"]
    return chosen


@dataclass
class Api:
    client: httpx.AsyncClient
    app: FastAPI
    signer: DevelopmentSigner
    settings: DiagnosticsSettings
    clock: Clock
    facts: StaticFacts
    pupils: dict[str, UUID] = field(default_factory=dict)

    @property
    def service(self) -> DiagnosticsService:
        service: DiagnosticsService = self.app.state.diagnostics
        return service

    def token(self, role: Role, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.signer.mint(role, **claims)}"}

    def pupil(self, name: str = "dasha") -> dict[str, str]:
        return self.token(Role.PUPIL, participant=str(self.pupils[name]))

    def navigator(self, school: UUID = SCHOOL_3) -> dict[str, str]:
        return self.token(Role.NAVIGATOR, school=str(school))

    def operator(self) -> dict[str, str]:
        return self.token(Role.OPERATOR)

    async def start(self, name: str = "dasha", stage: Stage = Stage.INTERESTS) -> httpx.Response:
        return await self.client.post(
            "/diagnostics/v1/attempts",
            headers=self.pupil(name),
            json={"participant_id": str(self.pupils[name]), "stage": stage.value},
        )

    async def started(self, name: str = "dasha", stage: Stage = Stage.INTERESTS) -> dict[str, Any]:
        response = await self.start(name, stage)
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def answer(
        self, attempt_id: str, item_id: str, option_id: str, name: str = "dasha"
    ) -> httpx.Response:
        return await self.client.put(
            f"/diagnostics/v1/attempts/{attempt_id}/answers/{item_id}",
            headers=self.pupil(name),
            json={"option_id": option_id},
        )

    async def answer_all(self, attempt: dict[str, Any], lean: int = 0, name: str = "dasha") -> None:
        for item in attempt["items"]:
            saved = await self.answer(
                attempt["attempt_id"], item["item_id"], option(item, lean), name
            )
            assert saved.status_code == 200, saved.text

    async def complete(self, attempt_id: str, name: str = "dasha") -> httpx.Response:
        return await self.client.post(
            f"/diagnostics/v1/attempts/{attempt_id}/complete", headers=self.pupil(name)
        )

    async def completed(
        self, name: str = "dasha", stage: Stage = Stage.INTERESTS, lean: int = 0
    ) -> dict[str, Any]:
        attempt = await self.started(name, stage)
        await self.answer_all(attempt, lean, name)
        response = await self.complete(attempt["attempt_id"], name)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2019, 10, 15, 10, 0, tzinfo=UTC))


@pytest.fixture
def facts() -> StaticFacts:
    """Dasha and Petya in Leningrad oblast (СОШ № 3 and № 5), Sasha in another region; the
    season 2019 with its three stages and an open window 11–31 October."""
    known = StaticFacts()
    known.rules[2019] = STAGES
    known.windows.append(Window(REGION, 2019, STAGES, date(2019, 10, 11), date(2019, 10, 31)))
    known.windows.append(Window(OTHER_REGION, 2019, STAGES, date(2019, 10, 1), date(2019, 10, 31)))
    return known


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., DiagnosticsSettings]:
    def make(**overrides: Any) -> DiagnosticsSettings:
        return DiagnosticsSettings(var_dir=tmp_path / "var", **overrides)

    return make


@pytest.fixture
async def api(
    make_settings: Callable[..., DiagnosticsSettings], clock: Clock, facts: StaticFacts
) -> AsyncIterator[Api]:
    settings = make_settings()
    pupils = {"dasha": uuid4(), "petya": uuid4(), "sasha": uuid4()}
    facts.add_pupil(pupils["dasha"], SCHOOL_3, REGION)
    facts.add_pupil(pupils["petya"], SCHOOL_5, REGION)
    facts.add_pupil(pupils["sasha"], SPB_SCHOOL, OTHER_REGION)
    app = create_app(settings, clock=clock, facts=facts, instruments=shipped_instruments())
    async with app_lifespan(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://diagnostics") as client:
            yield Api(
                client,
                app,
                ensure_development_keys(settings.var_dir),
                settings,
                clock,
                facts,
                pupils,
            )
