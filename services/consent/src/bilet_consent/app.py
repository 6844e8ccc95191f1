"""Composition root of the HTTP process: `uvicorn bilet_consent.app:create_app --factory`.

Wires the real adapters from settings (`runtime.open_runtime`): the event store, the suite's key
store, the document store, the read model of identity's facts (fed in-process when embedded, by
`python -m bilet_consent.worker` when distributed), the audit trail, the destruction job (at start,
then every `BVB_CONSENT_ERASURE_INTERVAL_SECONDS`) and the readiness probes: the stores answer,
and the embedded feed and the destruction job still run (the schedule is a projection: when its
feed dies, destruction stops). With a PostgreSQL store the job is leader-elected: only the
replica holding its lease runs it, the others wait to take over and keep serving
(`bilet.leadership`, ADR 0028); SQLite is one process and runs it directly. Metrics add the
erasures overdue, the job's last success and whether this replica leads it.
Every answer of `/consent/v1` is private: `Cache-Control: no-store`, `Vary: Authorization`.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, Final

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Gauge
from starlette.types import ASGIApp, Receive, Scope, Send

from bilet.background import in_background
from bilet.http import (
    ReadinessCheck,
    ServiceDescription,
    answers,
    create_service_app,
    feed_readiness,
)
from bilet.http.private import PrivateResponses
from bilet.http.service import READINESS_TIMEOUT
from bilet.leadership import run_as_leader
from bilet.lease import AdvisoryLease
from bilet.projections import BackgroundFeed
from bilet_consent.api.lists import router as list_router
from bilet_consent.api.openapi import add_form_schema
from bilet_consent.api.problems import on_domain_error
from bilet_consent.api.routes import router
from bilet_consent.application.service import ConsentService
from bilet_consent.demo import load_demo_data
from bilet_consent.domain.errors import DomainError
from bilet_consent.runtime import Clock, Runtime, open_runtime, utc_now
from bilet_consent.settings import SERVICE_NAME, ConsentSettings

_log = logging.getLogger(__name__)

SERVICE = ServiceDescription(
    name=SERVICE_NAME,
    title="Bilet Consent",
    summary="Guardian consents: upload, verification, withdrawal and destruction of personal data.",
    tags=(
        {
            "name": "consents",
            "description": "Guardians' consents per purpose, their documents and status.",
        },
    ),
)
JOB_ACTOR: Final = "consent-destruction-job"
PRIVATE_PREFIX: Final = f"{SERVICE.prefix}/v1/"
METRICS_PATH: Final = f"{SERVICE.prefix}/metrics"


class ErasureMetrics:
    """The destruction job's health for Prometheus: what is overdue (read from the schedule at
    every scrape) and when the job last ran through."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.overdue = Gauge(
            "bvb_consent_erasures_overdue",
            "Participants whose destruction date has passed and whose data is not destroyed yet",
            registry=registry,
        )
        self.last_success = Gauge(
            "bvb_consent_erasure_job_last_success_timestamp_seconds",
            "When the destruction job last finished a run without an error (Unix time)",
            registry=registry,
        )
        self.leader = Gauge(
            "bvb_consent_erasure_job_leader",
            "1 while this replica runs the destruction job (holds its lease), else 0",
            registry=registry,
        )


async def _erasure_job(service: ConsentService, interval: float, metrics: ErasureMetrics) -> None:
    """Destroy what is due, now and then every `interval` seconds, until cancelled."""
    while True:
        try:
            report = await service.erase_due(JOB_ACTOR)
            if report.erased:
                _log.info(
                    "destroyed the data of %d participant(s) due by %s",
                    len(report.erased),
                    report.as_of,
                )
            metrics.last_success.set(time.time())
        except Exception:  # the next run tries again; the process must keep serving
            _log.exception("the destruction job failed")
        await asyncio.sleep(interval)


