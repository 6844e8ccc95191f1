"""Everything the consent service's processes open, in one place: the HTTP app's lifespan and the
`bvb consent` command line build the same service from the same settings."""

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from bilet import stores
from bilet.application import Ids, random_ids
from bilet.audit import EventStoreAuditLog
from bilet.contracts import CATALOGUE
from bilet.crypto import KeyStore
from bilet.eventstore import EventStore
from bilet.projections import EmbeddedFeed, ReadModel
from bilet.sandbox import Sandbox
from bilet_consent.adapters.disarm import SandboxedDisarmer
from bilet_consent.adapters.stores import (
    open_document_store,
    open_event_store,
    open_key_store,
    open_read_model,
)
from bilet_consent.application.documents import DocumentStore
from bilet_consent.application.participants import (
    CONSENT,
    IDENTITY,
    ParticipantDirectory,
    ParticipantFactsProjection,
)
from bilet_consent.application.service import ConsentService
from bilet_consent.settings import ConsentSettings

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    settings: ConsentSettings
    store: EventStore
    keystore: KeyStore
    documents: DocumentStore
    read_model: ReadModel
    service: ConsentService
    feed: EmbeddedFeed | None


@contextlib.asynccontextmanager
async def open_runtime(
    settings: ConsentSettings,
    clock: Clock = utc_now,
    *,
    ids: Ids = random_ids,
    store: EventStore | None = None,
) -> AsyncIterator[Runtime]:
    """Open the stores, build the service, and (embedded) the feed of the read model from
    identity's store and the service's own; closed in reverse on exit. `store` given (the
    season simulator's unit of work): the service's own event store, the caller's to close."""
    async with contextlib.AsyncExitStack() as stack:
        if store is None:
            store = await open_event_store(settings)
            stack.push_async_callback(store.close)
        keystore = await open_key_store(settings)
        stack.push_async_callback(keystore.close)
        documents = await open_document_store(settings)
        stack.push_async_callback(documents.close)
        read_model = await open_read_model(settings)
        stack.push_async_callback(read_model.close)
        directory = ParticipantDirectory(read_model)
        service = ConsentService(
            store,
            keystore,
            documents,
            directory,
            EventStoreAuditLog(store),
            disarmer=SandboxedDisarmer(Sandbox(settings.sandbox_limits), settings.disarm_limits),
            clock=clock,
            ids=ids,
            erasure_days=settings.consent_erasure_days,
            max_document_bytes=settings.consent_max_document_bytes,
            operator=settings.consent_operator,
        )
        feed: EmbeddedFeed | None = None
        if settings.consent_embedded_feed:
            sources = await stores.open_source_stores(settings, [IDENTITY])
            for source in sources.values():
                stack.push_async_callback(source.close)
            # Published types only, as on Kafka: identity's reservation streams never reach
            # this read model, not even as stream ids.
            feed = EmbeddedFeed(
                read_model,
                ParticipantFactsProjection(),
                {**sources, CONSENT: store},
                event_types=CATALOGUE.event_types(),
            )
        yield Runtime(settings, store, keystore, documents, read_model, service, feed)
