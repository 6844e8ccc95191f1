"""Fixtures of the diagnostics tests: a running service on a temporary `var/` whose facts (pupils,
season rules, windows) the test sets (`StaticFacts`), a clock the tests move, small instrument
forms (`FixtureInstruments`), and tokens for every role."""

import hashlib
import json
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from bilet.contracts.catalogue.diagnostics import (
    EnvironmentProfile,
    EnvironmentScores,
    InstrumentVersionPublished,
    InterestsResult,
    KnowledgeLevel,
    ProfessionsKnowledgeResult,
    RiasecResult,
    RiasecScores,
    SkillLevel,
    SoftSkillsResult,
)
from bilet.contracts.vocabulary import (
    Environment,
    Instrument,
    InstrumentRef,
    Level,
    MappingRef,
    Stage,
)
from bilet.http import Role
from bilet.http.devkeys import DevelopmentSigner, ensure_development_keys
from bilet_diagnostics.app import create_app
from bilet_diagnostics.application.service import DiagnosticsService
from bilet_diagnostics.domain.attempt import StageResult
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

MAPPING = MappingRef(mapping_id="fixture_environments", version="1.0.0")
OPTIONS = (("a", 0), ("b", 1), ("c", 2))


@dataclass(frozen=True)
class FixtureChoice:
    option_id: str
    text: str


@dataclass(frozen=True)
class FixtureItem:
    item_id: str
    instrument: Instrument
    prompt: str
    choices: tuple[FixtureChoice, ...]


@dataclass(frozen=True)
class FixtureForm:
    stage: Stage
    band: str
    instruments: tuple[InstrumentRef, ...]
    items: tuple[FixtureItem, ...]
    time_limit: timedelta

    def item(self, item_id: str) -> FixtureItem | None:
        return next((i for i in self.items if i.item_id == item_id), None)


@dataclass(frozen=True)
class FixtureScored:
    result: StageResult
    points: tuple[tuple[str, str, int], ...]

    def explanation(self) -> dict[str, object]:
        return {"points": [list(p) for p in self.points]}


@dataclass(frozen=True)
class FixtureVersion:
    ref: InstrumentRef
    stage: Stage
    scales: tuple[str, ...]
    digest: str
    mapping: MappingRef | None
    item_count: int

    def published(self) -> InstrumentVersionPublished:
        return InstrumentVersionPublished(
            instrument=self.ref.instrument,
            version=self.ref.version,
            stage=self.stage,
            item_count=self.item_count,
            scales=self.scales,
            item_bank_digest=self.digest,
            environment_mapping=self.mapping,
        )


INSTRUMENT_OF = {
    Stage.INTERESTS: Instrument.ONET_IP_SHORT,
    Stage.SOFT_SKILLS: Instrument.SOFT_SKILLS_BANK,
    Stage.PROFESSIONS_KNOWLEDGE: Instrument.PROFESSIONS_KNOWLEDGE_BANK,
}
ITEMS_OF = {Stage.INTERESTS: 3, Stage.SOFT_SKILLS: 3, Stage.PROFESSIONS_KNOWLEDGE: 2}


