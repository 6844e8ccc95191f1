"""What `bvb migrate --service diagnostics` makes (ADR 0057): the event store (with its audit trail)
and the read model of the facts it follows, as the service's settings place them."""

from bilet.migrate import migrate_stores
from bilet_diagnostics.adapters.facts import FACTS_PROJECTION
from bilet_diagnostics.adapters.stores import open_event_store, open_read_model
from bilet_diagnostics.settings import DiagnosticsSettings


async def migrate() -> None:
    settings = DiagnosticsSettings()
    await migrate_stores(
        lambda: open_event_store(settings),
        lambda: open_read_model(settings),
        lambda _: [FACTS_PROJECTION],
    )
