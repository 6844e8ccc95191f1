"""What `bvb migrate --service events` makes (ADR 0057): the event store (with its audit trail)
and the read model of the facts it follows, as the service's settings place them."""

from bilet.migrate import migrate_stores
from bilet_events.adapters.facts import FACTS_PROJECTION
from bilet_events.adapters.stores import open_event_store, open_read_model
from bilet_events.settings import EventsSettings


async def migrate() -> None:
    settings = EventsSettings()
    await migrate_stores(
        lambda: open_event_store(settings),
        lambda: open_read_model(settings),
        lambda _: [FACTS_PROJECTION],
    )
