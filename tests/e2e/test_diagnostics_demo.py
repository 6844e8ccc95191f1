"""`make run`'s diagnostics, as a newcomer meets them: the embedded host loads the 2019 history
(most demo pupils completed the stages, so their portfolios show results), and testing is open
today: the printed pupil token takes a stage through `/diagnostics/v1`, and the portfolio shows
its result as soon as it is asked with the answer's `BVB-Position` (read-your-writes)."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from bilet.http import Role
from bilet.http.consistency import POSITION_HEADER
from bilet.http.devkeys import ensure_development_keys
from bilet.settings import PlatformSettings
from bilet_diagnostics import demo as diagnostics_demo
from bilet_host.embedded import create_embedded_host
from bilet_identity import demo as identity_demo


@pytest.fixture
async def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("BVB_VAR_DIR", str(tmp_path / "var"))
    host = create_embedded_host()
    async with LifespanManager(host, startup_timeout=300) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bilet") as client:
            yield client


def bearer(role: Role, **claims: object) -> dict[str, str]:
    signer = ensure_development_keys(PlatformSettings().var_dir)
    return {"Authorization": f"Bearer {signer.mint(role, **claims)}"}  # type: ignore[arg-type]


def test_the_demo_knows_identitys_pupils() -> None:
    pupils = {pid for pid, _ in diagnostics_demo.demo_pupils()}
    assert pupils == {
        identity_demo.participant_id(school, number)
        for school in identity_demo.SCHOOLS
        for number in range(1, school.pupils + 1)
    }
    assert [s for s, _ in diagnostics_demo.SCHOOLS] == [s.school_id for s in identity_demo.SCHOOLS]


async def test_most_demo_pupils_have_results_and_the_printed_pupil_tests_today(
    demo: httpx.AsyncClient,
) -> None:
    navigator = bearer(Role.NAVIGATOR, school=str(identity_demo.SCHOOLS[0].school_id))
    with_results = 0
    for pupil, _ in diagnostics_demo.demo_pupils()[:87]:
        results = await demo.get(f"/diagnostics/v1/participants/{pupil}/results", headers=navigator)
        assert results.status_code == 200, results.text
        with_results += bool(results.json()["stages"])
    assert with_results > 87 // 2

    scopes = dict(identity_demo.token_scopes())
    pupil_token = bearer(Role.PUPIL, **scopes[Role.PUPIL])
    pupil_id = str(identity_demo.FIRST_PUPIL)
    started = await demo.post(
        "/diagnostics/v1/attempts",
        headers=pupil_token,
        json={"participant_id": pupil_id, "stage": "interests"},
    )
    assert started.status_code == 201, started.text
    attempt: dict[str, Any] = started.json()
    for item in attempt["items"]:
        saved = await demo.put(
            f"/diagnostics/v1/attempts/{attempt['attempt_id']}/answers/{item['item_id']}",
            headers=pupil_token,
            json={"option_id": item["choices"][-1]["option_id"]},
        )
        assert saved.status_code == 200, saved.text
    completed = await demo.post(
        f"/diagnostics/v1/attempts/{attempt['attempt_id']}/complete", headers=pupil_token
    )
    assert completed.status_code == 200, completed.text
    season = completed.json()["season"]
    assert season > 2019, "today's season, beside the 2019 history"

    portfolio = await demo.get(
        f"/portfolio/v1/participants/{pupil_id}",
        headers={**pupil_token, POSITION_HEADER: completed.headers[POSITION_HEADER]},
    )
    assert portfolio.status_code == 200, portfolio.text
    shown = [
        stage
        for stage in portfolio.json()["diagnostics"]
        if stage["season"] == season and stage["stage"] == "interests"
    ]
    assert len(shown) == 1, portfolio.json()["diagnostics"]
    assert shown[0]["status"] == "completed"
    assert shown[0]["attempt_id"] == attempt["attempt_id"]
    assert shown[0]["answer_sheet_id"] == completed.json()["answer_sheet"]["answer_sheet_id"]
    assert shown[0]["result"] == completed.json()["interests"]
