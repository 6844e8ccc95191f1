"""The career event (stream `career_event-<career event id>`, published): its catalogue entry,
and per session the seats and the waitlist.

A session books while seats are left; then a participant joins its line (`WaitlistJoined` with
the place). A released seat goes, in the same decision, to the first participant in the line the
caller found still able to take it (`SeatBooked`, route `promoted_from_waitlist`, with the
booking id of their `WaitlistJoined`). Details are revised only before the first booking; a
cancelled career event releases every seat and place in line.
"""

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Final, assert_never
from uuid import UUID

from bilet.contracts.catalogue.events import (
    BookingCancellationReason,
    BookingCancelled,
    BookingRoute,
    CareerEventAttended,
    CareerEventCancellationReason,
    CareerEventMissed,
    CareerEventPublished,
    CareerEventRevised,
    CareerEventSession,
    SeatBooked,
    WaitlistJoined,
)
from bilet.contracts.catalogue.events import CareerEventCancelled as Cancelled
from bilet_events.domain import errors

CATEGORY: Final = CareerEventPublished.stream_category


@dataclass(frozen=True)
class Booking:
    booking_id: UUID
    participant_id: UUID
    session_id: UUID


@dataclass(frozen=True)
class Session:
    """One session's seats: who holds one (in booking order), who waits (in line order), and
    whose attendance is recorded."""

    details: CareerEventSession
    booked: tuple[Booking, ...] = ()
    waiting: tuple[Booking, ...] = ()
    recorded: frozenset[UUID] = frozenset()

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


def stream_id(career_event_id: UUID) -> str:
    return f"{CATEGORY}-{career_event_id}"


@dataclass(frozen=True)
class Publish:
    event: CareerEventPublished


@dataclass(frozen=True)
class Revise:
    event: CareerEventRevised


@dataclass(frozen=True)
class Cancel:
    reason: CareerEventCancellationReason


@dataclass(frozen=True)
class Book:
    """A participant's request for a seat; `region_id` and `grade` are theirs today."""

    session_id: UUID
    booking_id: UUID
    participant_id: UUID
    region_id: UUID
    grade: int
    now: datetime


@dataclass(frozen=True)
class CancelBooking:
    """Give up a seat or a place in line, up to `notice` before the session starts. A released
    seat goes to the first waiting booking in `promotable` (those the caller found able to
    take it: within their season's maximum, not overlapping)."""

    booking_id: UUID
    now: datetime
    notice: timedelta = timedelta(0)
    promotable: Collection[UUID] = ()


@dataclass(frozen=True)
class RecordAttendance:
    booking_id: UUID
    attended: bool
    now: datetime


Command = Publish | Revise | Cancel | Book | CancelBooking | RecordAttendance
CareerEventEvent = (
    CareerEventPublished
    | CareerEventRevised
    | Cancelled
    | SeatBooked
    | WaitlistJoined
    | BookingCancelled
    | CareerEventAttended
    | CareerEventMissed
)


def decide(command: Command, state: CareerEvent) -> list[CareerEventEvent]:
    match command:
        case Publish():
            if state.published is not None:
                raise errors.CareerEventExists()
            return [command.event]
        case Revise():
            _open(state)
            if state.ever_booked:
                raise errors.BookingsExist()
            return [command.event]
        case Cancel():
            _open(state)
            return [
                Cancelled(career_event_id=state.career_event_id, reason=command.reason),
                *(
                    _released(state, booking, BookingCancellationReason.CAREER_EVENT_CANCELLED)
                    for session in state.sessions.values()
                    for booking in session.booked + session.waiting
                ),
            ]
        case Book():
            return [_book(command, state)]
        case CancelBooking():
            return _cancel_booking(command, state)
        case RecordAttendance():
            return [_attendance(command, state)]
        case _:
            assert_never(command)


def _open(state: CareerEvent) -> CareerEventPublished:
    if state.published is None:
        raise errors.UnknownCareerEvent()
    if state.cancelled:
        raise errors.CareerEventCancelled()
    return state.published


def _session(state: CareerEvent, session_id: UUID) -> Session:
    session = state.sessions.get(session_id)
    if session is None:
        raise errors.UnknownSession(session_id)
    return session


def _book(command: Book, state: CareerEvent) -> SeatBooked | WaitlistJoined:
    published = _open(state)
    session = _session(state, command.session_id)
    if command.now >= session.details.starts_at:
        raise errors.BookingClosed(session.details.starts_at)
    if command.region_id != published.region_id:
        raise errors.NotEligible("it is offered in another region")
    grades = published.eligible_grades
    if not grades.lowest <= command.grade <= grades.highest:
        raise errors.NotEligible(f"it is for grades {grades.lowest}–{grades.highest}")
    existing = state.of_participant(command.participant_id)
    if existing is not None:
        raise errors.AlreadyBooked(existing.booking_id)
    if session.seats_left > 0:
        return SeatBooked(
            career_event_id=state.career_event_id,
            session_id=command.session_id,
            booking_id=command.booking_id,
            participant_id=command.participant_id,
            season=published.season,
            route=BookingRoute.BOOKED,
        )
    return WaitlistJoined(
        career_event_id=state.career_event_id,
        session_id=command.session_id,
        booking_id=command.booking_id,
        participant_id=command.participant_id,
        season=published.season,
        position=len(session.waiting) + 1,
    )


def _released(
    state: CareerEvent, booking: Booking, reason: BookingCancellationReason
) -> BookingCancelled:
    return BookingCancelled(
        career_event_id=state.career_event_id,
        booking_id=booking.booking_id,
        participant_id=booking.participant_id,
        reason=reason,
    )


def _cancel_booking(command: CancelBooking, state: CareerEvent) -> list[CareerEventEvent]:
    published = _open(state)
    found = state.booking(command.booking_id)
    if found is None:
        raise errors.UnknownBooking()
    booking, holds_seat = found
    session = state.sessions[booking.session_id]
    closes_at = session.details.starts_at - command.notice
    if command.now >= closes_at:
        raise errors.BookingClosed(closes_at)
    decided: list[CareerEventEvent] = [
        _released(state, booking, BookingCancellationReason.PARTICIPANT_CANCELLED)
    ]
    if holds_seat:
        first = next((b for b in session.waiting if b.booking_id in command.promotable), None)
        if first is not None:
            decided.append(
                SeatBooked(
                    career_event_id=state.career_event_id,
                    session_id=first.session_id,
                    booking_id=first.booking_id,
                    participant_id=first.participant_id,
                    season=published.season,
                    route=BookingRoute.PROMOTED_FROM_WAITLIST,
                )
            )
    return decided


def _attendance(
    command: RecordAttendance, state: CareerEvent
) -> CareerEventAttended | CareerEventMissed:
    _open(state)
    found = state.booking(command.booking_id)
    if found is None or not found[1]:
        raise errors.UnknownBooking()
    booking = found[0]
    session = state.sessions[booking.session_id]
    if command.now < session.details.starts_at:
        raise errors.SessionNotStarted(session.details.starts_at)
    if booking.booking_id in session.recorded:
        raise errors.AttendanceRecorded()
    fact = CareerEventAttended if command.attended else CareerEventMissed
    return fact(
        career_event_id=state.career_event_id,
        session_id=booking.session_id,
        booking_id=booking.booking_id,
        participant_id=booking.participant_id,
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
            recorded = replace(session, recorded=session.recorded | {event.booking_id})
            return _with_session(state, recorded)
        case _:
            assert_never(event)
