"""Builds a service's FastAPI application under its own path prefix (`/<service>/...`).

Every route of a service lives under `/<service>/`, the OpenAPI document and the docs included,
so the embedded host and a Kubernetes ingress expose exactly the same paths.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Final, Literal, Protocol

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel
from starlette.routing import BaseRoute, Match, Mount
from starlette.staticfiles import StaticFiles

from bilet.http.auth import DEVELOPMENT_ISSUER, TokenVerifier, authenticate_header
from bilet.http.deadlines import body_deadline_from
from bilet.http.dependencies import threaded_dependencies
from bilet.http.devkeys import ensure_development_keys
from bilet.http.document import amend_openapi, with_frame_rules
from bilet.http.frame import ServiceFrame
from bilet.http.guard import RequestGuard
from bilet.http.jwks import JwksFile, JwksUrl, KeySource
from bilet.http.problems import install_problem_handlers
from bilet.http.semantics import add_gzip, cors_origins_from, declare_unsupported_media_type
from bilet.http.telemetry import RouteMetrics, request_metrics
from bilet.settings import Environment, PlatformSettings

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


class ReadinessCheck(BaseModel):
    name: str
    ready: bool
    detail: str | None = None


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    service: str
    checks: list[ReadinessCheck]


# A readiness probe: the store answers, the relay's lag is under its threshold, ...
ReadinessProbe = Callable[[], Awaitable[ReadinessCheck]]

READINESS_TIMEOUT: Final = 2.0


async def answers(
    name: str, ask: Callable[[], Awaitable[object]] | None, timeout: float = READINESS_TIMEOUT
) -> ReadinessCheck:
    """Whether a dependency answers `ask` (a cheap query) within `timeout` seconds; `ask` is
    None while the dependency is not open (before the lifespan opened it, after it closed it)."""
    if ask is None:
        return ReadinessCheck(name=name, ready=False, detail="not open")
    try:
        await asyncio.wait_for(ask(), timeout)
    except Exception as error:  # any failure means "not ready"; the probe itself must answer
        return ReadinessCheck(name=name, ready=False, detail=type(error).__name__)
    return ReadinessCheck(name=name, ready=True)


class Running(Protocol):
    """Work in the background of the process (`bilet.projections.BackgroundFeed`)."""

    @property
    def runs(self) -> bool: ...


def feed_readiness(feed: Running | None) -> ReadinessProbe:
    """The readiness of a read model's feed: `None` when a separate worker feeds it (not this
    process's to watch), else ready while the embedded feed runs in this process."""

    async def feed_runs() -> ReadinessCheck:
        if feed is None:
            return ReadinessCheck(name="feed", ready=True, detail="the worker feeds it")
        if not feed.runs:
            return ReadinessCheck(name="feed", ready=False, detail="the embedded feed stopped")
        return ReadinessCheck(name="feed", ready=True, detail="embedded")

    return feed_runs


def token_verifier_from(settings: PlatformSettings) -> TokenVerifier:
    """The bearer-token verifier the settings describe; development makes its own key."""
    production = settings.environment is Environment.PRODUCTION
    keys: KeySource
    if settings.jwks_file is not None:
        keys = JwksFile(settings.jwks_file)
    elif settings.jwks_url is not None:
        keys = JwksUrl(settings.jwks_url)
    elif production:
        raise ValueError("production needs BVB_JWKS_FILE or BVB_JWKS_URL")
    else:
        keys = JwksFile(ensure_development_keys(settings.var_dir).jwks_path)
    issuer = settings.jwt_issuer
    if issuer is None:
        if production:
            raise ValueError("production needs BVB_JWT_ISSUER")
        issuer = DEVELOPMENT_ISSUER
    return TokenVerifier(
        keys,
        issuer=issuer,
        audience=settings.jwt_audience,
        leeway_seconds=settings.jwt_leeway_seconds,
        max_lifetime_seconds=settings.jwt_max_lifetime_seconds,
        production=production,
    )


def _operation_id(route: APIRoute) -> str:
    # Operation ids are the route function names: stable across releases, so that frontend teams'
    # generated clients do not churn when a path or a tag changes.
    return route.name


# Paths of the frame's routes a service's route might also answer: their own, and a file under
# the docs' assets (a mount).
_ASSET: Final = "/asset"


def _frame_paths(route: BaseRoute) -> list[str]:
    """The paths a frame route answers: its own, or for a mount of static files every file it
    serves (a route like `/docs/assets/{name}.js` must not pass for not matching one made-up
    name) and a made-up one."""
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return []
    if not isinstance(route, Mount):
        return [path]
    served = [path + _ASSET]
    if isinstance(files := route.app, StaticFiles):
        for directory in files.all_directories:
            root = Path(directory)
            served += [f"{path}/{file.relative_to(root).as_posix()}" for file in root.rglob("*")]
    return served


