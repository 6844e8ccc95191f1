"""What the career events use cases take and answer."""

from dataclasses import dataclass
from uuid import UUID

from bilet.application import Outcome, RequestContext

# Who asks, the correlation id of their request, and the position tokens it carried.
CommandContext = RequestContext


@dataclass(frozen=True)
class Committed:
    """A command's answer: what it is about and the read-your-writes position."""

    id: UUID
    position: int

    @classmethod
    def of(cls, outcome: Outcome[object], id: UUID) -> "Committed":
        return cls(id, outcome.position)


@dataclass(frozen=True)
class BookingAnswer:
    """A booking: a seat (`waitlist_position` None) or a place in the session's line."""

    booking_id: UUID
    waitlist_position: int | None
    position: int

    @property
    def booked(self) -> bool:
        return self.waitlist_position is None
