"""The command-side use cases over the in-memory store: publish, book (seat, waitlist, refusals
that change nothing), cancel with promotion and the seat's release, attendance by role."""

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from bilet.application import RequestContext
from bilet.contracts.catalogue.events import CareerEventCancellationReason
from bilet.eventstore.memory import InMemoryEventStore
from bilet.http.auth import Principal, Role
from bilet_events.application.errors import AccessDenied, ConsentRequired, UnknownParticipant
from bilet_events.application.inputs import AttendanceRecord
from bilet_events.application.streams import career_event_of, seats_of
from bilet_events.domain.errors import (
    DomainError,
    OverlappingBooking,
    SeasonLimitReached,
    UnknownBooking,
    UnknownCareerEvent,
)
from bilet_events.testing import CONSENTED, World, career_event

STARTS = datetime(2019, 11, 20, 10, tzinfo=UTC)
NOW = STARTS - timedelta(days=7)


@pytest.fixture
def world() -> World:
    return World.over(InMemoryEventStore(), NOW)


async def publish(world: World, capacity: int = 1, sessions: int = 1) -> tuple[UUID, list[UUID]]:
    event = career_event(uuid4(), STARTS, capacity=capacity, sessions=sessions)
    await world.service.publish(world.as_organiser(), event)
    return event.career_event_id, [s.session_id for s in event.sessions]


async def stored(world: World) -> int:
    return len(await world.service.store.read_all())


async def test_book_a_seat_then_the_waitlist(world: World) -> None:
    event_id, [session] = await publish(world)
    first, second = world.enrol(uuid4()), world.enrol(uuid4())
    seat = await world.service.book(world.as_pupil(first), event_id, session, first, uuid4())
    assert seat.booked
    line = await world.service.book(world.as_pupil(second), event_id, session, second, uuid4())
    assert line.waitlist_position == 1
    reads = world.service.transactor.attempt()
    assert len((await reads.state(seats_of(first))).held) == 1
    assert (await reads.state(seats_of(second))).held == {}  # waiting holds no seat


@pytest.mark.parametrize("case", ["no_consent", "someone_else", "unknown_event"])
async def test_refused_bookings_change_nothing(world: World, case: str) -> None:
    event_id, [session] = await publish(world)
    pupil = world.enrol(uuid4(), purposes=frozenset() if case == "no_consent" else CONSENTED)
    caller = world.as_pupil(uuid4() if case == "someone_else" else pupil)
    target = uuid4() if case == "unknown_event" else event_id
    before = await stored(world)
    expected: type[DomainError] = {
        "no_consent": ConsentRequired,
        "someone_else": UnknownParticipant,
        "unknown_event": UnknownCareerEvent,
    }[case]
    with pytest.raises(expected):
        await world.service.book(caller, target, session, pupil, uuid4())
    assert await stored(world) == before


async def test_season_maximum_and_overlap_across_career_events(world: World) -> None:
    pupil = world.enrol(uuid4())
    ctx = world.as_pupil(pupil)

    async def book_on(day: int) -> None:
        event = career_event(uuid4(), STARTS + timedelta(days=day), capacity=1)
        await world.service.publish(world.as_organiser(), event)
        session = event.sessions[0].session_id
        await world.service.book(ctx, event.career_event_id, session, pupil, uuid4())

    await book_on(0)
    await book_on(1)
    with pytest.raises(OverlappingBooking):
        await book_on(0)
    await book_on(2)
    with pytest.raises(SeasonLimitReached):
        await book_on(5)
    assert len((await world.service.transactor.attempt().state(seats_of(pupil))).held) == 3


async def test_cancel_promotes_the_first_waiting_who_can_take_the_seat(world: World) -> None:
    event_id, [session] = await publish(world)
    holder, busy, next_ = (world.enrol(uuid4()) for _ in range(3))
    bookings = {}
    for pupil in (holder, busy, next_):
        bookings[pupil] = uuid4()
        await world.service.book(world.as_pupil(pupil), event_id, session, pupil, bookings[pupil])
    # `busy` fills their season elsewhere meanwhile (sessions that do not overlap).
    for day in range(1, 4):
        other = career_event(uuid4(), STARTS + timedelta(days=day), capacity=1)
        await world.service.publish(world.as_organiser(), other)
        ctx = world.as_pupil(busy)
        await world.service.book(
            ctx, other.career_event_id, other.sessions[0].session_id, busy, uuid4()
        )
    await world.service.cancel_booking(world.as_pupil(holder), event_id, bookings[holder])
    reads = world.service.transactor.attempt()
    state = await reads.state(career_event_of(event_id))
    assert [b.participant_id for b in state.sessions[session].booked] == [next_]
    assert [b.participant_id for b in state.sessions[session].waiting] == [busy]
    assert bookings[next_] in (await reads.state(seats_of(next_))).held
    assert (await reads.state(seats_of(holder))).held == {}


async def test_cancelling_the_career_event_releases_the_seats(world: World) -> None:
    event_id, [session] = await publish(world)
    pupil = world.enrol(uuid4())
    await world.service.book(world.as_pupil(pupil), event_id, session, pupil, uuid4())
    reason = CareerEventCancellationReason.TOO_FEW_BOOKINGS
    await world.service.cancel_career_event(world.as_organiser(), event_id, reason)
    reads = world.service.transactor.attempt()
    assert (await reads.state(seats_of(pupil))).held == {}


async def test_attendance_by_the_mentor_after_the_start_not_by_a_pupil(world: World) -> None:
    event_id, [session] = await publish(world)
    pupil, booking = world.enrol(uuid4()), uuid4()
    await world.service.book(world.as_pupil(pupil), event_id, session, pupil, booking)
    with pytest.raises(AccessDenied):
        await world.service.record_attendance(
            world.as_pupil(pupil), event_id, session, [AttendanceRecord(booking, True)]
        )
    world.clock.now = STARTS + timedelta(minutes=10)
    answer = await world.service.record_attendance(
        world.as_mentor(), event_id, session, [AttendanceRecord(booking, True)]
    )
    assert answer.position > 0


async def test_another_venues_organiser_finds_no_such_career_event(world: World) -> None:
    event_id, [session] = await publish(world)
    pupil, booking = world.enrol(uuid4()), uuid4()
    await world.service.book(world.as_pupil(pupil), event_id, session, pupil, booking)
    world.clock.now = STARTS + timedelta(minutes=10)
    stranger = RequestContext(Principal("org2", Role.ORGANISER, venue_id=str(uuid4())))
    before = await stored(world)
    with pytest.raises(UnknownCareerEvent):
        await world.service.record_attendance(
            stranger, event_id, session, [AttendanceRecord(booking, True)]
        )
    reason = CareerEventCancellationReason.SAFETY
    with pytest.raises(UnknownCareerEvent):
        await world.service.cancel_career_event(stranger, event_id, reason)
    assert await stored(world) == before


async def test_someone_elses_booking_is_answered_as_unknown(world: World) -> None:
    event_id, [session] = await publish(world)
    pupil, booking = world.enrol(uuid4()), uuid4()
    await world.service.book(world.as_pupil(pupil), event_id, session, pupil, booking)
    other = world.as_pupil(world.enrol(uuid4()))
    before = await stored(world)
    with pytest.raises(UnknownBooking):
        await world.service.cancel_booking(other, event_id, booking)
    assert await stored(world) == before
