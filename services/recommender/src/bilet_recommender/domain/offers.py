"""What the recommender may offer a pupil: one shape (`Offer`) for an upcoming career event from
`bilet.events` and for a course or club a coordinator registered, and the catalogue of them as of
a moment (`Opportunities`), which `recommend` filters and ranks.

The career events part is a fold of the events service's facts per career event (`CareerEvent`):
its stated details, its sessions and the seats booked on each. A session is open while it has not
started and has a free seat; a career event is offered while one of its sessions is open.
"""

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, assert_never
from uuid import UUID

from bilet.contracts.catalogue.events import (
    BookingCancelled,
    CareerEventCancelled,
    CareerEventPublished,
    CareerEventRevised,
    SeatBooked,
)
from bilet.contracts.catalogue.recommender import OpportunityKind
from bilet.contracts.vocabulary import AccessibilityNeed, Environment


@dataclass(frozen=True)
class Offer:
    """An opportunity as the recommender filters and ranks it. `seats`: free places (None: no
    limit); `starts`/`ends`: the days it runs (a career event: its next open session's day)."""

    kind: OpportunityKind
    opportunity_id: UUID
    title: str
    region_id: UUID
    municipality: str
    environments: tuple[Environment, ...]
    lowest_grade: int
    highest_grade: int
    accommodates: frozenset[AccessibilityNeed]
    seats: int | None
    starts: date
    ends: date


@dataclass(frozen=True)
class Opportunities:
    """The catalogue as of `as_of`: the offers, and the environments of every career event known
    (past ones too: attending one is evidence for its environments). `as_of` is also the moment
    consents and dates are judged at, so the same catalogue always gives the same
    recommendations."""

    as_of: datetime
    offers: tuple[Offer, ...]
    environments_of: tuple[tuple[UUID, tuple[Environment, ...]], ...] = ()


@dataclass(frozen=True)
class Session:
    session_id: UUID
    starts_at: datetime
    capacity: int
    booked: frozenset[UUID] = frozenset()

    def open_at(self, as_of: datetime) -> bool:
        return self.starts_at > as_of and len(self.booked) < self.capacity


@dataclass(frozen=True)
class CareerEvent:
    """A career event as the recommender keeps it: public details and seats, no participant."""

    career_event_id: UUID
    region_id: UUID
    title: str
    municipality: str
    environments: tuple[Environment, ...]
    lowest_grade: int
    highest_grade: int
    accommodates: frozenset[AccessibilityNeed]
    sessions: tuple[Session, ...]
    cancelled: bool = False


CareerEventFact = (
    CareerEventPublished | CareerEventRevised | CareerEventCancelled | SeatBooked | BookingCancelled
)


def _sessions(
    event: CareerEventPublished | CareerEventRevised, kept: tuple[Session, ...]
) -> tuple[Session, ...]:
    booked = {session.session_id: session.booked for session in kept}
    return tuple(
        Session(s.session_id, s.starts_at, s.capacity, booked.get(s.session_id, frozenset()))
        for s in event.sessions
    )


def _stated(event: CareerEventPublished | CareerEventRevised) -> dict[str, Any]:
    """What the organiser states (and may revise) that an offer shows or is filtered by."""
    return {
        "title": event.title,
        "municipality": event.municipality,
        "environments": event.environments,
        "lowest_grade": event.eligible_grades.lowest,
        "highest_grade": event.eligible_grades.highest,
        "accommodates": frozenset(event.accommodates),
    }


def evolve_career_event(state: CareerEvent | None, event: CareerEventFact) -> CareerEvent | None:
    """The career event after `event`; None until it is published (a fact about an unknown one is
    left aside: the events service publishes before it books)."""
    match event:
        case CareerEventPublished():
            return CareerEvent(
                career_event_id=event.career_event_id,
                region_id=event.region_id,
                sessions=_sessions(event, ()),
                **_stated(event),
            )
        case CareerEventRevised():
            if state is None:
                return None
            return replace(state, sessions=_sessions(event, state.sessions), **_stated(event))
        case CareerEventCancelled():
            return None if state is None else replace(state, cancelled=True)
        case SeatBooked():
            return _rebook(state, event.booking_id, event.session_id)
        case BookingCancelled():
            return _rebook(state, event.booking_id, None)
        case _:
            assert_never(event)


def _rebook(state: CareerEvent | None, booking_id: UUID, to: UUID | None) -> CareerEvent | None:
    """`booking_id` holds a seat of session `to` (None: of no session) from now on."""
    if state is None:
        return None
    sessions = tuple(
        replace(
            s,
            booked=s.booked | {booking_id} if s.session_id == to else s.booked - {booking_id},
        )
        for s in state.sessions
    )
    return replace(state, sessions=sessions)


def career_event_offer(state: CareerEvent, as_of: datetime) -> Offer | None:
    """The career event as an offer at `as_of`: its earliest open session; None when cancelled or
    no session is open."""
    open_sessions = sorted(
        (s for s in state.sessions if s.open_at(as_of)), key=lambda s: (s.starts_at, s.session_id)
    )
    if state.cancelled or not open_sessions:
        return None
    first = open_sessions[0]
    return Offer(
        kind=OpportunityKind.CAREER_EVENT,
        opportunity_id=state.career_event_id,
        title=state.title,
        region_id=state.region_id,
        municipality=state.municipality,
        environments=state.environments,
        lowest_grade=state.lowest_grade,
        highest_grade=state.highest_grade,
        accommodates=state.accommodates,
        seats=first.capacity - len(first.booked),
        starts=first.starts_at.date(),
        ends=first.starts_at.date(),
    )
