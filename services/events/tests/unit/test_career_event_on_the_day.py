"""The career event's decider, the rules of issue 14's second round, given events / when a
command / then events (or the refusal): accessibility (`not_accessible`, the sealed summary a
seat carries, also when promoted), attendance of a named session, and mentor feedback (only for
an attended booking, once)."""

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from bilet.contracts.catalogue.events import (
    BookingCancellationReason,
    BookingCancelled,
    BookingRoute,
    CareerEventAttended,
    CareerEventCancellationReason,
    CareerEventMissed,
    InterestShown,
    MentorFeedbackGiven,
    SeatBooked,
    SkillShown,
    TaskCompletion,
    WaitlistJoined,
)
from bilet.contracts.catalogue.events import CareerEventCancelled as Cancelled
from bilet.contracts.examples import sealed
from bilet.contracts.sealed import SealedValue
from bilet.contracts.vocabulary import AccessibilityNeed, Environment, Level
from bilet_events.domain import career_event
from bilet_events.domain.career_event import (
    Book,
    CancelBooking,
    CareerEvent,
    CareerEventEvent,
    Command,
    GiveFeedback,
    RecordAttendance,
    Summary,
)
from bilet_events.domain.errors import (
    FeedbackGiven,
    NotAccessible,
    NotAttended,
    UnknownBooking,
    UnknownSession,
)
from bilet_events.testing import MENTOR, REGION
from bilet_events.testing import career_event as published_event

EVENT = UUID("c0ffee00-0000-4000-8000-000000000002")
STARTS = datetime(2019, 11, 20, 10, tzinfo=UTC)
BEFORE = STARTS - timedelta(days=3)
STEP_FREE = AccessibilityNeed.STEP_FREE_ACCESS
QUIET = AccessibilityNeed.QUIET_SPACE
SIGN = AccessibilityNeed.SIGN_LANGUAGE_INTERPRETER
# Step-free and a quiet room, one seat in each of two sessions.
PUBLISHED = published_event(EVENT, STARTS, capacity=1, sessions=2).model_copy(
    update={"accommodates": (STEP_FREE, QUIET)}
)
SESSION, OTHER_SESSION = (s.session_id for s in PUBLISHED.sessions)
PUPILS = [UUID(int=n + 1) for n in range(4)]
B = [UUID(int=200 + n) for n in range(4)]
SUMMARY = Summary(SealedValue.model_validate(sealed("needs")), 2)


def given(*events: CareerEventEvent) -> CareerEvent:
    state = career_event.initial(EVENT)
    for event in events:
        state = career_event.evolve(state, event)
    return state


def when(command: Command, *history: CareerEventEvent) -> list[CareerEventEvent]:
    return career_event.decide(command, given(*history))


def book(
    n: int, needs: frozenset[AccessibilityNeed] = frozenset(), summary: Summary | None = None
) -> Book:
    return Book(SESSION, B[n], PUPILS[n], REGION, 8, BEFORE, needs, summary)


def seat(
    n: int, summary: Summary | None = None, route: BookingRoute = BookingRoute.BOOKED
) -> SeatBooked:
    return SeatBooked(
        career_event_id=EVENT,
        session_id=SESSION,
        booking_id=B[n],
        participant_id=PUPILS[n],
        season=2019,
        route=route,
        accessibility_needs=None if summary is None else summary.sealed,
        key_generation=None if summary is None else summary.key_generation,
    )


def line(n: int, position: int) -> WaitlistJoined:
    return WaitlistJoined(
        career_event_id=EVENT,
        session_id=SESSION,
        booking_id=B[n],
        participant_id=PUPILS[n],
        season=2019,
        position=position,
    )


def attended(n: int) -> CareerEventAttended:
    return CareerEventAttended(
        career_event_id=EVENT, session_id=SESSION, booking_id=B[n], participant_id=PUPILS[n]
    )


def feedback(n: int) -> GiveFeedback:
    return GiveFeedback(
        feedback_id=UUID(int=300 + n),
        booking_id=B[n],
        mentor_id=MENTOR,
        task_completion=TaskCompletion.COMPLETED,
        skills_shown=(SkillShown(skill="teamwork", level=Level.BASIC),),
        interest_shown=InterestShown.HIGH,
        suggested_environments=(Environment.AGRARIAN,),
        comment=None,
    )


