"""Everything the career events service's processes open, in one place: the stores, the read
model of identity's and consent's facts and of the service's own catalogue (fed in-process when
embedded, by `python -m bilet_events.worker` when distributed) and the service built on them."""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

from bilet import stores
from bilet.audit import EventStoreAuditLog
from bilet.contracts import CATALOGUE
from bilet.crypto import KeyStore
from bilet.eventstore import EventStore
from bilet.projections import EmbeddedFeed, ReadModel
from bilet_events.adapters.facts import (
    EVENTS,
    FACTS_PROJECTION,
    SOURCES,
    ReadModelCatalogue,
    ReadModelFacts,
)
from bilet_events.adapters.stores import open_event_store, open_key_store, open_read_model
from bilet_events.application.base import Clock, utc_now
from bilet_events.application.facts import Facts
from bilet_events.application.service import EventsService
from bilet_events.settings import EventsSettings

__all__ = ["Clock", "Runtime", "open_runtime", "utc_now"]


@dataclass
class Runtime:
    settings: EventsSettings
    store: EventStore
    keystore: KeyStore
    read_model: ReadModel
    # The read model's answers: the catalogue, and the wait of read-your-writes.
    catalogue: ReadModelCatalogue
    service: EventsService
    feed: EmbeddedFeed | None


@contextlib.asynccontextmanager
async def open_runtime(
    settings: EventsSettings,
    clock: Clock = utc_now,
    *,
    facts: Facts | None = None,
    store: EventStore | None = None,
) -> AsyncIterator[Runtime]:
    """Open the stores and the read model, build the service and (embedded) the feed of the
    read model from identity's and consent's stores and the service's own; closed in reverse on
    exit. `facts` given (tests): it answers about pupils in place of the read model. `store`
    given (the season simulator's unit of work): the service's own event store, the caller's
    to close."""
    async with contextlib.AsyncExitStack() as stack:
        if store is None:
            store = await open_event_store(settings)
            stack.push_async_callback(store.close)
        keystore = await open_key_store(settings)
        stack.push_async_callback(keystore.close)
        read_model = await open_read_model(settings)
        stack.push_async_callback(read_model.close)
        feed: EmbeddedFeed | None = None
        if settings.events_embedded_feed:
            others = [s for s in SOURCES if s != EVENTS]
            sources = await stores.open_source_stores(settings, others)
            for source in sources.values():
                stack.push_async_callback(source.close)
            # Published types only, as on Kafka: the internal `careerbookings-` streams and other
            # services' internal streams never reach this read model.
            feed = EmbeddedFeed(
                read_model,
                FACTS_PROJECTION,
                {**sources, EVENTS: store},
                event_types=CATALOGUE.event_types(),
            )
        catalogue = ReadModelCatalogue(read_model)
        service = EventsService(
            store,
            keystore,
            facts or ReadModelFacts(read_model),
            catalogue,
            EventStoreAuditLog(store),
            clock=clock,
            cancellation_notice=timedelta(hours=settings.events_cancellation_notice_hours),
        )
        yield Runtime(settings, store, keystore, read_model, catalogue, service, feed)
