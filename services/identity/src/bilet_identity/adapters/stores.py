"""Opening what the identity service keeps its data in, as the settings say.

- Events: SQLite under `var/` (embedded, the default) or PostgreSQL schema `bvb_identity` when
  `BVB_EVENT_STORE=postgres` and `BVB_DATABASE_URL` is set.
- Read model: the checkpoints of the feed of consent's erasures (`bilet.stores.open_read_model`).
- Data keys: the suite's one key store (`bilet.stores.open_key_store`).
- The pseudonym key of the keyed hashes: kept by the key store (`adapters.pseudonym_key`).
"""

from bilet import stores
from bilet.crypto import KeyStore
from bilet.eventstore import EventStore
from bilet.projections import ReadModel
from bilet_identity.settings import SERVICE_NAME, IdentitySettings


async def open_event_store(settings: IdentitySettings) -> EventStore:
    return await stores.open_event_store(
        settings, SERVICE_NAME, schema=settings.identity_store_schema
    )


async def open_read_model(settings: IdentitySettings) -> ReadModel:
    """The service's read model: the checkpoints of its feed of consent's erasures."""
    return await stores.open_read_model(settings, SERVICE_NAME)


async def open_key_store(settings: IdentitySettings) -> KeyStore:
    """The suite's one key store: erasing a participant (the consent service) must reach the
    keys identity sealed their fields with."""
    return await stores.open_key_store(settings)
