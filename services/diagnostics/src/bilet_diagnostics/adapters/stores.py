"""Opening what the diagnostics service keeps its data in, as the settings say.

- Events: SQLite under `var/` (embedded) or PostgreSQL schema `bvb_diagnostics`.
- Data keys: the suite's one key store (`bilet.stores.open_key_store`): the answers are sealed
  with the participant's key, so destroying it (consent's erasure) erases them here too.
- The read model of identity's and consent's facts: `var/diagnostics-readmodel.sqlite3` or
  `bvb_diagnostics_rm`.
"""

from bilet import stores
from bilet.crypto import KeyStore
from bilet.eventstore import EventStore
from bilet.projections import ReadModel
from bilet_diagnostics.settings import SERVICE_NAME, DiagnosticsSettings


async def open_event_store(settings: DiagnosticsSettings) -> EventStore:
    return await stores.open_event_store(
        settings, SERVICE_NAME, schema=settings.diagnostics_store_schema
    )


async def open_key_store(settings: DiagnosticsSettings) -> KeyStore:
    return await stores.open_key_store(settings)


async def open_read_model(settings: DiagnosticsSettings) -> ReadModel:
    return await stores.open_read_model(settings, SERVICE_NAME)
