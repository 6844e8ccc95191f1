"""Bookings and the pupil's accessibility needs (issue 14): opened only under a consent covering
health data, a refusal naming the missing accommodations only to those who may see health data,
the summary a seat carries (sealed with the pupil's health key of their generation), and a
promotion that skips a waiting pupil the career event cannot accommodate."""

import json
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from bilet.audit import AUDIT_CATEGORY
from bilet.contracts.catalogue.consent import Purpose
from bilet.contracts.sealed import SealedValue, health_key_subject
from bilet.contracts.vocabulary import AccessibilityNeed
from bilet.crypto import FieldCipher
from bilet.eventstore.memory import InMemoryEventStore
from bilet.http.auth import Role
from bilet_events.application.streams import career_event_of
from bilet_events.domain.career_event import Summary
from bilet_events.domain.errors import NotAccessible
from bilet_events.testing import WITH_HEALTH_DATA, World, career_event

STARTS = datetime(2019, 11, 20, 10, tzinfo=UTC)
NOW = STARTS - timedelta(days=7)
STEP_FREE = AccessibilityNeed.STEP_FREE_ACCESS
QUIET = AccessibilityNeed.QUIET_SPACE
SIGN = AccessibilityNeed.SIGN_LANGUAGE_INTERPRETER


@pytest.fixture
def world() -> World:
    return World.over(InMemoryEventStore(), NOW)


async def publish(
    world: World, accommodates: tuple[AccessibilityNeed, ...], capacity: int = 1
) -> tuple[UUID, UUID]:
    event = career_event(uuid4(), STARTS, capacity=capacity).model_copy(
        update={"accommodates": accommodates}
    )
    await world.service.publish(world.as_organiser(), event)
    return event.career_event_id, event.sessions[0].session_id


async def summaries(world: World, event_id: UUID, session: UUID) -> dict[UUID, Summary]:
    state = await world.service.transactor.attempt().state(career_event_of(event_id))
    return dict(state.sessions[session].summaries)


async def opened(world: World, participant_id: UUID, summary: Summary) -> object:
    assert isinstance(summary.sealed, SealedValue)
    subject = health_key_subject(participant_id, summary.key_generation)
    envelope = {"accessibility_needs": summary.sealed.envelope()}
    return (await FieldCipher(world.keystore).decrypt(subject, envelope))["accessibility_needs"]


async def facts_stored(world: World) -> int:
    """Events other than the audit trail's."""
    return sum(1 for e in await world.service.store.read_all() if e.category != AUDIT_CATEGORY)


async def audited(world: World) -> list[dict[str, object]]:
    trail = [e for e in await world.service.store.read_all() if e.category == AUDIT_CATEGORY]
    return [json.loads(e.data) for e in trail]


async def test_accommodated_needs_book_a_seat_that_carries_them_sealed(world: World) -> None:
    event_id, session = await publish(world, (STEP_FREE, QUIET))
    pupil = world.enrol(uuid4(), purposes=WITH_HEALTH_DATA)
    await world.state_needs(pupil, [QUIET], generation=2)
    booking = uuid4()
    answer = await world.service.book(world.as_pupil(pupil), event_id, session, pupil, booking)
    assert answer.booked
    assert answer.accessibility_checked
    summary = (await summaries(world, event_id, session))[booking]
    assert summary.key_generation == 2
    assert await opened(world, pupil, summary) == [QUIET.value]
    [record] = await audited(world)
    assert record["subject"] == str(pupil)
    assert record["purpose"] == "career_event_booking"
    assert record["fields"] == ["accessibility_needs"]


@pytest.mark.parametrize("role", [Role.PUPIL, Role.REGISTRAR, Role.NAVIGATOR])
async def test_needs_not_accommodated_are_refused_and_change_nothing(
    world: World, role: Role
) -> None:
    event_id, session = await publish(world, (STEP_FREE,))
    pupil = world.enrol(uuid4(), purposes=WITH_HEALTH_DATA)
    await world.state_needs(pupil, [STEP_FREE, SIGN])
    caller = world.as_pupil(pupil) if role is Role.PUPIL else world.as_school(role)
    before = await facts_stored(world)
    with pytest.raises(NotAccessible) as refused:
        await world.service.book(caller, event_id, session, pupil, uuid4())
    assert await facts_stored(world) == before
    if role is Role.NAVIGATOR:  # may not see health data: the bare refusal
        assert refused.value.details == {}
        assert "sign_language" not in refused.value.message
    else:
        assert refused.value.details == {"missing": [SIGN.value]}


