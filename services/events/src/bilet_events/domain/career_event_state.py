"""The career event's state (stream `career_event-<career event id>`): per session who holds a
seat, who waits in line and whose attendance is recorded, and the fold of its events
(`evolve`). The rules that decide on it are `career_event.py`."""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import assert_never
from uuid import UUID

from bilet.contracts.catalogue.events import (
    BookingCancelled,
    CareerEventAttended,
    CareerEventMissed,
    CareerEventPublished,
    CareerEventRevised,
    CareerEventSession,
    MentorFeedbackGiven,
    SeatBooked,
    WaitlistJoined,
)
from bilet.contracts.catalogue.events import CareerEventCancelled as Cancelled
from bilet.contracts.sealed import Sealed


@dataclass(frozen=True)
class Booking:
    booking_id: UUID
    participant_id: UUID
    session_id: UUID


@dataclass(frozen=True)
class Summary:
    """A participant's accessibility needs sealed with their health key of `key_generation`,
    for the `SeatBooked` that gives them a seat."""

    sealed: Sealed
    key_generation: int


@dataclass(frozen=True)
class Session:
    """One session's seats: who holds one (in booking order), who waits (in line order), and
    whose attendance is recorded."""

    details: CareerEventSession
    booked: tuple[Booking, ...] = ()
    waiting: tuple[Booking, ...] = ()
    recorded: frozenset[UUID] = frozenset()
    # The sealed needs the seats carry, by booking id (only seats with a summary).
    summaries: Mapping[UUID, Summary] = field(default_factory=dict)

    @property
    def seats_left(self) -> int:
        return self.details.capacity - len(self.booked)


@dataclass(frozen=True)
class CareerEvent:
    career_event_id: UUID
    published: CareerEventPublished | None = None
    sessions: dict[UUID, Session] = field(default_factory=dict)
    cancelled: bool = False
    ever_booked: bool = False
    # Bookings marked present (they keep it when released by a cancellation), and those with
    # a mentor's feedback.
    attended: dict[UUID, Booking] = field(default_factory=dict)
    feedback_given: frozenset[UUID] = frozenset()

    def booking(self, booking_id: UUID) -> tuple[Booking, bool] | None:
        """The booking and whether it holds a seat (else it waits in line)."""
        for session in self.sessions.values():
            for held in session.booked:
                if held.booking_id == booking_id:
                    return held, True
            for waits in session.waiting:
                if waits.booking_id == booking_id:
                    return waits, False
        return None

    def of_participant(self, participant_id: UUID) -> Booking | None:
        for session in self.sessions.values():
            for booking in session.booked + session.waiting:
                if booking.participant_id == participant_id:
                    return booking
        return None


def initial(career_event_id: UUID) -> CareerEvent:
    return CareerEvent(career_event_id)


CareerEventEvent = (
    CareerEventPublished
    | CareerEventRevised
    | Cancelled
    | SeatBooked
    | WaitlistJoined
    | BookingCancelled
    | CareerEventAttended
    | CareerEventMissed
    | MentorFeedbackGiven
)


def _with_session(state: CareerEvent, session: Session) -> CareerEvent:
    return replace(state, sessions={**state.sessions, session.details.session_id: session})


def _sessions_of(
    state: CareerEvent, sessions: tuple[CareerEventSession, ...]
) -> dict[UUID, Session]:
    """The stated sessions; a session kept by a revision keeps its seats (none: no bookings)."""
    return {
        s.session_id: replace(state.sessions.get(s.session_id, Session(s)), details=s)
        for s in sessions
    }


def evolve(state: CareerEvent, event: CareerEventEvent) -> CareerEvent:
    match event:
        case CareerEventPublished():
            return replace(state, published=event, sessions=_sessions_of(state, event.sessions))
        case CareerEventRevised():
            details = event.model_dump(exclude={"career_event_id"})
            assert state.published is not None
            revised = state.published.model_copy(update=details)
            return replace(state, published=revised, sessions=_sessions_of(state, event.sessions))
        case Cancelled():
            return replace(state, cancelled=True)
        case SeatBooked():
            session = state.sessions[event.session_id]
            held = Booking(event.booking_id, event.participant_id, event.session_id)
            waiting = tuple(b for b in session.waiting if b.booking_id != event.booking_id)
            booked = replace(session, booked=(*session.booked, held), waiting=waiting)
            if event.accessibility_needs is not None and event.key_generation is not None:
                summary = Summary(event.accessibility_needs, event.key_generation)
                booked = replace(booked, summaries={**session.summaries, held.booking_id: summary})
            return replace(_with_session(state, booked), ever_booked=True)
        case WaitlistJoined():
            session = state.sessions[event.session_id]
            waits = Booking(event.booking_id, event.participant_id, event.session_id)
            return _with_session(state, replace(session, waiting=(*session.waiting, waits)))
        case BookingCancelled():
            found = state.booking(event.booking_id)
            if found is None:
                return state
            session = state.sessions[found[0].session_id]
            return _with_session(
                state,
                replace(
                    session,
                    booked=tuple(b for b in session.booked if b.booking_id != event.booking_id),
                    waiting=tuple(b for b in session.waiting if b.booking_id != event.booking_id),
                ),
            )
        case CareerEventAttended() | CareerEventMissed():
            session = state.sessions[event.session_id]
            recorded = _with_session(
                state, replace(session, recorded=session.recorded | {event.booking_id})
            )
            if isinstance(event, CareerEventMissed):
                return recorded
            present = Booking(event.booking_id, event.participant_id, event.session_id)
            return replace(recorded, attended={**state.attended, event.booking_id: present})
        case MentorFeedbackGiven():
            return replace(state, feedback_given=state.feedback_given | {event.booking_id})
        case _:
            assert_never(event)
