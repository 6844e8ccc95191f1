"""The service's routes are tried before the frame's (docs, health, readiness, metrics), as
nearly every request is the service's, unless a route of the service would then answer a path
of the frame: no request is answered by another route than before (`own_routes_first`)."""

from pathlib import Path

import httpx
from fastapi import APIRouter, FastAPI

from bilet.http import ServiceDescription, create_service_app
from bilet.settings import PlatformSettings

SERVICE = ServiceDescription(name="probe", title="Probe", summary="For tests.")


async def _get(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path)


def _first_path(app: FastAPI) -> str:
    first = app.router.routes[0]
    return str(getattr(first, "path", None) or "the service's router")


async def test_the_services_routes_are_tried_first(tmp_path: Path) -> None:
    router = APIRouter()

    @router.get("/v1/things/{thing}")
    async def thing(thing: str) -> dict[str, str]:
        return {"thing": thing}

    app = create_service_app(SERVICE, [router], settings=PlatformSettings(var_dir=tmp_path))

    assert _first_path(app) == "the service's router"
    assert (await _get(app, "/probe/healthz")).json()["service"] == "probe"
    assert (await _get(app, "/probe/v1/things/a")).json() == {"thing": "a"}
    document = (await _get(app, "/probe/openapi.json")).json()
    assert set(document["paths"]) == {
        "/probe/v1/things/{thing}",
        "/probe/healthz",
        "/probe/readyz",
        "/probe/metrics",
    }


async def test_a_service_route_that_would_answer_a_frame_path_leaves_the_frame_first(
    tmp_path: Path,
) -> None:
    router = APIRouter()

    @router.post("/{anything}")  # `/probe/healthz` too, for another method
    async def anything(anything: str) -> dict[str, str]:
        return {"anything": anything}

    app = create_service_app(SERVICE, [router], settings=PlatformSettings(var_dir=tmp_path))

    assert _first_path(app) == "/probe/openapi.json"
    assert (await _get(app, "/probe/healthz")).json()["service"] == "probe"


async def test_a_route_under_the_docs_assets_leaves_the_frame_first(tmp_path: Path) -> None:
    router = APIRouter()

    @router.get("/docs/assets/{name}")
    async def asset(name: str) -> dict[str, str]:
        return {"asset": name}

    app = create_service_app(SERVICE, [router], settings=PlatformSettings(var_dir=tmp_path))

    assert _first_path(app) == "/probe/openapi.json"


async def test_a_route_matching_only_the_docs_real_assets_leaves_the_frame_first(
    tmp_path: Path,
) -> None:
    router = APIRouter()

    @router.get("/docs/assets/{name}.js")  # not a made-up asset name: the real scripts
    async def script(name: str) -> dict[str, str]:
        return {"script": name}

    app = create_service_app(SERVICE, [router], settings=PlatformSettings(var_dir=tmp_path))

    assert _first_path(app) == "/probe/openapi.json"
    served = await _get(app, "/probe/docs/assets/swagger-ui-bundle.js")
    assert served.status_code == 200
    assert "javascript" in served.headers["content-type"]
