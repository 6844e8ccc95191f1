"""The career event's decider, given events / when a command / then events (or the refusal)."""

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
    CareerEventRevised,
    SeatBooked,
    WaitlistJoined,
)
from bilet.contracts.catalogue.events import CareerEventCancelled as Cancelled
from bilet_events.domain import career_event
from bilet_events.domain.career_event import (
    Book,
    CancelBooking,
    CareerEvent,
    CareerEventEvent,
    Command,
    Publish,
    RecordAttendance,
    Revise,
)
from bilet_events.domain.errors import (
    AlreadyBooked,
    AttendanceRecorded,
    BookingClosed,
    BookingsExist,
    CareerEventCancelled,
    CareerEventExists,
    DomainError,
    NotEligible,
    SessionNotStarted,
    UnknownBooking,
    UnknownCareerEvent,
    UnknownSession,
)
from bilet_events.testing import REGION
from bilet_events.testing import career_event as published_event

EVENT = UUID("c0ffee00-0000-4000-8000-000000000001")
STARTS = datetime(2019, 11, 20, 10, tzinfo=UTC)
BEFORE = STARTS - timedelta(days=3)
PUBLISHED = published_event(EVENT, STARTS, capacity=2)
SESSION = PUBLISHED.sessions[0].session_id
PUPILS = [UUID(int=n + 1) for n in range(6)]


def given(*events: CareerEventEvent) -> CareerEvent:
    state = career_event.initial(EVENT)
    for event in events:
        state = career_event.evolve(state, event)
    return state


def when(command: Command, *history: CareerEventEvent) -> list[CareerEventEvent]:
    return career_event.decide(command, given(*history))


def book(pupil: UUID, booking: UUID | None = None, *, grade: int = 8) -> Book:
    return Book(SESSION, booking or uuid4(), pupil, REGION, grade, BEFORE)


def booked(pupil: UUID, booking: UUID, route: BookingRoute = BookingRoute.BOOKED) -> SeatBooked:
    return SeatBooked(
        career_event_id=EVENT,
        session_id=SESSION,
        booking_id=booking,
        participant_id=pupil,
        season=2019,
        route=route,
    )


def waiting(pupil: UUID, booking: UUID, position: int) -> WaitlistJoined:
    return WaitlistJoined(
        career_event_id=EVENT,
        session_id=SESSION,
        booking_id=booking,
        participant_id=pupil,
        season=2019,
        position=position,
    )


B = [UUID(int=100 + n) for n in range(6)]
FULL = (PUBLISHED, booked(PUPILS[0], B[0]), booked(PUPILS[1], B[1]))


def test_publish_a_new_career_event() -> None:
    assert when(Publish(PUBLISHED)) == [PUBLISHED]


def test_publish_twice_is_refused() -> None:
    with pytest.raises(CareerEventExists):
        when(Publish(PUBLISHED), PUBLISHED)


def _revised(capacity: int) -> CareerEventRevised:
    details = published_event(EVENT, STARTS, capacity=capacity).model_dump(
        exclude={"region_id", "season", "organiser_id"}
    )
    return CareerEventRevised.model_validate(details)


def test_revise_before_the_first_booking_replaces_the_details() -> None:
    revision = _revised(5)
    assert when(Revise(revision), PUBLISHED) == [revision]
    assert given(PUBLISHED, revision).sessions[SESSION].seats_left == 5


def test_revise_after_a_booking_is_refused_even_when_it_was_cancelled() -> None:
    cancelled = BookingCancelled(
        career_event_id=EVENT,
        booking_id=B[0],
        participant_id=PUPILS[0],
        reason=BookingCancellationReason.PARTICIPANT_CANCELLED,
    )
    with pytest.raises(BookingsExist):
        when(Revise(_revised(5)), PUBLISHED, booked(PUPILS[0], B[0]), cancelled)


def test_book_with_seats_left_takes_a_seat() -> None:
    assert when(book(PUPILS[0], B[0]), PUBLISHED) == [booked(PUPILS[0], B[0])]


def test_book_a_full_session_joins_the_waitlist_at_its_place() -> None:
    assert when(book(PUPILS[2], B[2]), *FULL) == [waiting(PUPILS[2], B[2], 1)]
    after = (*FULL, waiting(PUPILS[2], B[2], 1))
    assert when(book(PUPILS[3], B[3]), *after) == [waiting(PUPILS[3], B[3], 2)]