class FixtureInstruments:
    """Three small forms, one instrument each, scored by summing option points: the
    `Instruments` port for tests of the attempt (the shipped banks have their own tests)."""

    def __init__(self, items: int | None = None) -> None:
        self.forms = {stage: self._form(stage, items or ITEMS_OF[stage]) for stage in Stage}

    @staticmethod
    def _form(stage: Stage, count: int) -> FixtureForm:
        instrument = INSTRUMENT_OF[stage]
        choices = tuple(FixtureChoice(o, f"Вариант {o}") for o, _ in OPTIONS)
        items = tuple(
            FixtureItem(f"{stage.value[:2]}-{n:02d}", instrument, f"Вопрос {n}", choices)
            for n in range(1, count + 1)
        )
        ref = InstrumentRef(instrument=instrument, version="1.0.0")
        return FixtureForm(stage, "6-7", (ref,), items, timedelta(minutes=30))

    def current_form(self, stage: Stage, grade: int) -> FixtureForm:
        return self.forms[stage]

    def form(self, stage: Stage, grade: int, instruments: tuple[InstrumentRef, ...]) -> FixtureForm:
        form = self.forms[stage]
        if instruments != form.instruments:
            raise KeyError(instruments)
        return form

    def versions(self) -> tuple[FixtureVersion, ...]:
        return tuple(
            FixtureVersion(
                form.instruments[0],
                stage,
                ("total",),
                hashlib.sha256(stage.value.encode()).hexdigest(),
                MAPPING if stage is Stage.INTERESTS else None,
                len(form.items),
            )
            for stage, form in self.forms.items()
        )

    def mapping_table(self, ref: MappingRef) -> object:
        return {"rows": [{"scale": "total", "environment": "smart", "weight": 1}]}

    def missing(self, form: Any, answers: Mapping[str, str]) -> tuple[str, ...]:
        return tuple(i.item_id for i in form.items if i.item_id not in answers)

    def answer_sheet_digest(self, form: Any, answers: Mapping[str, str]) -> str:
        canonical = json.dumps(dict(sorted(answers.items())), separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def score(self, form: Any, answers: Mapping[str, str]) -> FixtureScored:
        points = tuple(
            (i.item_id, answers[i.item_id], dict(OPTIONS)[answers[i.item_id]]) for i in form.items
        )
        total = sum(p for _, _, p in points)
        top = 2 * len(form.items)
        level = (
            Level.ADVANCED
            if total * 3 >= top * 2
            else Level.BASIC
            if total * 3 >= top
            else Level.INITIAL
        )
        ref = form.instruments[0]
        result: StageResult
        if form.stage is Stage.INTERESTS:
            percent = total * 100 // top
            result = InterestsResult(
                riasec=RiasecResult(
                    instrument=ref,
                    scores=RiasecScores(
                        realistic=total * 40 // top, investigative=0, artistic=0, social=0,
                        enterprising=0, conventional=0,
                    ),
                ),
                environments=EnvironmentProfile(
                    mapping=MAPPING,
                    scores=EnvironmentScores(
                        safe=0, smart=percent, social=0, healthy=0, comfortable=0,
                        industrial=0, creative=0, business=0, agrarian=0,
                    ),
                    leading=(Environment.SMART,),
                ),
            )  # fmt: skip
        elif form.stage is Stage.SOFT_SKILLS:
            result = SoftSkillsResult(
                instrument=ref,
                levels=(SkillLevel(skill="teamwork", level=level, score=total, max_score=top),),
            )
        else:
            result = ProfessionsKnowledgeResult(
                instrument=ref,
                levels=(
                    KnowledgeLevel(
                        environment=Environment.SMART, level=level, score=total, max_score=top
                    ),
                ),
            )
        return FixtureScored(result, points)


@dataclass
class Api:
    client: httpx.AsyncClient
    app: FastAPI
    signer: DevelopmentSigner
    settings: DiagnosticsSettings
    clock: Clock
    facts: StaticFacts
    instruments: FixtureInstruments
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
        self, attempt_id: str, item_id: str, option: str = "b", name: str = "dasha"
    ) -> httpx.Response:
        return await self.client.put(
            f"/diagnostics/v1/attempts/{attempt_id}/answers/{item_id}",
            headers=self.pupil(name),
            json={"option_id": option},
        )

    async def complete(self, attempt_id: str, name: str = "dasha") -> httpx.Response:
        return await self.client.post(
            f"/diagnostics/v1/attempts/{attempt_id}/complete", headers=self.pupil(name)
        )

    async def completed(
        self, name: str = "dasha", stage: Stage = Stage.INTERESTS, option: str = "b"
    ) -> dict[str, Any]:
        attempt = await self.started(name, stage)
        for item in attempt["items"]:
            saved = await self.answer(attempt["attempt_id"], item["item_id"], option, name)
            assert saved.status_code == 200, saved.text
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
    instruments = FixtureInstruments()
    app = create_app(settings, clock=clock, facts=facts, instruments=instruments)
    async with LifespanManager(app, startup_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://diagnostics") as client:
            yield Api(
                client,
                app,
                ensure_development_keys(settings.var_dir),
                settings,
                clock,
                facts,
                instruments,
                pupils,
            )


@pytest.fixture
def make_instruments() -> Callable[..., FixtureInstruments]:
    """Forms of `items` items each (the default: 3, 3 and 2)."""
    return FixtureInstruments
