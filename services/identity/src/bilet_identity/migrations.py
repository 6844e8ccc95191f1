"""What `bvb migrate --service identity` makes (ADR 0057): the event store (with its audit
trail) and the read model of consent's facts, as the service's settings place them."""

from bilet.audit import EventStoreAuditLog
from bilet.migrate import migrate_stores
from bilet_identity.adapters.stores import open_event_store, open_read_model
from bilet_identity.application.consent_feed import ConsentFeedProjection
from bilet_identity.application.erasures import ReservationRelease
from bilet_identity.settings import IdentitySettings


async def migrate() -> None:
    settings = IdentitySettings()
    await migrate_stores(
        lambda: open_event_store(settings),
        lambda: open_read_model(settings),
        lambda store: [ConsentFeedProjection(ReservationRelease(store, EventStoreAuditLog(store)))],
    )