async def test_without_a_health_consent_needs_are_not_considered_and_not_carried(
    world: World,
) -> None:
    event_id, session = await publish(world, ())
    pupil = world.enrol(uuid4())  # career events, no health data
    await world.state_needs(pupil, [STEP_FREE])
    booking = uuid4()
    answer = await world.service.book(world.as_pupil(pupil), event_id, session, pupil, booking)
    assert answer.booked
    assert not answer.accessibility_checked
    assert await summaries(world, event_id, session) == {}
    assert await audited(world) == []  # nothing opened


async def test_a_health_consent_and_no_needs_stated_books_without_a_summary(world: World) -> None:
    event_id, session = await publish(world, ())
    pupil = world.enrol(uuid4(), purposes=WITH_HEALTH_DATA)
    answer = await world.service.book(world.as_pupil(pupil), event_id, session, pupil, uuid4())
    assert answer.booked
    assert answer.accessibility_checked
    assert await summaries(world, event_id, session) == {}


async def test_a_destroyed_health_key_reads_as_unchecked(world: World) -> None:
    event_id, session = await publish(world, ())
    pupil = world.enrol(uuid4(), purposes=WITH_HEALTH_DATA)
    await world.state_needs(pupil, [STEP_FREE])
    # Consent destroyed the key on a withdrawal the feed has not brought here yet.
    await FieldCipher(world.keystore).erase(health_key_subject(pupil))
    answer = await world.service.book(world.as_pupil(pupil), event_id, session, pupil, uuid4())
    assert answer.booked
    assert not answer.accessibility_checked


async def test_a_promotion_skips_a_waiting_pupil_it_cannot_accommodate(world: World) -> None:
    event_id, session = await publish(world, (QUIET,))
    holder, unsuited, next_ = (world.enrol(uuid4(), purposes=WITH_HEALTH_DATA) for _ in "abc")
    bookings = {p: uuid4() for p in (holder, unsuited, next_)}
    for pupil in (holder, unsuited, next_):
        await world.service.book(world.as_pupil(pupil), event_id, session, pupil, bookings[pupil])
    # Identity states needs the career event does not provide after `unsuited` joined the line;
    # `next_` needs what it provides.
    await world.state_needs(unsuited, [SIGN])
    await world.state_needs(next_, [QUIET])
    await world.service.cancel_booking(world.as_pupil(holder), event_id, bookings[holder])
    state = await world.service.transactor.attempt().state(career_event_of(event_id))
    assert [b.participant_id for b in state.sessions[session].booked] == [next_]
    assert [b.participant_id for b in state.sessions[session].waiting] == [unsuited]
    summary = state.sessions[session].summaries[bookings[next_]]
    assert await opened(world, next_, summary) == [QUIET.value]


async def test_a_promotion_skips_a_waiting_pupil_whose_consent_ended(world: World) -> None:
    event_id, session = await publish(world, ())
    holder, withdrawn, next_ = (world.enrol(uuid4()) for _ in "abc")
    bookings = {p: uuid4() for p in (holder, withdrawn, next_)}
    for pupil in (holder, withdrawn, next_):
        await world.service.book(world.as_pupil(pupil), event_id, session, pupil, bookings[pupil])
    world.enrol(withdrawn, purposes=frozenset({Purpose.PROGRAMME_PARTICIPATION}))
    await world.service.cancel_booking(world.as_pupil(holder), event_id, bookings[holder])
    state = await world.service.transactor.attempt().state(career_event_of(event_id))
    assert [b.participant_id for b in state.sessions[session].booked] == [next_]


async def test_a_promotion_skips_a_waiting_pupil_now_in_another_grade(world: World) -> None:
    event_id, session = await publish(world, ())
    holder, moved_on, next_ = (world.enrol(uuid4()) for _ in "abc")
    bookings = {p: uuid4() for p in (holder, moved_on, next_)}
    for pupil in (holder, moved_on, next_):
        await world.service.book(world.as_pupil(pupil), event_id, session, pupil, bookings[pupil])
    world.enrol(moved_on, grade=12)  # the career event is for grades 6–11
    await world.service.cancel_booking(world.as_pupil(holder), event_id, bookings[holder])
    state = await world.service.transactor.attempt().state(career_event_of(event_id))
    assert [b.participant_id for b in state.sessions[session].booked] == [next_]
