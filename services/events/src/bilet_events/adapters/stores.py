"""Opening what the career events service keeps its data in, as the settings say.

- Events: SQLite under `var/` (embedded) or PostgreSQL schema `bvb_events`.
- Data keys: the suite's one key store (`bilet.stores.open_key_store`): a mentor's comment is
  sealed with the participant's key and the accessibility summary with the health key, so
  destroying them (consent's erasure, a health withdrawal) erases them here too.
- The read model of identity's and consent's facts and of the catalogue:
  `var/events-readmodel.sqlite3` or `bvb_events_rm`.
"""

from bilet import stores
from bilet.crypto import KeyStore
from bilet.eventstore import EventStore
from bilet.projections import ReadModel
from bilet_events.settings import SERVICE_NAME, EventsSettings


async def open_event_store(settings: EventsSettings) -> EventStore:
    return await stores.open_event_store(
        settings, SERVICE_NAME, schema=settings.events_store_schema
    )


async def open_key_store(settings: EventsSettings) -> KeyStore:
    return await stores.open_key_store(settings)


async def open_read_model(settings: EventsSettings) -> ReadModel:
    return await stores.open_read_model(settings, SERVICE_NAME)
