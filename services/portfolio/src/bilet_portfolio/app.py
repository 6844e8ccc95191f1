"""Composition root of the HTTP process: `uvicorn bilet_portfolio.app:create_app --factory`.

The API reads the portfolio read model (SQLite under `var/`, or PostgreSQL schema
`bvb_portfolio_rm`), which a separate worker (`python -m bilet_portfolio.worker`) feeds from
Kafka. Embedded (`create_embedded_app`, `make run`) the lifespan feeds it itself, in-process,
from the other services' stores: it catches up first, so the demo data is visible at start, then
follows them live in a background task.

Readiness is about this replica's ability to answer (ADR 0022): the read model answers (and was
built by this layout of the projection: embedded, an older one is rebuilt at start; otherwise
`bvb portfolio rebuild` does it) and the embedded feed (if any) runs. How far the projection is
behind, and whether Kafka answers, are not: every replica shares the read model and the broker,
so either would take every replica out of the load balancer at once, turning a backlog into an
outage (reads that need a write wait for it and say `not_yet_visible`). The lag is sampled in
the background into `bilet_projection_consumer_lag`, for the alert on it.
Metrics: the HTTP metrics of every service, and the projection's (`bilet_projection_*`, lag
included).
"""

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from fastapi import FastAPI

from bilet.contracts import CATALOGUE
from bilet.crypto import FieldCipher
from bilet.eventstore import EventStore
from bilet.http import (
    ReadinessCheck,
    ServiceDescription,
    answers,
    create_service_app,
    feed_readiness,
)
from bilet.projections import (
    BackgroundFeed,
    EmbeddedFeed,
    ProjectionMetrics,
    ReadModel,
    rebuild_from_stores,
)
from bilet_portfolio.adapters import layout
from bilet_portfolio.adapters.audit_thread import open_audit_log
from bilet_portfolio.adapters.lag import KafkaLag, LagProbe, StoreLag, keep_sampling
from bilet_portfolio.adapters.projection import PortfolioProjection
from bilet_portfolio.adapters.readmodel import SqlPortfolioReader
from bilet_portfolio.adapters.stores import (
    list_cursor_key,
    open_audit_store,
    open_key_store,
    open_read_model,
    open_sources,
)
from bilet_portfolio.api.problems import on_portfolio_error
from bilet_portfolio.api.routes import router
from bilet_portfolio.api.streams import UpdateStreams
from bilet_portfolio.application.errors import PortfolioError
from bilet_portfolio.application.listing import ListCursors
from bilet_portfolio.application.service import PortfolioQueries
from bilet_portfolio.application.view_cache import ViewCache
from bilet_portfolio.settings import SERVICE_NAME, SOURCES, PortfolioSettings, topic_of

_log = logging.getLogger(__name__)

SERVICE = ServiceDescription(
    name=SERVICE_NAME,
    title="Bilet Portfolio",
    summary="The participant's digital portfolio, read by pupils, guardians and navigators.",
    tags=(
        {
            "name": "portfolio",
            "description": "Portfolios, a school's participants, a guardian's children and "
            "server-sent updates. Reads accept `BVB-Position` (read-your-writes).",
        },
    ),
)
# How often the in-process feed looks at the other services' SQLite stores when no append of
# its own store instance wakes it (their appends go through the owning service's instance).
SOURCE_POLL_SECONDS: Final = 0.05
# How often the projection's lag is measured for /metrics (a Prometheus scrape is every 15-30 s).
LAG_SAMPLE_SECONDS: Final = 5.0


