"""Route dependencies run on the event loop: the service frame refuses an app whose routes
depend on a plain function, which FastAPI would hand to a worker thread on every request."""

from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI, Request

from bilet.http import ServiceDescription, create_service_app
from bilet.http.dependencies import threaded_dependencies

DESCRIPTION = ServiceDescription(name="probe", title="Probe", summary="Dependencies.")


def looked_up_on_a_thread(request: Request) -> str:
    return str(request.url)


async def looked_up_on_the_loop(request: Request) -> str:
    return str(request.url)


def router_depending_on(dependency: object) -> APIRouter:
    router = APIRouter(prefix="/v1")

    @router.get("/things")
    async def things(value: Annotated[str, Depends(dependency)]) -> dict[str, str]:
        """Answers the dependency's value."""
        return {"value": value}

    return router


def test_a_plain_function_dependency_is_found_through_included_routers() -> None:
    app = FastAPI()
    app.include_router(router_depending_on(looked_up_on_a_thread), prefix="/probe")
    assert threaded_dependencies(app) == [
        f"GET /v1/things: {__name__}.looked_up_on_a_thread",
    ]


def test_the_service_frame_refuses_routes_depending_on_a_plain_function(tmp_path: object) -> None:
    with pytest.raises(TypeError, match="looked_up_on_a_thread"):
        create_service_app(DESCRIPTION, [router_depending_on(looked_up_on_a_thread)])


def test_coroutine_dependencies_and_the_bearer_principal_pass() -> None:
    app = create_service_app(DESCRIPTION, [router_depending_on(looked_up_on_the_loop)])
    assert threaded_dependencies(app) == []
