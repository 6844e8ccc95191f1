"""Composition root of the HTTP process: `uvicorn bilet_events.app:create_app --factory`.

Wires the real adapters from settings (`runtime.open_runtime`): the event store, the suite's key
store (a mentor's comment is sealed with the pupil's key, the accessibility summary with the
health key), and the read model of identity's and consent's facts and of the catalogue (fed
in-process when embedded, by `python -m bilet_events.worker` when distributed). Readiness: the
store answers and the embedded feed still runs. Every answer of `/events/v1` is private:
`Cache-Control: no-store`, `Vary: Authorization`.
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
from bilet.http.consistency import ReadYourWrites
from bilet.http.private import PrivateResponses
from bilet.projections import BackgroundFeed
from bilet_events.adapters.facts import SOURCES
from bilet_events.api.problems import on_domain_error
from bilet_events.api.routes import router
from bilet_events.application.facts import Facts
from bilet_events.demo import load_demo_data
from bilet_events.domain.errors import DomainError
from bilet_events.runtime import Clock, Runtime, open_runtime, utc_now
from bilet_events.settings import SERVICE_NAME, EventsSettings

SERVICE = ServiceDescription(
    name=SERVICE_NAME,
    title="Bilet Career events",
    summary="Career events (профпробы): catalogue, booking, attendance and mentor feedback.",
    tags=(
        {
            "name": "career events",
            "description": "Publishing, revising, cancelling; the catalogue.",
        },
        {"name": "bookings", "description": "Seats, the waitlist, giving a seat up."},
        {"name": "on the day", "description": "The roster, attendance and mentor feedback."},
    ),
)
PRIVATE_PREFIX: Final = f"{SERVICE.prefix}/v1/"


async def _demo(runtime: Runtime, settings: EventsSettings) -> None:
    await load_demo_data(runtime, settings)


def create_app(
    settings: EventsSettings | None = None, *, clock: Clock = utc_now, facts: Facts | None = None
) -> FastAPI:
    """The service's app. `facts` replaces the read model's answers about pupils (tests)."""
    settings = settings or EventsSettings()
    feed = (
        BackgroundFeed("events-feed", "embedded feed of identity's, consent's and its own facts")
        if settings.events_embedded_feed
        else None
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_runtime(settings, clock, facts=facts) as runtime, AsyncExitStack() as stack:
            app.state.runtime = runtime
            app.state.events = runtime.service
            app.state.read_your_writes = ReadYourWrites("catalogue", runtime.catalogue, SOURCES)
            if runtime.feed is not None and settings.events_demo_data:
                await runtime.feed.catch_up({})  # the demo acts on identity's and consent's facts
            if feed is not None and runtime.feed is not None:
                await stack.enter_async_context(feed.running(runtime.feed))
            if settings.events_demo_data:
                # The 2019 history takes a while: the service answers meanwhile, and
                # `app.state.demo` says when it is done.
                app.state.demo = await stack.enter_async_context(
                    in_background(_demo(runtime, settings), name="events-demo", what="demo data")
                )
            yield

    async def store_answers() -> ReadinessCheck:
        runtime: Runtime | None = getattr(app.state, "runtime", None)
        return await answers("event_store", runtime.store.head_position if runtime else None)

    app = create_service_app(
        SERVICE,
        [router],
        lifespan,
        settings=settings,
        readiness=[store_answers, feed_readiness(feed)],
    )
    app.add_middleware(PrivateResponses, prefix=PRIVATE_PREFIX)
    app.add_exception_handler(DomainError, on_domain_error)
    return app


def create_embedded_app() -> FastAPI:
    """The service as the embedded host runs it (`make run`): with the demo data."""
    return create_app(EventsSettings(events_demo_data=True))
