"""Against the real PostgreSQL: the booking rules are exact under concurrency with no lock
outside the event store. Parallel bookings on the last seats book exactly the capacity and put
the rest in line; a pupil racing four bookings with a season maximum of three gets three;
cancellations promote the waiting in line order, skipping one the career event cannot
accommodate."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bilet.contracts.vocabulary import AccessibilityNeed
from bilet.eventstore.postgres import PostgresEventStore
from bilet.pgschema import drop_schema
from bilet_events.application.inputs import BookingAnswer
from bilet_events.application.streams import career_event_of, seats_of
from bilet_events.domain.errors import SeasonLimitReached
from bilet_events.testing import WITH_HEALTH_DATA, World, career_event

pytestmark = pytest.mark.integration

STARTS = datetime(2019, 11, 20, 10, tzinfo=UTC)
NOW = STARTS - timedelta(days=7)
PARALLEL = 24
CAPACITY = 5


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    schema = f"t_events_{uuid.uuid4().hex[:10]}"
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(drop_schema, database_url, schema)
        store = await PostgresEventStore.open(database_url, schema=schema)
        stack.push_async_callback(store.close)
        yield World.over(store, NOW)


async def publish(world: World, capacity: int, day: int = 0) -> tuple[uuid.UUID, uuid.UUID]:
    event = career_event(uuid.uuid4(), STARTS + timedelta(days=day), capacity=capacity)
    await world.service.publish(world.as_organiser(), event)
    return event.career_event_id, event.sessions[0].session_id


async def test_parallel_bookings_on_the_last_seats_book_exactly_the_capacity(
    world: World,
) -> None:
    event_id, session = await publish(world, CAPACITY)
    pupils = [world.enrol(uuid.uuid4()) for _ in range(PARALLEL)]
    answers: list[BookingAnswer] = await asyncio.gather(
        *(world.service.book(world.as_pupil(p), event_id, session, p, uuid.uuid4()) for p in pupils)
    )
    assert sum(answer.booked for answer in answers) == CAPACITY
    places = sorted(a.waitlist_position for a in answers if a.waitlist_position is not None)
    assert places == list(range(1, PARALLEL - CAPACITY + 1))
    reads = world.service.transactor.attempt()
    state = (await reads.state(career_event_of(event_id))).sessions[session]
    assert len(state.booked) == CAPACITY
    assert len(state.waiting) == PARALLEL - CAPACITY
    # Exactly the booked hold a seat in their own record.
    holding = {p for p in pupils if (await reads.state(seats_of(p))).held}
    assert holding == {b.participant_id for b in state.booked}


async def test_a_pupil_racing_four_bookings_with_a_season_maximum_of_three_gets_three(
    world: World,
) -> None:
    pupil = world.enrol(uuid.uuid4())
    events = [await publish(world, capacity=10, day=day) for day in range(4)]
    outcomes = await asyncio.gather(
        *(
            world.service.book(world.as_pupil(pupil), event_id, session, pupil, uuid.uuid4())
            for event_id, session in events
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(o, BookingAnswer) and o.booked for o in outcomes) == 3
    assert [type(o) for o in outcomes if not isinstance(o, BookingAnswer)] == [SeasonLimitReached]
    held = (await world.service.transactor.attempt().state(seats_of(pupil))).held
    assert len(held) == 3


async def test_parallel_cancellations_promote_the_waiting_in_line_order(world: World) -> None:
    event_id, session = await publish(world, CAPACITY)
    pupils = [world.enrol(uuid.uuid4()) for _ in range(CAPACITY + 4)]
    bookings: dict[uuid.UUID, uuid.UUID] = {}
    for pupil in pupils:  # one after the other: the line's order is the booking order
        bookings[pupil] = uuid.uuid4()
        await world.service.book(world.as_pupil(pupil), event_id, session, pupil, bookings[pupil])
    holders, waiting = pupils[:CAPACITY], pupils[CAPACITY:]
    leaving = holders[:3]
    await asyncio.gather(
        *(world.service.cancel_booking(world.as_pupil(p), event_id, bookings[p]) for p in leaving)
    )
    reads = world.service.transactor.attempt()
    state = (await reads.state(career_event_of(event_id))).sessions[session]
    assert [b.participant_id for b in state.booked] == [*holders[3:], *waiting[:3]]
    assert [b.participant_id for b in state.waiting] == waiting[3:]
    for pupil in waiting[:3]:
        assert bookings[pupil] in (await reads.state(seats_of(pupil))).held
    for pupil in leaving:
        assert (await reads.state(seats_of(pupil))).held == {}


async def test_parallel_promotions_skip_a_waiting_pupil_the_career_event_cannot_accommodate(
    world: World,
) -> None:
    event = career_event(uuid.uuid4(), STARTS, capacity=2).model_copy(
        update={"accommodates": (AccessibilityNeed.QUIET_SPACE,)}
    )
    await world.service.publish(world.as_organiser(), event)
    event_id, session = event.career_event_id, event.sessions[0].session_id
    holders = [world.enrol(uuid.uuid4(), purposes=WITH_HEALTH_DATA) for _ in range(2)]
    unsuited, first, second = (world.enrol(uuid.uuid4(), purposes=WITH_HEALTH_DATA) for _ in "abc")
    bookings: dict[uuid.UUID, uuid.UUID] = {}
    for pupil in [*holders, unsuited, first, second]:
        bookings[pupil] = uuid.uuid4()
        await world.service.book(world.as_pupil(pupil), event_id, session, pupil, bookings[pupil])
    # Needs stated after joining the line: a sign language interpreter is not provided.
    await world.state_needs(unsuited, [AccessibilityNeed.SIGN_LANGUAGE_INTERPRETER])
    await world.state_needs(first, [AccessibilityNeed.QUIET_SPACE])
    await asyncio.gather(
        *(world.service.cancel_booking(world.as_pupil(p), event_id, bookings[p]) for p in holders)
    )
    reads = world.service.transactor.attempt()
    state = (await reads.state(career_event_of(event_id))).sessions[session]
    assert [b.participant_id for b in state.booked] == [first, second]
    assert [b.participant_id for b in state.waiting] == [unsuited]
    assert set(state.summaries) == {bookings[first]}  # only `first` has needs to carry
    assert (await reads.state(seats_of(unsuited))).held == {}
