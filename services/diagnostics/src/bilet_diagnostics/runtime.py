"""Everything the diagnostics service's processes open, in one place: the stores, the instrument
catalogue, the read model of identity's and consent's facts (fed in-process when embedded, by
`python -m bilet_diagnostics.worker` when distributed) and the service built on them."""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from bilet import stores
from bilet.application import Ids, random_ids
from bilet.audit import EventStoreAuditLog
from bilet.contracts import CATALOGUE
from bilet.crypto import KeyStore
from bilet.eventstore import EventStore
from bilet.projections import EmbeddedFeed, ReadModel
from bilet_diagnostics.adapters.facts import DIAGNOSTICS, FACTS_PROJECTION, SOURCES, ReadModelFacts
from bilet_diagnostics.adapters.instruments import load_instruments
from bilet_diagnostics.adapters.stores import open_event_store, open_key_store, open_read_model
from bilet_diagnostics.application.base import Clock, utc_now
from bilet_diagnostics.application.facts import Facts
from bilet_diagnostics.application.ports import Instruments
from bilet_diagnostics.application.service import DiagnosticsService
from bilet_diagnostics.settings import DiagnosticsSettings

__all__ = ["Clock", "Runtime", "open_runtime", "utc_now"]


@dataclass
class Runtime:
    settings: DiagnosticsSettings
    store: EventStore
    keystore: KeyStore
    read_model: ReadModel | None
    service: DiagnosticsService
    feed: EmbeddedFeed | None


@contextlib.asynccontextmanager
async def open_runtime(
    settings: DiagnosticsSettings,
    clock: Clock = utc_now,
    *,
    ids: Ids = random_ids,
    facts: Facts | None = None,
    instruments: Instruments | None = None,
    store: EventStore | None = None,
) -> AsyncIterator[Runtime]:
    """Open the stores, load the catalogue, build the service and (embedded) the feed of the
    facts read model from identity's and consent's stores and the service's own; closed in
    reverse on exit. `facts` given (tests): no read model is opened. `store` given (the season
    simulator's unit of work): the service's own event store, the caller's to close."""
    catalogue = instruments or load_instruments()
    async with contextlib.AsyncExitStack() as stack:
        if store is None:
            store = await open_event_store(settings)
            stack.push_async_callback(store.close)
        keystore = await open_key_store(settings)
        stack.push_async_callback(keystore.close)
        read_model: ReadModel | None = None
        feed: EmbeddedFeed | None = None
        if facts is None:
            read_model = await open_read_model(settings)
            stack.push_async_callback(read_model.close)
            facts = ReadModelFacts(read_model)
            if settings.diagnostics_embedded_feed:
                others = [s for s in SOURCES if s != DIAGNOSTICS]
                sources = await stores.open_source_stores(settings, others)
                for source in sources.values():
                    stack.push_async_callback(source.close)
                # Published types only, as on Kafka: other services' internal streams never
                # reach this read model.
                feed = EmbeddedFeed(
                    read_model,
                    FACTS_PROJECTION,
                    {**sources, DIAGNOSTICS: store},
                    event_types=CATALOGUE.event_types(),
                )
        service = DiagnosticsService(
            store, keystore, facts, catalogue, EventStoreAuditLog(store), clock=clock, ids=ids
        )
        yield Runtime(settings, store, keystore, read_model, service, feed)
