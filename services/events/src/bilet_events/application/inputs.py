"""What the career events use cases take and answer."""

from dataclasses import dataclass
from uuid import UUID

from bilet.application import Outcome, RequestContext
from bilet.contracts.catalogue.events import InterestShown, SkillShown, TaskCompletion
from bilet.contracts.vocabulary import Environment

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
    """A booking: a seat (`waitlist_position` None) or a place in the session's line.
    `accessibility_checked` is False when the pupil's accessibility needs could not be
    considered: no consent in force covers `health_data`, so the service acted as if there were
    none (the venue prepares nothing particular for them)."""

    booking_id: UUID
    waitlist_position: int | None
    position: int
    accessibility_checked: bool

    @property
    def booked(self) -> bool:
        return self.waitlist_position is None


@dataclass(frozen=True)
class AttendanceRecord:
    """One booking of a session: present (`attended`) or a no-show."""

    booking_id: UUID
    attended: bool


@dataclass(frozen=True)
class FeedbackInput:
    """A mentor's rubric for an attended booking; `comment` in the clear here, sealed with the
    participant's key before it is stored."""

    feedback_id: UUID
    booking_id: UUID
    task_completion: TaskCompletion
    skills_shown: tuple[SkillShown, ...]
    interest_shown: InterestShown
    suggested_environments: tuple[Environment, ...]
    comment: str | None = None