# ---------------------------------------------------------------------- accessibility
def test_needs_the_career_event_accommodates_take_a_seat_carrying_the_summary() -> None:
    assert when(book(0, frozenset({STEP_FREE, QUIET}), SUMMARY), PUBLISHED) == [seat(0, SUMMARY)]
    assert given(PUBLISHED, seat(0, SUMMARY)).sessions[SESSION].summaries == {B[0]: SUMMARY}


def test_needs_it_does_not_accommodate_are_refused_naming_the_missing_ones() -> None:
    with pytest.raises(NotAccessible) as refused:
        when(book(0, frozenset({STEP_FREE, SIGN})), PUBLISHED)
    assert refused.value.details == {"missing": [SIGN.value]}
    assert refused.value.without_details().details == {}


def test_needs_not_accommodated_are_refused_a_place_in_line_too() -> None:
    with pytest.raises(NotAccessible):
        when(book(1, frozenset({SIGN})), PUBLISHED, seat(0))


def test_a_promoted_seat_carries_the_summary_the_caller_prepared() -> None:
    history = (PUBLISHED, seat(0), line(1, 1), line(2, 2))
    cancel = CancelBooking(B[0], BEFORE, promotable={B[2]: SUMMARY})
    decided = when(cancel, *history)
    assert decided[1] == seat(2, SUMMARY, BookingRoute.PROMOTED_FROM_WAITLIST)
    after = given(*history, *decided).sessions[SESSION]
    assert [b.booking_id for b in after.waiting] == [B[1]]  # skipped, still waiting


# ---------------------------------------------------------------------- attendance
def test_attendance_names_the_session_of_the_booking() -> None:
    on_the_day = STARTS + timedelta(minutes=5)
    with pytest.raises(UnknownBooking):
        when(RecordAttendance(OTHER_SESSION, B[0], True, on_the_day), PUBLISHED, seat(0))
    with pytest.raises(UnknownSession):
        when(RecordAttendance(uuid4(), B[0], True, on_the_day), PUBLISHED, seat(0))
    [present] = when(RecordAttendance(SESSION, B[0], True, on_the_day), PUBLISHED, seat(0))
    assert present == attended(0)


# ---------------------------------------------------------------------- feedback
def test_feedback_for_an_attended_booking_once() -> None:
    history = (PUBLISHED, seat(0), attended(0))
    [given_] = when(feedback(0), *history)
    assert given_ == MentorFeedbackGiven(
        career_event_id=EVENT,
        feedback_id=UUID(int=300),
        booking_id=B[0],
        participant_id=PUPILS[0],
        mentor_id=MENTOR,
        task_completion=TaskCompletion.COMPLETED,
        skills_shown=(SkillShown(skill="teamwork", level=Level.BASIC),),
        interest_shown=InterestShown.HIGH,
        suggested_environments=(Environment.AGRARIAN,),
        comment=None,
    )
    with pytest.raises(FeedbackGiven):
        when(feedback(0), *history, given_)


def test_feedback_for_a_booking_not_attended_is_refused() -> None:
    missed = CareerEventMissed(
        career_event_id=EVENT, session_id=SESSION, booking_id=B[0], participant_id=PUPILS[0]
    )
    with pytest.raises(NotAttended):
        when(feedback(0), PUBLISHED, seat(0))
    with pytest.raises(NotAttended):
        when(feedback(0), PUBLISHED, seat(0), missed)
    with pytest.raises(UnknownBooking):
        when(feedback(3), PUBLISHED, seat(0))


def test_feedback_after_the_career_event_was_cancelled_still_counts_attendance() -> None:
    cancelled = Cancelled(career_event_id=EVENT, reason=CareerEventCancellationReason.SAFETY)
    released = BookingCancelled(
        career_event_id=EVENT,
        booking_id=B[0],
        participant_id=PUPILS[0],
        reason=BookingCancellationReason.CAREER_EVENT_CANCELLED,
    )
    [given_] = when(feedback(0), PUBLISHED, seat(0), attended(0), cancelled, released)
    assert isinstance(given_, MentorFeedbackGiven)
