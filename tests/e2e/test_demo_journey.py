"""`make run`'s demo, as a newcomer meets it: the embedded host loads identity's Leningrad 2019
pupils, the consent service's consents for them, the diagnostics they took in 2019, and the
portfolio built from all; the printed demo tokens see what their roles should. Testing is open
today: the printed pupil token takes a stage, and the portfolio shows its result as soon as it is
asked with the answer's `BVB-Position` (read-your-writes)."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bilet.http import Role
from bilet.http.consistency import POSITION_HEADER
from bilet.http.devkeys import ensure_development_keys
from bilet.http.testing import app_lifespan
from bilet.settings import PlatformSettings
from bilet_consent import demo as consent_demo
from bilet_consent.demo import DEMO_GUARDIAN
from bilet_diagnostics import demo as diagnostics_demo
from bilet_host.embedded import create_embedded_host
from bilet_identity import demo as identity_demo
from bilet_identity.access import demo_grants


@pytest.fixture
async def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("BVB_VAR_DIR", str(tmp_path / "var"))
    host = create_embedded_host()
    async with app_lifespan(host) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bilet") as client:
            yield client


def bearer(role: Role, **claims: object) -> dict[str, str]:
    signer = ensure_development_keys(PlatformSettings().var_dir)
    return {"Authorization": f"Bearer {signer.mint(role, **claims)}"}  # type: ignore[arg-type]


async def test_the_demo_guardian_sees_both_children_and_the_verified_ones_portfolio(
    demo: httpx.AsyncClient,
) -> None:
    guardian = bearer(
        Role.GUARDIAN,
        subject=str(DEMO_GUARDIAN.guardian_id),
        children=[str(child) for child in DEMO_GUARDIAN.participant_ids],
    )
    children = await demo.get("/portfolio/v1/me/children", headers=guardian)
    assert children.status_code == 200, children.text
    listed = {item["participant_id"]: item for item in children.json()["items"]}
    assert set(listed) == {str(child) for child in DEMO_GUARDIAN.participant_ids}

    verified, pending = DEMO_GUARDIAN.participant_ids
    portfolio = await demo.get(f"/portfolio/v1/participants/{verified}", headers=guardian)
    assert portfolio.status_code == 200, portfolio.text
    body = portfolio.json()
    assert body["display_name"], "the guardian sees their child's name"
    closed = await demo.get(f"/portfolio/v1/participants/{pending}", headers=guardian)
    assert closed.status_code == 403
    assert closed.json()["code"] == "consent_required"


async def test_the_demo_schools_show_every_consent_state(demo: httpx.AsyncClient) -> None:
    states: dict[str, int] = {}
    for school in identity_demo.SCHOOLS:
        navigator = bearer(Role.NAVIGATOR, school=str(school.school_id))
        seen = 0
        cursor: str | None = None
        while True:
            params = {"limit": "50", **({"cursor": cursor} if cursor else {})}
            page = await demo.get(
                f"/portfolio/v1/schools/{school.school_id}/participants",
                headers=navigator,
                params=params,
            )
            assert page.status_code == 200, page.text
            for item in page.json()["items"]:
                state = item["consent"]["state"]
                states[state] = states.get(state, 0) + 1
                seen += 1
            cursor = page.json().get("next_cursor")
            if not cursor:
                break
        assert seen == school.pupils
    # Most verified, a few pending, one rejected, one withdrawn (destruction scheduled).
    assert states["verified"] > sum(states.values()) // 2
    assert states["pending"] >= 1
    assert states["rejected"] == 1
    assert states["withdrawn"] == 1


async def _demo_history_taken(demo: httpx.AsyncClient, navigator: dict[str, str]) -> None:
    """The 2019 history is taken in the background of the start, pupil by pupil: wait (bounded)
    until the last pupil of СОШ № 3 has results."""
    last, _ = diagnostics_demo.demo_pupils()[86]
    for _ in range(600):
        results = await demo.get(f"/diagnostics/v1/participants/{last}/results", headers=navigator)
        if results.status_code == 200 and results.json()["stages"]:
            return
        await asyncio.sleep(0.5)
    raise AssertionError("the demo's 2019 history was not taken within 5 minutes")


def test_the_demo_knows_identitys_pupils() -> None:
    pupils = {pid for pid, _ in diagnostics_demo.demo_pupils()}
    assert pupils == {
        identity_demo.participant_id(school, number)
        for school in identity_demo.SCHOOLS
        for number in range(1, school.pupils + 1)
    }
    assert [s for s, _ in diagnostics_demo.SCHOOLS] == [s.school_id for s in identity_demo.SCHOOLS]


def test_the_consent_demo_gives_health_data_for_exactly_identitys_pupils_with_limitations() -> None:
    limited = {
        (identity_demo.participant_id(school, number), school.school_id)
        for school in identity_demo.SCHOOLS
        for number, (_, pupil) in enumerate(identity_demo.pupils(school), start=1)
        if pupil.has_health_limitations
    }
    assert limited
    for school in identity_demo.SCHOOLS:
        for number in range(1, school.pupils + 1):
            pid = identity_demo.participant_id(school, number)
            assert consent_demo.has_health_limitations(pid, school.school_id) == (
                (pid, school.school_id) in limited
            )


async def test_most_demo_pupils_have_results_and_the_printed_pupil_tests_today(
    demo: httpx.AsyncClient,
) -> None:
    navigator = bearer(Role.NAVIGATOR, school=str(identity_demo.SCHOOLS[0].school_id))
    await _demo_history_taken(demo, navigator)
    with_results = 0
    for pupil, _ in diagnostics_demo.demo_pupils()[:87]:
        results = await demo.get(f"/diagnostics/v1/participants/{pupil}/results", headers=navigator)
        assert results.status_code == 200, results.text
        with_results += bool(results.json()["stages"])
    assert with_results > 87 // 2

    scopes = dict(demo_grants.token_scopes())
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