def _destruction_job(
    settings: ConsentSettings, service: ConsentService, metrics: ErasureMetrics
) -> Coroutine[Any, Any, None]:
    """The job as this process runs it: directly on SQLite (one process), else behind the
    lease of the store's schema in PostgreSQL (also with a KurrentDB store, whose service keeps
    its read model there), so that one replica of many runs it."""

    def run() -> Coroutine[Any, Any, None]:
        return _erasure_job(service, settings.consent_erasure_interval_seconds, metrics)

    if settings.event_store == "sqlite" or settings.database_url is None:
        metrics.leader.set(1)
        return run()

    dsn, schema = settings.database_url, settings.consent_store_schema

    def new_lease() -> AdvisoryLease:
        key = f"bilet.consent.destruction:{schema}"
        return AdvisoryLease(dsn, key, holder="consent destruction job")

    return run_as_leader(new_lease, run, leading=lambda leads: metrics.leader.set(int(leads)))


class BeforeScrape:
    """Brings gauges read from the database up to date when Prometheus scrapes `/metrics`."""

    def __init__(self, app: ASGIApp, refresh: Callable[[], Awaitable[None]]) -> None:
        self.app = app
        self.refresh = refresh

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == METRICS_PATH:
            await self.refresh()
        await self.app(scope, receive, send)


def create_app(settings: ConsentSettings | None = None, *, clock: Clock = utc_now) -> FastAPI:
    settings = settings or ConsentSettings()
    # The facts and the destruction schedule are a projection: without its feed, scopes go
    # stale and withdrawals never reach the destruction job.
    feed = (
        BackgroundFeed("consent-feed", "embedded feed of participants")
        if settings.consent_embedded_feed
        else None
    )
    job_task: asyncio.Task[None] | None = None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal job_task
        async with open_runtime(settings, clock) as runtime, contextlib.AsyncExitStack() as stack:
            app.state.runtime = runtime
            app.state.consent = runtime.service
            feed_task: asyncio.Task[None] | None = None
            if feed is not None and runtime.feed is not None:
                feed_task = await stack.enter_async_context(feed.running(runtime.feed))
            if settings.consent_demo_data:
                await load_demo_data(runtime.service)
            job = _destruction_job(settings, runtime.service, erasure_metrics)
            job_task = await stack.enter_async_context(
                in_background(job, name="consent-destruction-job", what="destruction job")
            )
            app.state.feed_task, app.state.erasure_job = feed_task, job_task
            yield

    def _runtime() -> Runtime | None:
        runtime: Runtime | None = getattr(app.state, "runtime", None)
        return runtime

    async def store_answers() -> ReadinessCheck:
        runtime = _runtime()
        ask = runtime.store.head_position if runtime is not None else None
        return await answers("event_store", ask)

    async def documents_answer() -> ReadinessCheck:
        runtime = _runtime()
        ask = runtime.documents.ping if runtime is not None else None
        return await answers("document_store", ask)

    async def job_runs() -> ReadinessCheck:
        if job_task is None or job_task.done():
            return ReadinessCheck(
                name="destruction_job", ready=False, detail="the destruction job stopped"
            )
        return ReadinessCheck(name="destruction_job", ready=True)

    app = create_service_app(
        SERVICE,
        [router, list_router],
        lifespan,
        settings=settings,
        readiness=[store_answers, documents_answer, feed_readiness(feed), job_runs],
        body_limits={"/v1/consents": settings.max_body_bytes},
    )
    add_form_schema(app)
    # Once per application: a lifespan may run again (tests), a registry takes each metric once.
    erasure_metrics = ErasureMetrics(app.state.metrics_registry)

    async def count_overdue() -> None:
        runtime = _runtime()
        if runtime is None:
            return
        try:
            overdue = await asyncio.wait_for(runtime.service.overdue_erasures(), READINESS_TIMEOUT)
        except Exception:  # the scrape still answers; the job's last success tells the rest
            _log.warning("could not count the overdue erasures", exc_info=True)
        else:
            erasure_metrics.overdue.set(overdue)

    app.add_middleware(BeforeScrape, refresh=count_overdue)
    # Consents carry the guardian's name and, for verifiers, passport; documents; refusals too.
    app.add_middleware(PrivateResponses, prefix=PRIVATE_PREFIX)
    app.add_exception_handler(DomainError, on_domain_error)
    return app


def create_embedded_app() -> FastAPI:
    """The service as the embedded host runs it (`make run`): with the demo consents."""
    return create_app(ConsentSettings(consent_demo_data=True))