async def _cancelled(task: "asyncio.Task[None]") -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def create_app(settings: PortfolioSettings | None = None) -> FastAPI:
    settings = settings or PortfolioSettings()
    projection = PortfolioProjection()
    background = (
        BackgroundFeed("portfolio-embedded-feed", "embedded portfolio feed")
        if settings.portfolio_embedded_feed
        else None
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            read_model = await open_read_model(settings)
            stack.push_async_callback(read_model.close)
            sources: dict[str, EventStore] = {}
            if settings.portfolio_embedded_feed:
                sources = await open_sources(settings)
                for store in sources.values():
                    stack.push_async_callback(store.close)
                    store.poll_interval = SOURCE_POLL_SECONDS
            app.state.layout_outdated = await layout.outdated(read_model, projection)
            if app.state.layout_outdated and sources:
                # `make run` on a var/ of an older version: rebuild before serving.
                _log.warning("the portfolio read model has an older layout: rebuilding it")
                await rebuild_from_stores(
                    read_model, projection, sources, event_types=CATALOGUE.event_types()
                )
                app.state.layout_outdated = False
            if not app.state.layout_outdated:  # else left as it is, for the rebuild to replace
                await read_model.install(projection)
            audit_store = await open_audit_store(settings)
            stack.push_async_callback(audit_store.close)
            # Closed before the store, with what is queued committed.
            audit = await stack.enter_async_context(open_audit_log(audit_store))
            keystore = await open_key_store(settings)
            stack.push_async_callback(keystore.close)
            metrics: ProjectionMetrics = app.state.projection_metrics
            lag: LagProbe | None = None
            if background is not None:
                # Published types only, as on Kafka: other services' internal streams (identity's
                # reservations) never reach the read model, not even as stream ids.
                feed = EmbeddedFeed(
                    read_model,
                    projection,
                    sources,
                    metrics=metrics,
                    event_types=CATALOGUE.event_types(),
                )
                await stack.enter_async_context(background.running(feed))
                lag = StoreLag(read_model, sources, metrics)
            elif settings.kafka_bootstrap:
                lag = KafkaLag(
                    read_model,
                    settings.kafka_connection(),
                    [topic_of(source) for source in SOURCES],
                    metrics,
                )
                stack.push_async_callback(lag.close)
            if lag is not None:
                sampler = asyncio.create_task(keep_sampling(lag, LAG_SAMPLE_SECONDS))
                stack.push_async_callback(_cancelled, sampler)  # before the probe closes
            # Commits are heard here when the feed runs here or the database says so.
            signalled = background is not None or read_model.hears_other_processes
            streams = UpdateStreams(
                watch=functools.partial(read_model.watch, projection.name),
                signalled=signalled,
                poll=settings.portfolio_sse_poll_seconds,
                keepalive=settings.portfolio_sse_keepalive_seconds,
                max_seconds=settings.portfolio_sse_max_seconds,
            )
            streams.chain_signals()
            stack.callback(streams.unchain_signals)
            stack.callback(streams.close)  # runs first: open streams end before stores close
            app.state.read_model = read_model
            app.state.audit_store = audit_store
            app.state.lag = lag
            app.state.update_streams = streams
            reader = SqlPortfolioReader(read_model, projection)
            # Participants' rows are kept only where every commit is heard (ADR 0080).
            views = ViewCache(settings.portfolio_view_cache_size, follows_commits=signalled)
            # A participant's commit drops their rendered answers and row at once, and every
            # commit the positions answers report (ADR 0065).
            stack.enter_context(reader.follow_changes(views.changed))
            stack.enter_context(reader.follow_changes(reader.positions_moved))
            await reader.hear_changes()
            app.state.portfolio = PortfolioQueries(
                reader,
                FieldCipher(keystore),
                audit,
                cursors=ListCursors(list_cursor_key(settings)),
                wait_timeout=settings.portfolio_wait_timeout,
                views=views,
            )
            yield

    async def read_model_answers() -> ReadinessCheck:
        read_model: ReadModel | None = getattr(app.state, "read_model", None)
        if read_model is None:
            return await answers("read_model", None)  # not open
        if getattr(app.state, "layout_outdated", False):
            return ReadinessCheck(
                name="read_model",
                ready=False,
                detail="built by an older layout: run `bvb portfolio rebuild`",
            )
        ask = functools.partial(read_model.checkpoints, projection.name)
        return await answers("read_model", ask)

    app = create_service_app(
        SERVICE,
        [router],
        lifespan,
        settings=settings,
        readiness=[read_model_answers, feed_readiness(background)],
    )
    # Once per application: a lifespan may run again (tests), a registry takes each metric once.
    app.state.projection_metrics = ProjectionMetrics(app.state.metrics_registry)
    app.add_exception_handler(PortfolioError, on_portfolio_error)
    return app


def create_embedded_app() -> FastAPI:
    """The service as the embedded host runs it (`make run`): fed in-process."""
    return create_app(PortfolioSettings(portfolio_embedded_feed=True))
