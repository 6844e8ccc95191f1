"""Events that stay inside the career events service: never relayed, never published.

- `careerbookings-<participant id>`: the participant's seats, season by season (the aggregate
  `pupil_bookings`). A seat is held here in the same commit as its `SeatBooked`, each stream at
  the version it was read at, so the season's maximum and no-overlap hold under any concurrency
  without a lock outside the store (docs/adr/0030);
- `audit-…`: `bilet.audit`'s trail, in the same store.
"""

from typing import ClassVar, Final
from uuid import UUID

from pydantic import AwareDatetime

from bilet.contracts import DomainEvent
from bilet.contracts.registry import EventRegistry
from bilet.contracts.vocabulary import Season

BOOKINGS_CATEGORY: Final = "careerbookings"
AUDIT_CATEGORY: Final = "audit"
INTERNAL_CATEGORIES: Final = frozenset({BOOKINGS_CATEGORY, AUDIT_CATEGORY})

INTERNAL_EVENTS: Final = EventRegistry()


class _Bookings(DomainEvent):
    service: ClassVar[str] = "events"
    stream_category: ClassVar[str] = BOOKINGS_CATEGORY
    stream_key: ClassVar[str] = "participant_id"


@INTERNAL_EVENTS.register
class SeatHeld(_Bookings):
    """The participant holds a seat of a session: it counts against the season's maximum and
    blocks that time until it is released (attended seats keep counting)."""

    event_type: ClassVar[str] = "SeatHeld"

    participant_id: UUID
    booking_id: UUID
    career_event_id: UUID
    session_id: UUID
    season: Season
    starts_at: AwareDatetime
    ends_at: AwareDatetime


@INTERNAL_EVENTS.register
class SeatReleased(_Bookings):
    """The seat was given up (its booking cancelled): it counts no more."""

    event_type: ClassVar[str] = "SeatReleased"

    participant_id: UUID
    booking_id: UUID
