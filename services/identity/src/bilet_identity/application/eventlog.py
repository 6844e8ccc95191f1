"""Identity's events in its store (`bilet.application.EventLog`): published events through
`bilet.contracts`, the internal ones (`bilet_identity.domain.internal`) through their registry;
and how the in-process views catch up with the store."""

from collections.abc import Callable, Collection
from typing import Final

from bilet.application import EventLog
from bilet.application.eventlog import WRITTEN_EVENTS_KEPT
from bilet.eventstore import EventStore
from bilet_identity.domain.internal import (
    INTERNAL_CATEGORIES,
    INTERNAL_EVENTS,
    PURGEABLE_CATEGORIES,
)

# The reservations and profiles are purged on an erasure: told here, not only to the store of
# the process that purges, so that no process keeps what names no participant (a reservation's
# `DuplicateReviewResolved`) where `EventLog.forget` cannot reach it. Its own commits are kept
# for the views' catch-ups, which read them back moments after (`catch_up`, docs/adr/0099).
EVENT_LOG: Final = EventLog(
    INTERNAL_EVENTS,
    INTERNAL_CATEGORIES,
    purged_categories=PURGEABLE_CATEGORIES,
    keep_written=WRITTEN_EVENTS_KEPT,
)

decode_event = EVENT_LOG.decode
CATCH_UP_PAGE: Final = 1000


async def catch_up(
    store: EventStore,
    after: int,
    apply: Callable[[object, int], None],
    *,
    categories: Collection[str] | None = None,
    event_types: Collection[str] | None = None,
) -> int:
    """Apply each event after `after` (decoded, with its position) in global order, a page at a
    time, for the in-process views; the position of the last one applied."""
    while True:
        batch = await store.read_all(
            after, CATCH_UP_PAGE, categories=categories, event_types=event_types
        )
        for record in batch:
            # What this process committed lately comes back as it was committed, undecoded.
            apply(EVENT_LOG.decode_own(record, record.stream_id), record.position)
            after = record.position
        if len(batch) < CATCH_UP_PAGE:
            return after
