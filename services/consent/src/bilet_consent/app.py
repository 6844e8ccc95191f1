"""Composition root of the HTTP process: `uvicorn bilet_consent.app:create_app --factory`.

Wires the real adapters from settings (`runtime.open_runtime`): the event store, the suite's key
store, the document store, the read model of identity's facts (fed in-process when embedded, by
`python -m bilet_consent.worker` when distributed), the audit trail, the destruction job (at start,
then every `BVB_CONSENT_ERASURE_INTERVAL_SECONDS`) and the readiness probes.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from fastapi import FastAPI

from bilet.http import ReadinessCheck, ServiceDescription, create_service_app
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
READINESS_TIMEOUT: Final = 2.0
JOB_ACTOR: Final = "consent-destruction-job"


async def _erasure_job(service: ConsentService, interval: float) -> None:
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
        except Exception:  # the next run tries again; the process must keep serving
            _log.exception("the destruction job failed")
        await asyncio.sleep(interval)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def create_app(settings: ConsentSettings | None = None, *, clock: Clock = utc_now) -> FastAPI:
    settings = settings or ConsentSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_runtime(settings, clock) as runtime:
            app.state.runtime = runtime
            app.state.consent = runtime.service
            tasks: list[asyncio.Task[None]] = []
            try:
                if runtime.feed is not None:
                    await runtime.feed.catch_up({})
                    tasks.append(asyncio.create_task(runtime.feed.run()))
                if settings.consent_demo_data:
                    await load_demo_data(runtime.service)
                tasks.append(
                    asyncio.create_task(
                        _erasure_job(runtime.service, settings.consent_erasure_interval_seconds)
                    )
                )
                yield
            finally:
                for task in reversed(tasks):
                    await _cancel(task)

    def _runtime() -> Runtime | None:
        runtime: Runtime | None = getattr(app.state, "runtime", None)
        return runtime

    async def store_answers() -> ReadinessCheck:
        runtime = _runtime()
        if runtime is None:
            return ReadinessCheck(name="event_store", ready=False, detail="not open")
        try:
            await asyncio.wait_for(runtime.store.head_position(), READINESS_TIMEOUT)
        except Exception as error:  # any failure means "not ready"; the probe itself must answer
            return ReadinessCheck(name="event_store", ready=False, detail=type(error).__name__)
        return ReadinessCheck(name="event_store", ready=True)

    async def documents_answer() -> ReadinessCheck:
        runtime = _runtime()
        if runtime is None:
            return ReadinessCheck(name="document_store", ready=False, detail="not open")
        try:
            await asyncio.wait_for(runtime.documents.ping(), READINESS_TIMEOUT)
        except Exception as error:
            return ReadinessCheck(name="document_store", ready=False, detail=type(error).__name__)
        return ReadinessCheck(name="document_store", ready=True)

    app = create_service_app(
        SERVICE,
        [router],
        lifespan,
        settings=settings,
        readiness=[store_answers, documents_answer],
        body_limits={"/v1/consents": settings.max_body_bytes},
    )
    app.add_exception_handler(DomainError, on_domain_error)
    return app


def create_embedded_app() -> FastAPI:
    """The service as the embedded host runs it (`make run`): with the demo consents."""
    return create_app(ConsentSettings(consent_demo_data=True))