def own_routes_first(app: FastAPI, frame: Sequence[BaseRoute]) -> None:
    """Move the service's routes before the frame's (`frame`: the docs, health, readiness and
    metrics), unless one of them answers a path of the frame, in any method: the router tries
    each route in turn (~1 µs a route, docs/adr/0086), and nearly every request is for the
    service's. No request is answered by another route than before: the frame's paths are
    answered by nothing but the frame."""
    own = [route for route in app.router.routes if all(route is not f for f in frame)]
    for route in frame:
        for path in _frame_paths(route):
            scope = {"type": "http", "method": "GET", "path": path, "root_path": ""}
            if any(r.matches(dict(scope))[0] is not Match.NONE for r in own):
                return
    app.router.routes[:] = [*own, *frame]


def create_service_app(
    service: ServiceDescription,
    routers: Sequence[APIRouter] = (),
    lifespan: Lifespan | None = None,
    *,
    settings: PlatformSettings | None = None,
    readiness: Sequence[ReadinessProbe] = (),
    body_limits: dict[str, int] | None = None,
) -> FastAPI:
    """A service's application: its routers under `/<service>/`, problem+json errors, the request
    guard, bearer-token verification for the routes that ask for a principal, health, readiness
    and Prometheus metrics (these three without a token), and a JSON access line per request
    with its correlation and trace ids on every line it logs (`bilet.http.telemetry`)."""
    settings = settings or PlatformSettings()
    # The docs pages load Swagger UI and ReDoc from the service itself (assets pinned with the
    # `fastapi-offline` package), not from a CDN: `/docs` works offline and behind a strict CSP.
    app = FastAPIOffline(
        static_url=f"{service.prefix}/docs/assets",
        swagger_ui_oauth2_redirect_url=f"{service.prefix}/docs/oauth2-redirect",
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
    # FastAPIOffline serves the pages itself and leaves FastAPI's own unset: name them again,
    # for whoever asks the app where its docs are (`bvb run` prints them).
    app.docs_url, app.redoc_url = f"{service.prefix}/docs", f"{service.prefix}/redoc"
    app.state.settings = settings
    app.state.token_verifier = token_verifier_from(settings)
    install_problem_handlers(app)
    registry = CollectorRegistry()
    app.state.metrics_registry = registry
    # Gzip innermost, so that HEAD's headers say what GET's do; every other rule of the frame
    # (ids and access line, CORS, the guard, metrics, HEAD, media types, the query) in one layer
    # around it (`bilet.http.frame`).
    add_gzip(app)
    requests, latency = request_metrics(registry)
    app.add_middleware(
        ServiceFrame,
        prefix=service.prefix,
        routes=app,
        metrics=RouteMetrics(service.name, service.prefix, requests, latency),
        guard=partial(
            RequestGuard,
            max_body=settings.max_request_bytes,
            body_limits={
                f"{service.prefix}{path}": limit for path, limit in (body_limits or {}).items()
            },
            authenticate=lambda header: authenticate_header(app.state.token_verifier, header),
            body_deadline=body_deadline_from(settings),
        ),
        cors_origins=cors_origins_from(settings.cors_origins),
    )

    @app.get(
        f"{service.prefix}/healthz",
        tags=["operations"],
        response_model=Health,
        name=f"{service.name}_healthz",
        summary="Liveness: the process answers",
    )
    async def healthz() -> Health:
        """Answers 200 with the service's name and version while the process runs; it checks
        nothing else (that is `readyz`). No token needed: for the orchestrator's liveness probe."""
        return Health(status="ok", service=service.name, version=service.version)

    @app.get(
        f"{service.prefix}/readyz",
        tags=["operations"],
        response_model=Readiness,
        name=f"{service.name}_readyz",
        summary="Readiness: what the service needs answers (503 when not)",
        responses={503: {"model": Readiness}},
    )
    async def readyz() -> Response:
        """Asks each dependency the service needs (stores, feeds, background jobs) and lists the
        answers in `checks`: 200 `ready` when all answer, else 503 `not_ready` with the same body.
        No token needed: for the orchestrator's readiness probe and the load balancer."""
        checks = [await probe() for probe in readiness]
        ready = all(check.ready for check in checks)
        body = Readiness(
            status="ready" if ready else "not_ready", service=service.name, checks=checks
        )
        return JSONResponse(body.model_dump(mode="json"), status_code=200 if ready else 503)

    @app.get(
        f"{service.prefix}/metrics",
        tags=["operations"],
        name=f"{service.name}_metrics",
        summary="Prometheus metrics",
        response_class=Response,
    )
    async def metrics() -> Response:
        """The service's metrics in the Prometheus text format: requests and latency per route,
        plus the service's own gauges. No token needed: for the Prometheus scraper."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    frame = list(app.router.routes)
    for router in routers:
        app.include_router(router, prefix=service.prefix)
    own_routes_first(app, frame)
    threaded = threaded_dependencies(app)
    if threaded:  # each would cost every request a trip to a worker thread and back
        raise TypeError(f"route dependencies that are not coroutines: {threaded}")
    declare_unsupported_media_type(app)
    amend_openapi(app, with_frame_rules)
    return app
