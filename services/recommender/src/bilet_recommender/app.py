"""Composition root of the HTTP process: `uvicorn bilet_recommender.app:create_app --factory`.

Wires the real adapters from settings (`runtime.open_runtime`): the event store (the published
`recommendations-<participant>` streams, authoritative for the API, and the coordinators'
opportunities), the suite's key store (the accessibility needs are opened with the health key
while a consent covers health data), and the read model: the issuing projection's evidence and
offers and the insights counts, fed in-process when embedded (`make run`), by the faust worker
and a Kafka feed when distributed. Readiness: the store answers and the embedded feeds still
run. Every answer of `/recommender/v1` is private: `Cache-Control: no-store`,
`Vary: Authorization`.
"""

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Final

from fastapi import FastAPI

from bilet.http import ReadinessCheck, ServiceDescription, answers, create_service_app
from bilet.http.consistency import ReadYourWrites
from bilet.http.private import PrivateResponses
from bilet.projections import BackgroundFeed
from bilet_recommender.api.problems import on_domain_error
from bilet_recommender.api.routes import router
from bilet_recommender.demo import load_demo_data
from bilet_recommender.domain.errors import DomainError
from bilet_recommender.runtime import SOURCES, Clock, Runtime, open_runtime, utc_now
from bilet_recommender.settings import SERVICE_NAME, RecommenderSettings

SERVICE = ServiceDescription(
    name=SERVICE_NAME,
    title="Bilet Recommender",
    summary="Individual study plans and regional opportunities, every item explained.",
    tags=(
        {"name": "recommendations", "description": "A participant's latest set, explained."},
        {"name": "opportunities", "description": "Courses and clubs coordinators register."},
        {"name": "insights", "description": "A region's counts per municipality and week."},
    ),
)
PRIVATE_PREFIX: Final = f"{SERVICE.prefix}/v1/"


def create_app(settings: RecommenderSettings | None = None, *, clock: Clock = utc_now) -> FastAPI:
    """The service's app; `clock` is the moment consents and dates are judged at (tests)."""
    settings = settings or RecommenderSettings()
    embedded = settings.recommender_embedded_feed
    feeds = (
        (
            BackgroundFeed("recommender-issuing", "embedded feed issuing recommendations"),
            BackgroundFeed("recommender-insights", "embedded feed of the insights"),
        )
        if embedded
        else ()
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_runtime(settings, clock) as runtime, AsyncExitStack() as stack:
            app.state.runtime = runtime
            app.state.recommender = runtime.service
            app.state.issuing_visibility = ReadYourWrites(
                "recommender", runtime.issued_positions, SOURCES
            )
            app.state.insights_visibility = ReadYourWrites(
                "recommender", runtime.insight_positions, SOURCES
            )
            if settings.recommender_demo_data:
                app.state.demo = await load_demo_data(runtime, settings)
            for background, feed in zip(feeds, runtime.feeds, strict=True):
                await stack.enter_async_context(background.running(feed))
            yield

    async def store_answers() -> ReadinessCheck:
        runtime: Runtime | None = getattr(app.state, "runtime", None)
        return await answers("event_store", runtime.store.head_position if runtime else None)

    async def feeds_run() -> ReadinessCheck:
        if not embedded:
            return ReadinessCheck(name="feed", ready=True, detail="the worker feeds it")
        stopped = [feed.name for feed in feeds if not feed.runs]
        if stopped:
            return ReadinessCheck(name="feed", ready=False, detail=f"stopped: {stopped}")
        return ReadinessCheck(name="feed", ready=True, detail="embedded")

    app = create_service_app(
        SERVICE, [router], lifespan, settings=settings, readiness=[store_answers, feeds_run]
    )
    app.add_middleware(PrivateResponses, prefix=PRIVATE_PREFIX)
    app.add_exception_handler(DomainError, on_domain_error)
    return app


def create_embedded_app() -> FastAPI:
    """The service as the embedded host runs it (`make run`): with the demo's courses and
    clubs."""
    return create_app(RecommenderSettings(recommender_demo_data=True))
