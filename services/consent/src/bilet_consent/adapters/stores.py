"""Opening what the consent service keeps its data in, as the settings say.

- Events: SQLite under `var/` (embedded) or PostgreSQL schema `bvb_consent`.
- Data keys: the suite's one key store, shared with identity (`bilet.stores.open_key_store`):
  destroying a participant's key here erases what identity sealed too.
- Documents: files under `var/consent-documents/` or the `documents` table of `bvb_consent`.
- The read model of participants' facts: `var/consent-readmodel.sqlite3` or `bvb_consent_rm`.
"""

from bilet import stores
from bilet.crypto import KeyStore
from bilet.eventstore import EventStore
from bilet.projections import ReadModel
from bilet_consent.adapters.documents import DiskDocumentStore, PostgresDocumentStore
from bilet_consent.application.documents import DocumentStore
from bilet_consent.settings import SERVICE_NAME, ConsentSettings


async def open_event_store(settings: ConsentSettings) -> EventStore:
    return await stores.open_event_store(
        settings, SERVICE_NAME, schema=settings.consent_store_schema
    )


async def open_key_store(settings: ConsentSettings) -> KeyStore:
    return await stores.open_key_store(settings)


async def open_read_model(settings: ConsentSettings) -> ReadModel:
    return await stores.open_read_model(settings, SERVICE_NAME)


async def open_document_store(settings: ConsentSettings) -> DocumentStore:
    if settings.document_store_kind == "postgres":
        if settings.database_url is None:
            raise stores.StoreSettingsError("Documents on PostgreSQL need BVB_DATABASE_URL")
        return await PostgresDocumentStore.open(
            settings.database_url, settings.consent_store_schema
        )
    return DiskDocumentStore(settings.documents_dir)
