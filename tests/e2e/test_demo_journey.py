"""`make run`'s demo, as a newcomer meets it: the embedded host loads identity's Leningrad 2019
pupils, the consent service's consents for them, and the portfolio built from both; the printed
demo tokens see what their roles should."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from bilet.http import Role
from bilet.http.devkeys import ensure_development_keys
from bilet.settings import PlatformSettings
from bilet_consent.demo import DEMO_GUARDIAN
from bilet_host.embedded import create_embedded_host
from bilet_identity import demo as identity_demo


@pytest.fixture
async def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("BVB_VAR_DIR", str(tmp_path / "var"))
    host = create_embedded_host()
    async with LifespanManager(host, startup_timeout=120) as manager:
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
