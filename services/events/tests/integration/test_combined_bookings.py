"""Against the real PostgreSQL: bookings of one career event go through combined commits
(`Transactor.transact_combined`, docs/adr/0035), so hundreds of pupils racing for the seats of
one session are decided in a handful of commits instead of one optimistic round each, and the
capacity and the line stay exact."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bilet.eventstore.postgres import PostgresEventStore
from bilet.pgschema import drop_schema
from bilet_events.application.inputs import BookingAnswer
from bilet_events.application.streams import career_event_of, seats_of
from bilet_events.testing import World, career_event

pytestmark = pytest.mark.integration

STARTS = datetime(2019, 11, 20, 10, tzinfo=UTC)
NOW = STARTS - timedelta(days=7)
PUPILS = 200
SEATS = 20


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    schema = f"t_events_{uuid.uuid4().hex[:10]}"
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(drop_schema, database_url, schema)
        store = await PostgresEventStore.open(database_url, schema=schema)
        stack.push_async_callback(store.close)
        yield World.over(store, NOW)


async def test_two_hundred_parallel_bookings_of_twenty_seats_book_twenty_and_line_up_the_rest(
    world: World,
) -> None:
    event = career_event(uuid.uuid4(), STARTS, capacity=SEATS)
    await world.service.publish(world.as_organiser(), event)
    event_id, session = event.career_event_id, event.sessions[0].session_id
    pupils = [world.enrol(uuid.uuid4()) for _ in range(PUPILS)]
    answers: list[BookingAnswer] = await asyncio.gather(
        *(world.service.book(world.as_pupil(p), event_id, session, p, uuid.uuid4()) for p in pupils)
    )
    assert sum(answer.booked for answer in answers) == SEATS
    places = sorted(a.waitlist_position for a in answers if a.waitlist_position is not None)
    assert places == list(range(1, PUPILS - SEATS + 1))
    reads = world.service.transactor.attempt()
    state = (await reads.state(career_event_of(event_id))).sessions[session]
    assert len(state.booked) == SEATS
    # The line is in the order of the places each pupil was told.
    told = {p: a.waitlist_position for p, a in zip(pupils, answers, strict=True)}
    assert [told[w.participant_id] for w in state.waiting] == places
    holding = {p for p in pupils if (await reads.state(seats_of(p))).held}
    assert holding == {b.participant_id for b in state.booked}
