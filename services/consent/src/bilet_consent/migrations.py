"""What `bvb migrate --service consent` makes (ADR 0057): the event store, the participant
facts read model and the documents table, as the service's settings place them."""

from bilet.migrate import migrate_stores
from bilet_consent.adapters.stores import open_document_store, open_event_store, open_read_model
from bilet_consent.application.participants import ParticipantFactsProjection
from bilet_consent.settings import ConsentSettings


async def migrate() -> None:
    settings = ConsentSettings()
    await migrate_stores(
        lambda: open_event_store(settings),
        lambda: open_read_model(settings),
        lambda _: [ParticipantFactsProjection()],
        lambda: open_document_store(settings),
    )
