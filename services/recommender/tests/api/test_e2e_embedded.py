"""End to end through the embedded host (as `make run` serves it, without the demo data): a pupil
takes the three diagnostics stages through the diagnostics API; the recommender's embedded feed
issues their recommendations, which the recommender shows when asked with the last stage's
`BVB-Position`, and the portfolio shows the same set when asked with the recommender's
(read-your-writes across three services)."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from bilet import stores
from bilet.contracts import DomainEvent, EventMetadata, encode
from bilet.contracts.catalogue.consent import Purpose
from bilet.contracts.catalogue.identity import ParticipantRegistered
from bilet.contracts.sealed import seal, sealed_scopes
from bilet.contracts.vocabulary import Stage
from bilet.crypto import FieldCipher
from bilet.http import Role
from bilet.http.consistency import POSITION_HEADER
from bilet.http.devkeys import ensure_development_keys
from bilet.http.testing import app_lifespan
from bilet.settings import PlatformSettings
from bilet_diagnostics import facts_testing as given
from bilet_diagnostics.app import create_app as diagnostics_app
from bilet_diagnostics.application.attempts import season_of
from bilet_diagnostics.settings import DiagnosticsSettings
from bilet_host.embedded import EmbeddedHost, MountedService
from bilet_portfolio.app import create_app as portfolio_app
from bilet_portfolio.settings import PortfolioSettings
from bilet_recommender.app import create_app as recommender_app
from bilet_recommender.settings import RecommenderSettings

TODAY = datetime.now(UTC).date()
SEASON = season_of(TODAY.year, TODAY.month)
PUPIL = UUID("3f0c5e0a-0b7e-4c1c-9a51-2b7d1d1f0015")


async def _seed(settings: PlatformSettings) -> None:
    """Today's season, a window open today in the pupil's region, the pupil, a consent covering
    the diagnostics, the portfolio and recommendations."""
    sources = await stores.open_source_stores(settings, ("identity", "consent"))
    keystore = await stores.open_key_store(settings)
    purposes = tuple(p for p in Purpose if p is not Purpose.HEALTH_DATA)
    try:
        personal = {
            "full_name": {"last_name": "Петрова", "first_name": "Анна", "patronymic": None},
            "birth_date": "2012-04-01",
            "snils": "112-233-445 95",
            "health_limitations": {"has_limitations": False, "kind": None},
            "accessibility_needs": [],
        }
        sealed = await seal(
            FieldCipher(keystore), str(PUPIL), personal, sealed_scopes(ParticipantRegistered)
        )
        registered = given.registered(PUPIL, season=SEASON, grade=8).model_copy(update=sealed)
        events: list[DomainEvent] = [
            given.rules(SEASON),
            given.region(given.REGION, "Europe/Moscow", SEASON),
            given.school(given.SCHOOL_3),
            given.window(TODAY - timedelta(days=1), TODAY + timedelta(days=1), season=SEASON),
            registered,
            given.verified(PUPIL, TODAY + timedelta(days=300), purposes),
        ]
        for event in events:
            new = encode(event, EventMetadata(actor="e2e"))
            await sources[event.service].append(event.stream_id, [new])
    finally:
        await keystore.close()
        for store in sources.values():
            await store.close()


@pytest.fixture
async def host(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    var_dir = tmp_path / "var"
    await _seed(PlatformSettings(var_dir=var_dir))
    services = [
        MountedService("diagnostics", diagnostics_app(DiagnosticsSettings(var_dir=var_dir))),
        MountedService("recommender", recommender_app(RecommenderSettings(var_dir=var_dir))),
        MountedService(
            "portfolio",
            portfolio_app(PortfolioSettings(var_dir=var_dir, portfolio_embedded_feed=True)),
        ),
    ]
    embedded = EmbeddedHost(services)
    async with app_lifespan(embedded) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bilet") as client:
            yield client


async def _take(client: httpx.AsyncClient, pupil: dict[str, str], stage: Stage) -> httpx.Response:
    started = await client.post(
        "/diagnostics/v1/attempts",
        headers=pupil,
        json={"participant_id": str(PUPIL), "stage": stage.value},
    )
    assert started.status_code == 201, started.text
    attempt: dict[str, Any] = started.json()
    for item in attempt["items"]:
        saved = await client.put(
            f"/diagnostics/v1/attempts/{attempt['attempt_id']}/answers/{item['item_id']}",
            headers=pupil,
            json={"option_id": item["choices"][-1]["option_id"]},
        )
        assert saved.status_code == 200, saved.text
    completed = await client.post(
        f"/diagnostics/v1/attempts/{attempt['attempt_id']}/complete", headers=pupil
    )
    assert completed.status_code == 200, completed.text
    return completed


async def test_three_stages_lead_to_recommendations_in_the_recommender_and_the_portfolio(
    host: httpx.AsyncClient, tmp_path: Path
) -> None:
    signer = ensure_development_keys(tmp_path / "var")
    pupil = {"Authorization": f"Bearer {signer.mint(Role.PUPIL, participant=str(PUPIL))}"}
    path = f"/recommender/v1/participants/{PUPIL}/recommendations"
    for stage in (Stage.INTERESTS, Stage.SOFT_SKILLS):
        completed = await _take(host, pupil, stage)
    not_yet = await host.get(
        path, headers={**pupil, POSITION_HEADER: completed.headers[POSITION_HEADER]}
    )
    assert not_yet.status_code == 200, not_yet.text
    assert not_yet.json()["recommendations"] is None, "two stages: no set yet"

    completed = await _take(host, pupil, Stage.PROFESSIONS_KNOWLEDGE)
    shown = await host.get(
        path, headers={**pupil, POSITION_HEADER: completed.headers[POSITION_HEADER]}
    )
    assert shown.status_code == 200, shown.text
    issued = shown.json()["recommendations"]
    assert issued is not None
    assert issued["season"] == SEASON
    assert len(issued["basis"]["attempts"]) == 3
    assert shown.json()["reproduced"] is True
    assert shown.json()["explanation"]["study_plan"]

    portfolio = await host.get(
        f"/portfolio/v1/participants/{PUPIL}",
        headers={**pupil, POSITION_HEADER: shown.headers[POSITION_HEADER]},
    )
    assert portfolio.status_code == 200, portfolio.text
    sets = portfolio.json()["recommendations"]
    assert [s["recommendation_set_id"] for s in sets] == [issued["recommendation_set_id"]]
    assert sets[0]["leading_environments"] == issued["leading_environments"]
