"""The demo's courses and clubs (`make run`): registered by the demo coordinator in identity's
demo region, listed in Russian, and registered once however often the service starts."""

from pathlib import Path

import httpx

from bilet.http import Role
from bilet.http.devkeys import ensure_development_keys
from bilet.http.testing import app_lifespan
from bilet_identity import demo as identity_demo
from bilet_recommender import demo
from bilet_recommender.app import create_app
from bilet_recommender.runtime import Runtime
from bilet_recommender.settings import RecommenderSettings


def test_the_demo_region_is_identitys() -> None:
    assert demo.REGION_ID == identity_demo.REGION_ID
    assert demo.MUNICIPALITY == identity_demo.MUNICIPALITY


async def _start(settings: RecommenderSettings) -> tuple[dict[str, str], int]:
    """The demo's opportunities as the coordinator lists them, and the store's head."""
    app = create_app(settings)
    signer = ensure_development_keys(settings.var_dir)
    token = signer.mint(Role.COORDINATOR, region=str(demo.REGION_ID))
    async with app_lifespan(app) as manager:
        runtime: Runtime = app.state.runtime
        head = await runtime.store.head_position()
        assert await runtime.issued_positions.wait_for("recommender", head, 10.0)
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://r") as client:
            response = await client.get(
                f"/recommender/v1/regions/{demo.REGION_ID}/opportunities",
                headers={"Authorization": f"Bearer {token}"},
            )
    assert response.status_code == 200, response.text
    return {i["opportunity_id"]: i["title"] for i in response.json()["items"]}, head


async def test_the_demo_registers_its_opportunities_once(tmp_path: Path) -> None:
    settings = RecommenderSettings(var_dir=tmp_path / "var", recommender_demo_data=True)
    listed, head = await _start(settings)
    assert listed == {str(o.opportunity_id): o.title for o in demo.OPPORTUNITIES}
    assert any("Кружок" in title for title in listed.values())
    assert any("Программа" in title for title in listed.values())
    again, head_again = await _start(settings)
    assert again == listed
    assert head_again == head, "a restart registers nothing new"
