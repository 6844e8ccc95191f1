"""The demo of `make run` over the service's own use cases: the 2019 history (most pupils with a
consent covering career events attended one and got feedback; the others none), this week's
career events in the future with a few seats taken, the printed organiser and mentor seeing the
roster, and a second load adding nothing."""

import random
from dataclasses import replace
from datetime import UTC, date, datetime
from uuid import UUID

import pytest

from bilet.contracts.catalogue.consent import Purpose
from bilet.contracts.catalogue.events import (
    CareerEventAttended,
    CareerEventMissed,
    CareerEventPublished,
    MentorFeedbackGiven,
    SeatBooked,
)
from bilet.contracts.vocabulary import AccessibilityNeed
from bilet.eventstore.memory import InMemoryEventStore
from bilet.http.auth import Principal, Role
from bilet_events import demo, demo_offers
from bilet_events.application.eventlog import EVENT_LOG
from bilet_events.application.facts import Pupil
from bilet_events.application.inputs import CommandContext
from bilet_events.application.roster import NeedCount
from bilet_events.domain import career_event
from bilet_events.domain.errors import DomainError
from bilet_events.testing import World

NOW = datetime.now(UTC)
TODAY = NOW.date()
CONSENTED = frozenset({Purpose.PROGRAMME_PARTICIPATION, Purpose.CAREER_EVENTS})


def demo_world() -> tuple[World, set[UUID]]:
    """The service over a fresh store, its facts the demo pupils as identity and consent's demo
    make them (grades 6–8, the region, most with a consent covering career events); returns the
    consenting ones."""
    world = World.over(InMemoryEventStore(), NOW)
    world.facts.season_maximum.update({2019: 3, demo_offers.season_of(TODAY): 3})
    consenting = set()
    for number, (participant_id, school_id) in enumerate(demo_offers.demo_pupils()):
        rng = random.Random(number)
        purposes = CONSENTED if number % 10 != 5 else frozenset({Purpose.PROGRAMME_PARTICIPATION})
        if Purpose.CAREER_EVENTS in purposes:
            consenting.add(participant_id)
        world.facts.pupils[participant_id] = Pupil(
            participant_id=participant_id,
            school_id=school_id,
            region_id=demo_offers.REGION_ID,
            municipality=demo_offers.MUNICIPALITY,
            grade=rng.choice((6, 7, 8)),
            season=2019,
            purposes=purposes,
            erased=False,
            sealed_needs=None,
        )
    return world, consenting


async def load(world: World) -> None:
    await demo.load_history(*demo.on_history_clock(world.service))
    await demo.load_this_week(world.service, TODAY)


async def stream_events(world: World, event: CareerEventPublished) -> list[object]:
    stream = await EVENT_LOG.read(
        world.service.store, career_event.stream_id(event.career_event_id)
    )
    return list(stream.events)


# Pupils whose consent covers health data too, with the needs identity stated: the first of
# СОШ № 5 needs step-free access (this week's first college session takes them); the second of
# СОШ № 3 needs a sign language interpreter and a hearing loop, which no demo career event
# provides both of.
STEP_FREE = demo_offers.demo_pupils()[demo_offers.SCHOOLS[0][1]][0]
SIGNING = demo_offers.demo_pupils()[1][0]


@pytest.fixture
async def loaded() -> tuple[World, set[UUID]]:
    world, consenting = demo_world()
    for pupil, needs in (
        (STEP_FREE, (AccessibilityNeed.STEP_FREE_ACCESS,)),
        (SIGNING, (AccessibilityNeed.SIGN_LANGUAGE_INTERPRETER, AccessibilityNeed.HEARING_LOOP)),
    ):
        facts = world.facts.pupils[pupil]
        world.facts.pupils[pupil] = replace(facts, purposes=facts.purposes | {Purpose.HEALTH_DATA})
        await world.state_needs(pupil, needs)
    await load(world)
    return world, consenting


async def test_the_history_books_pupils_only_where_their_needs_are_accommodated(
    loaded: tuple[World, set[UUID]],
) -> None:
    world, _ = loaded
    seats: dict[UUID, set[UUID]] = {STEP_FREE: set(), SIGNING: set()}
    for event in demo_offers.history():
        for fact in await stream_events(world, event):
            if isinstance(fact, SeatBooked) and fact.participant_id in seats:
                seats[fact.participant_id].add(event.career_event_id)
                assert fact.accessibility_needs is not None, "the summary, sealed"
    assert seats[SIGNING] == set(), "no demo career event provides both"
    assert seats[STEP_FREE], "refused where not accommodated, booked where it is"
    for event in demo_offers.history():
        if event.career_event_id in seats[STEP_FREE]:
            assert AccessibilityNeed.STEP_FREE_ACCESS in event.accommodates


