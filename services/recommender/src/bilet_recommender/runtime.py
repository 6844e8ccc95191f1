"""Everything the recommender's processes open, in one place: the stores, the read model, and
(embedded) the two feeds of it from identity's, consent's, diagnostics', events' stores and the
recommender's own — the issuing projection (`adapters/evidence_projection`: the evidence per
participant, the offers, and the append of `RecommendationsIssued`) and the insights projection
(`adapters/insights_projection`) — and the service built on them. Distributed, the faust worker
(`python -m bilet_recommender.worker`) issues instead and the read model is fed from Kafka; the
API then holds no keys (`NoKeyStore`, docs/adr/0046): it seals nothing (the opportunities are
public text) and opens nothing (only issuing opens a pupil's accessibility needs).
"""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from bilet import stores
from bilet.audit import EventStoreAuditLog
from bilet.contracts import CATALOGUE
from bilet.crypto import KeyStore, NoKeyStore
from bilet.eventstore import EventStore
from bilet.projections import EmbeddedFeed, Projection, ReadModel
from bilet_recommender.adapters.evidence_projection import (
    FEED_EVENT_TYPES,
    SOURCES,
    ReadModelEvidence,
    issuing_projection,
)
from bilet_recommender.adapters.insights import AppliedPositions, ReadModelInsights
from bilet_recommender.adapters.insights_projection import INSIGHTS
from bilet_recommender.adapters.stores import open_event_store, open_key_store, open_read_model
from bilet_recommender.adapters.tables import load_tables
from bilet_recommender.application.base import Clock, utc_now
from bilet_recommender.application.service import RecommenderService
from bilet_recommender.settings import SERVICE_NAME, RecommenderSettings

__all__ = ["SOURCES", "Clock", "Runtime", "open_runtime", "utc_now"]


@dataclass
class Runtime:
    settings: RecommenderSettings
    store: EventStore
    keystore: KeyStore
    read_model: ReadModel
    evidence: ReadModelEvidence
    insights: ReadModelInsights
    # The read-your-writes waits of the two projections.
    issued_positions: AppliedPositions
    insight_positions: AppliedPositions
    service: RecommenderService
    # Embedded only: the issuing feed first, then the insights feed.
    feeds: tuple[EmbeddedFeed, ...]


@contextlib.asynccontextmanager
async def open_runtime(
    settings: RecommenderSettings, clock: Clock = utc_now, *, store: EventStore | None = None
) -> AsyncIterator[Runtime]:
    """Open the stores and the read model, build the service and (embedded) the feeds; closed
    in reverse on exit. `store` given (the season simulator's unit of work): the service's own
    event store, the caller's to close."""
    async with contextlib.AsyncExitStack() as stack:
        if store is None:
            store = await open_event_store(settings)
            stack.push_async_callback(store.close)
        # Only the process that issues opens needs; a distributed API is given no master key.
        keystore: KeyStore = (
            await open_key_store(settings)
            if settings.recommender_embedded_feed
            else NoKeyStore("the recommender's API (its worker issues)")
        )
        stack.push_async_callback(keystore.close)
        read_model = await open_read_model(settings)
        stack.push_async_callback(read_model.close)
        issuing: Projection = issuing_projection(store, keystore, clock)
        feeds: tuple[EmbeddedFeed, ...] = ()
        if settings.recommender_embedded_feed:
            others = [s for s in SOURCES if s != SERVICE_NAME]
            sources = await stores.open_source_stores(settings, others)
            for source in sources.values():
                stack.push_async_callback(source.close)
            followed = {**sources, SERVICE_NAME: store}
            # Published types only, as on Kafka (other services' internal streams never reach
            # the read model); the issuing one also reads the recommender's own opportunities.
            feeds = (
                EmbeddedFeed(read_model, issuing, followed, event_types=FEED_EVENT_TYPES),
                EmbeddedFeed(read_model, INSIGHTS, followed, event_types=CATALOGUE.event_types()),
            )
        evidence = ReadModelEvidence(read_model)
        insights = ReadModelInsights(read_model)
        service = RecommenderService(
            store,
            keystore,
            evidence,
            insights,
            load_tables(),
            EventStoreAuditLog(store),
            clock=clock,
        )
        yield Runtime(
            settings,
            store,
            keystore,
            read_model,
            evidence,
            insights,
            AppliedPositions(read_model, issuing.name),
            AppliedPositions(read_model, INSIGHTS.name),
            service,
            feeds,
        )