@pytest.mark.parametrize(
    ("command", "history", "refusal"),
    [
        (book(PUPILS[0]), (), UnknownCareerEvent),
        (
            book(PUPILS[2]),
            (
                PUBLISHED,
                Cancelled(career_event_id=EVENT, reason=CareerEventCancellationReason.SAFETY),
            ),
            CareerEventCancelled,
        ),
        (Book(uuid4(), uuid4(), PUPILS[0], REGION, 8, BEFORE), (PUBLISHED,), UnknownSession),
        (Book(SESSION, uuid4(), PUPILS[0], REGION, 8, STARTS), (PUBLISHED,), BookingClosed),
        (Book(SESSION, uuid4(), PUPILS[0], uuid4(), 8, BEFORE), (PUBLISHED,), NotEligible),
        (book(PUPILS[0], grade=5), (PUBLISHED,), NotEligible),
        (book(PUPILS[0]), FULL, AlreadyBooked),
        (book(PUPILS[2]), (*FULL, waiting(PUPILS[2], B[2], 1)), AlreadyBooked),
    ],
)
def test_book_refusals(
    command: Command, history: tuple[CareerEventEvent, ...], refusal: type[DomainError]
) -> None:
    with pytest.raises(refusal) as raised:
        when(command, *history)
    assert raised.value.code == refusal.code


def test_cancel_a_seat_promotes_the_first_promotable_waiting_booking() -> None:
    history = (*FULL, waiting(PUPILS[2], B[2], 1), waiting(PUPILS[3], B[3], 2))
    decided = when(CancelBooking(B[0], BEFORE, promotable={B[2]: None}), *history)
    assert decided == [
        BookingCancelled(
            career_event_id=EVENT,
            booking_id=B[0],
            participant_id=PUPILS[0],
            reason=BookingCancellationReason.PARTICIPANT_CANCELLED,
        ),
        booked(PUPILS[2], B[2], BookingRoute.PROMOTED_FROM_WAITLIST),
    ]
    after = given(*history, *decided).sessions[SESSION]
    assert [b.booking_id for b in after.booked] == [B[1], B[2]]
    assert [b.booking_id for b in after.waiting] == [B[3]]


def test_cancel_skips_waiting_bookings_that_cannot_take_the_seat() -> None:
    history = (*FULL, waiting(PUPILS[2], B[2], 1), waiting(PUPILS[3], B[3], 2))
    decided = when(CancelBooking(B[0], BEFORE, promotable={B[3]: None}), *history)
    assert decided[1] == booked(PUPILS[3], B[3], BookingRoute.PROMOTED_FROM_WAITLIST)


def test_leaving_the_waitlist_promotes_nobody() -> None:
    history = (*FULL, waiting(PUPILS[2], B[2], 1))
    decided = when(CancelBooking(B[2], BEFORE, promotable={B[2]: None}), *history)
    assert [type(event) for event in decided] == [BookingCancelled]


def test_cancel_a_booking_after_the_notice_is_refused() -> None:
    late = STARTS - timedelta(hours=1)
    with pytest.raises(BookingClosed):
        when(CancelBooking(B[0], late, notice=timedelta(hours=24)), *FULL)


def test_cancel_an_unknown_booking_is_refused() -> None:
    with pytest.raises(UnknownBooking):
        when(CancelBooking(uuid4(), BEFORE), *FULL)


def test_cancel_the_career_event_releases_every_seat_and_place_in_line() -> None:
    history = (*FULL, waiting(PUPILS[2], B[2], 1))
    cancel = career_event.Cancel(CareerEventCancellationReason.VENUE_UNAVAILABLE)
    decided = when(cancel, *history)
    assert isinstance(decided[0], Cancelled)
    released = [e for e in decided if isinstance(e, BookingCancelled)]
    assert {e.booking_id for e in released} == {B[0], B[1], B[2]}
    assert {e.reason for e in released} == {BookingCancellationReason.CAREER_EVENT_CANCELLED}
    with pytest.raises(CareerEventCancelled):
        when(cancel, *history, *decided)


def test_attendance_after_the_start_is_recorded_once() -> None:
    present = RecordAttendance(SESSION, B[0], True, STARTS + timedelta(minutes=5))
    [attended] = when(present, *FULL)
    assert attended == CareerEventAttended(
        career_event_id=EVENT, session_id=SESSION, booking_id=B[0], participant_id=PUPILS[0]
    )
    with pytest.raises(AttendanceRecorded):
        when(present, *FULL, attended)
    [missed] = when(RecordAttendance(SESSION, B[1], False, STARTS), *FULL)
    assert isinstance(missed, CareerEventMissed)


def test_attendance_before_the_start_or_of_a_waiting_booking_is_refused() -> None:
    with pytest.raises(SessionNotStarted):
        when(RecordAttendance(SESSION, B[0], True, BEFORE), *FULL)
    with pytest.raises(UnknownBooking):
        when(RecordAttendance(SESSION, B[2], True, STARTS), *FULL, waiting(PUPILS[2], B[2], 1))
