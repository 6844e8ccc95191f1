"""The career event (stream `career_event-<career event id>`, published): its catalogue entry,
and per session the seats and the waitlist.

A session books while seats are left; then a participant joins its line (`WaitlistJoined` with
the place). A released seat goes, in the same decision, to the first participant in the line the
caller found still able to take it (`SeatBooked`, route `promoted_from_waitlist`, with the
booking id of their `WaitlistJoined`). Details are revised only before the first booking; a
cancelled career event releases every seat and place in line.

A participant whose accessibility needs (as the caller could open them) the career event does not
accommodate is refused, seat or line alike; a seat carries their needs only sealed with their
health key (`Summary`), as the caller prepared it. A mentor gives feedback once per attended
booking.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
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
    InterestShown,
    MentorFeedbackGiven,
    SeatBooked,
    SkillShown,
    TaskCompletion,
    WaitlistJoined,
)
from bilet.contracts.catalogue.events import CareerEventCancelled as Cancelled
from bilet.contracts.sealed import Sealed
from bilet.contracts.vocabulary import AccessibilityNeed, Environment
from bilet_events.domain import errors
from bilet_events.domain.career_event_state import (
    Booking,
    CareerEvent,
    CareerEventEvent,
    Session,
    Summary,
    evolve,
    initial,
)

CATEGORY: Final = CareerEventPublished.stream_category

__all__ = [
    "Book",
    "Booking",
    "Cancel",
    "CancelBooking",
    "CareerEvent",
    "CareerEventEvent",
    "Command",
    "GiveFeedback",
    "Publish",
    "RecordAttendance",
    "Revise",
    "Session",
    "Summary",
    "check_suits",
    "decide",
    "evolve",
    "initial",
    "stream_id",
]


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
    """A participant's request for a seat; `region_id` and `grade` are theirs today, `needs`
    their accessibility needs as the caller could open them (empty: none known), `summary` the
    same sealed for the seat (None: the seat carries none)."""

    session_id: UUID
    booking_id: UUID
    participant_id: UUID
    region_id: UUID
    grade: int
    now: datetime
    needs: frozenset[AccessibilityNeed] = frozenset()
    summary: Summary | None = None


@dataclass(frozen=True)
class CancelBooking:
    """Give up a seat or a place in line, up to `notice` before the session starts. A released
    seat goes to the first waiting booking in `promotable` (those the caller found able to
    take it: within their season's maximum, not overlapping, accommodated), with the summary of
    needs its seat carries."""

    booking_id: UUID
    now: datetime
    notice: timedelta = timedelta(0)
    promotable: Mapping[UUID, Summary | None] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordAttendance:
    session_id: UUID
    booking_id: UUID
    attended: bool
    now: datetime


@dataclass(frozen=True)
class GiveFeedback:
    """A mentor's rubric for an attended booking; `comment` sealed with the participant's key
    by the caller (who learns the participant from the state)."""

    feedback_id: UUID
    booking_id: UUID
    mentor_id: UUID
    task_completion: TaskCompletion
    skills_shown: tuple[SkillShown, ...]
    interest_shown: InterestShown
    suggested_environments: tuple[Environment, ...]
    comment: Sealed | None


Command = Publish | Revise | Cancel | Book | CancelBooking | RecordAttendance | GiveFeedback


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
        case GiveFeedback():
            return [_feedback(command, state)]
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


def check_suits(
    published: CareerEventPublished,
    region_id: UUID,
    grade: int,
    needs: frozenset[AccessibilityNeed],
) -> None:
    """Refuse a participant the career event is not for (region, grade) or cannot accommodate
    (raises): for a booking, and for a waiting participant before a released seat goes to
    them."""
    if region_id != published.region_id:
        raise errors.NotEligible("it is offered in another region")
    grades = published.eligible_grades
    if not grades.lowest <= grade <= grades.highest:
        raise errors.NotEligible(f"it is for grades {grades.lowest}–{grades.highest}")
    if missing := needs - set(published.accommodates):
        raise errors.NotAccessible(tuple(sorted(need.value for need in missing)))


def _book(command: Book, state: CareerEvent) -> SeatBooked | WaitlistJoined:
    published = _open(state)
    session = _session(state, command.session_id)
    if command.now >= session.details.starts_at:
        raise errors.BookingClosed(session.details.starts_at)
    check_suits(published, command.region_id, command.grade, command.needs)
    existing = state.of_participant(command.participant_id)
    if existing is not None:
        raise errors.AlreadyBooked(existing.booking_id)
    if session.seats_left > 0:
        return _seat(
            state,
            Booking(command.booking_id, command.participant_id, command.session_id),
            BookingRoute.BOOKED,
            command.summary,
        )
    return WaitlistJoined(
        career_event_id=state.career_event_id,
        session_id=command.session_id,
        booking_id=command.booking_id,
        participant_id=command.participant_id,
        season=published.season,
        position=len(session.waiting) + 1,
    )


def _seat(
    state: CareerEvent, booking: Booking, route: BookingRoute, summary: Summary | None
) -> SeatBooked:
    assert state.published is not None
    return SeatBooked(
        career_event_id=state.career_event_id,
        session_id=booking.session_id,
        booking_id=booking.booking_id,
        participant_id=booking.participant_id,
        season=state.published.season,
        route=route,
        accessibility_needs=None if summary is None else summary.sealed,
        key_generation=None if summary is None else summary.key_generation,
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
    _open(state)
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
            summary = command.promotable[first.booking_id]
            decided.append(_seat(state, first, BookingRoute.PROMOTED_FROM_WAITLIST, summary))
    return decided


def _attendance(
    command: RecordAttendance, state: CareerEvent
) -> CareerEventAttended | CareerEventMissed:
    _open(state)
    session = _session(state, command.session_id)
    found = state.booking(command.booking_id)
    if found is None or not found[1] or found[0].session_id != command.session_id:
        raise errors.UnknownBooking()
    booking = found[0]
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


def _feedback(command: GiveFeedback, state: CareerEvent) -> MentorFeedbackGiven:
    """Feedback on an attended booking, once; a cancelled career event's attended bookings
    still get theirs (the session took place)."""
    if state.published is None:
        raise errors.UnknownCareerEvent()
    booking = state.attended.get(command.booking_id)
    if booking is None:
        if state.booking(command.booking_id) is None:
            raise errors.UnknownBooking()
        raise errors.NotAttended()
    if command.booking_id in state.feedback_given:
        raise errors.FeedbackGiven()
    return MentorFeedbackGiven(
        career_event_id=state.career_event_id,
        feedback_id=command.feedback_id,
        booking_id=booking.booking_id,
        participant_id=booking.participant_id,
        mentor_id=command.mentor_id,
        task_completion=command.task_completion,
        skills_shown=command.skills_shown,
        interest_shown=command.interest_shown,
        suggested_environments=command.suggested_environments,
        comment=command.comment,
    )
