"""Builds a service's FastAPI application under its own path prefix (`/<service>/...`).

Every route of a service lives under `/<service>/`, the OpenAPI document and the docs included,
so the embedded host and a Kubernetes ingress expose exactly the same paths.
"""

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Literal

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


@dataclass(frozen=True)
class ServiceDescription:
    """What a service says about itself in its OpenAPI document and health answers."""

    name: str
    title: str
    summary: str
    version: str = "0.1.0"
    tags: Sequence[dict[str, str]] = field(default_factory=tuple)

    @property
    def prefix(self) -> str:
        return f"/{self.name}"


class Health(BaseModel):
    status: Literal["ok"]
    service: str
    version: str


def _operation_id(route: APIRoute) -> str:
    # Operation ids are the route function names: stable across releases, so that frontend teams'
    # generated clients do not churn when a path or a tag changes.
    return route.name


def create_service_app(
    service: ServiceDescription,
    routers: Sequence[APIRouter] = (),
    lifespan: Lifespan | None = None,
) -> FastAPI:
    app = FastAPI(
        title=service.title,
        summary=service.summary,
        version=service.version,
        openapi_url=f"{service.prefix}/openapi.json",
        docs_url=f"{service.prefix}/docs",
        redoc_url=f"{service.prefix}/redoc",
        openapi_tags=list(service.tags) or None,
        generate_unique_id_function=_operation_id,
        lifespan=lifespan,
    )

    @app.get(
        f"{service.prefix}/healthz",
        tags=["operations"],
        response_model=Health,
        name=f"{service.name}_healthz",
        summary="Liveness: the process answers",
    )
    async def healthz() -> Health:
        return Health(status="ok", service=service.name, version=service.version)

    for router in routers:
        app.include_router(router, prefix=service.prefix)
    return app
