"""Composition root of the HTTP process: `uvicorn bilet_diagnostics.app:create_app --factory`.

Wires the real adapters from settings (`runtime.open_runtime`): the event store, the suite's key
store (answers are sealed with the participant's key), the instrument catalogue (validated at
start: a bad item bank stops the process), and the read model of identity's and consent's facts
(fed in-process when embedded, by `python -m bilet_diagnostics.worker` when distributed). At
start it announces every catalogue version not announced yet (`InstrumentVersionPublished`).
Readiness: the store answers and the embedded feed still runs. Every answer of
`/diagnostics/v1` is private: `Cache-Control: no-store`, `Vary: Authorization`.
"""

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Final

from fastapi import FastAPI

from bilet.background import in_background
from bilet.http import (
    ReadinessCheck,
    ServiceDescription,
    answers,
    create_service_app,
    feed_readiness,
)
from bilet.http.private import PrivateResponses
from bilet.projections import BackgroundFeed
from bilet_diagnostics.api.problems import on_domain_error
from bilet_diagnostics.api.routes import progress, routers
from bilet_diagnostics.application.facts import Facts
from bilet_diagnostics.application.ports import Instruments
from bilet_diagnostics.demo import load_demo_data
from bilet_diagnostics.domain.errors import DomainError
from bilet_diagnostics.runtime import Clock, Runtime, open_runtime, utc_now
from bilet_diagnostics.settings import SERVICE_NAME, DiagnosticsSettings

SERVICE = ServiceDescription(
    name=SERVICE_NAME,
    title="Bilet Diagnostics",
    summary="The three online diagnostics stages: instruments, attempts, answers and scores.",
    tags=(
        {"name": "attempts", "description": "A pupil's attempt at a stage: items, answers."},
        {"name": "results", "description": "Completed stages, explained."},
        {"name": "instruments", "description": "The instrument versions in use."},
        {"name": "progress", "description": "A school's progress through the stages."},
    ),
)
PRIVATE_PREFIX: Final = f"{SERVICE.prefix}/v1/"


async def _demo(runtime: Runtime, settings: DiagnosticsSettings) -> None:
    await load_demo_data(runtime, settings)


def create_app(
    settings: DiagnosticsSettings | None = None,
    *,
    clock: Clock = utc_now,
    facts: Facts | None = None,
    instruments: Instruments | None = None,
) -> FastAPI:
    """The service's app. `facts` and `instruments` replace the read model and the shipped
    catalogue (tests)."""
    settings = settings or DiagnosticsSettings()
    feed = (
        BackgroundFeed("diagnostics-feed", "embedded feed of identity's and consent's facts")
        if settings.diagnostics_embedded_feed and facts is None
        else None
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (
            open_runtime(settings, clock, facts=facts, instruments=instruments) as runtime,
            AsyncExitStack() as stack,
        ):
            app.state.runtime = runtime
            app.state.diagnostics = runtime.service
            # What the school progress route (`api/routes/progress.py`) reads.
            app.state.facts = runtime.service.facts
            app.state.audit_log = runtime.service.audit
            if runtime.feed is not None and settings.diagnostics_demo_data:
                await runtime.feed.catch_up({})  # the demo acts on identity's and consent's facts
            if feed is not None and runtime.feed is not None:
                await stack.enter_async_context(feed.running(runtime.feed))
            await runtime.service.publish_instrument_versions()
            if settings.diagnostics_demo_data:
                # The 2019 history takes a while: the service answers meanwhile (the pupils'
                # results appear as they are taken), and `app.state.demo` says when it is done.
                app.state.demo = await stack.enter_async_context(
                    in_background(
                        _demo(runtime, settings), name="diagnostics-demo", what="demo history"
                    )
                )
            yield

    async def store_answers() -> ReadinessCheck:
        runtime: Runtime | None = getattr(app.state, "runtime", None)
        return await answers("event_store", runtime.store.head_position if runtime else None)

    app = create_service_app(
        SERVICE,
        [*routers, progress.router],
        lifespan,
        settings=settings,
        readiness=[store_answers, feed_readiness(feed)],
    )
    app.add_middleware(PrivateResponses, prefix=PRIVATE_PREFIX)
    app.add_exception_handler(DomainError, on_domain_error)
    return app


def create_embedded_app() -> FastAPI:
    """The service as the embedded host runs it (`make run`): with the demo attempts."""
    return create_app(DiagnosticsSettings(diagnostics_demo_data=True))