async def test_most_consenting_pupils_attended_a_2019_career_event_with_feedback(
    loaded: tuple[World, set[UUID]],
) -> None:
    world, consenting = loaded
    booked: dict[UUID, UUID] = {}
    attended: set[UUID] = set()
    recorded: set[UUID] = set()
    feedback: set[UUID] = set()
    for event in demo_offers.history():
        assert event.season == 2019
        for fact in await stream_events(world, event):
            if isinstance(fact, SeatBooked):
                booked[fact.booking_id] = fact.participant_id
            elif isinstance(fact, CareerEventAttended):
                attended.add(fact.booking_id)
                recorded.add(fact.booking_id)
            elif isinstance(fact, CareerEventMissed):
                recorded.add(fact.booking_id)
            elif isinstance(fact, MentorFeedbackGiven):
                assert fact.mentor_id in event.mentors
                feedback.add(fact.booking_id)
    assert set(booked.values()) <= consenting, "only pupils with a consent book"
    assert recorded == set(booked), "every 2019 booking has its attendance"
    assert feedback == attended, "every pupil who came got feedback, nobody else"
    with_feedback = {booked[b] for b in feedback}
    assert len(with_feedback) > len(consenting) * 3 // 4
    assert len(attended) < len(booked), "a few did not come"


async def test_this_weeks_career_events_are_ahead_with_seats_to_book(
    loaded: tuple[World, set[UUID]],
) -> None:
    world, consenting = loaded
    week = demo_offers.this_week(TODAY)
    organisers = {event.organiser_id for event in week}
    assert organisers == {demo_offers.DEMO_COLLEGE, demo_offers.TECHNOPARK, demo_offers.FARM}
    assert len({env for event in week for env in event.environments}) >= 5
    for event in week:
        assert all(session.starts_at.date() > TODAY for session in event.sessions)
        assert (
            await world.service.store.stream_version(career_event.stream_id(event.career_event_id))
            is not None
        )
    first = week[0]
    seats = [f for f in await stream_events(world, first) if isinstance(f, SeatBooked)]
    assert len(seats) == demo_offers.WEEK_PREBOOKED

    # The printed pupil (the first of СОШ № 3) books a seat of this week's first session.
    pupil, _ = demo_offers.demo_pupils()[0]
    assert pupil in consenting
    answer = await world.service.book(
        World.as_pupil(pupil),
        first.career_event_id,
        first.sessions[0].session_id,
        pupil,
        demo.booking_id(first.career_event_id, pupil),
    )
    assert answer.booked


async def test_the_printed_organiser_and_mentor_see_the_roster_others_do_not(
    loaded: tuple[World, set[UUID]],
) -> None:
    world, _ = loaded
    first = demo_offers.this_week(TODAY)[0]
    college = CommandContext(
        Principal("demo-organiser", Role.ORGANISER, venue_id=str(demo_offers.DEMO_COLLEGE))
    )
    for ctx in (college, World.as_mentor(demo_offers.DEMO_MENTOR)):
        roster = await world.service.roster(ctx, first.career_event_id)
        assert len(roster.sessions[0].pupils) == demo_offers.WEEK_PREBOOKED
        assert STEP_FREE in {pupil.participant_id for pupil in roster.sessions[0].pupils}
        assert roster.sessions[0].accessibility == (
            NeedCount(AccessibilityNeed.STEP_FREE_ACCESS, 1),
        )
    technopark = CommandContext(
        Principal("other", Role.ORGANISER, venue_id=str(demo_offers.TECHNOPARK))
    )
    with pytest.raises(DomainError) as refused:
        await world.service.roster(technopark, first.career_event_id)
    assert refused.value.code == "unknown_career_event"


async def test_loading_again_adds_nothing(loaded: tuple[World, set[UUID]]) -> None:
    world, _ = loaded
    head = await world.service.store.head_position()
    await load(world)
    assert await world.service.store.head_position() == head


def test_the_demo_names_identitys_pupils_region_and_schools() -> None:
    # Identity's demo derives these (bilet_identity.demo); the host's tests compare them.
    pupils = demo_offers.demo_pupils()
    assert len(pupils) == 87 + 50
    assert len({pupil for pupil, _ in pupils}) == len(pupils)
    assert date(2019, 11, 11).weekday() == 0  # the history's sessions start on a Monday
