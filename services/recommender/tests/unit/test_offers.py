"""Career events as offers: a session is open while it has not started and has a free seat."""

from datetime import timedelta
from uuid import UUID, uuid4

from bilet.contracts.catalogue.events import (
    BookingCancellationReason,
    BookingCancelled,
    BookingRoute,
    CareerEventCancellationReason,
    CareerEventCancelled,
    CareerEventPublished,
    CareerEventRevised,
    CareerEventSession,
    SeatBooked,
)
from bilet.contracts.catalogue.recommender import OpportunityKind
from bilet.contracts.vocabulary import Environment
from bilet_recommender.domain.offers import (
    CareerEvent,
    CareerEventFact,
    career_event_offer,
    evolve_career_event,
)
from bilet_recommender.testing import NOW, SEASON, career_event

REGION = uuid4()


def folded(*facts: CareerEventFact) -> CareerEvent | None:
    state: CareerEvent | None = None
    for fact in facts:
        state = evolve_career_event(state, fact)
    return state


def seat(published: CareerEventPublished, booking_id: UUID | None = None) -> SeatBooked:
    return SeatBooked(
        career_event_id=published.career_event_id,
        session_id=published.sessions[0].session_id,
        booking_id=booking_id or uuid4(),
        participant_id=uuid4(),
        season=SEASON,
        route=BookingRoute.BOOKED,
    )


def test_an_upcoming_career_event_is_offered_with_its_free_seats() -> None:
    published = career_event(REGION, Environment.SMART, capacity=2, grades=(7, 9))
    state = folded(published, seat(published))
    assert state is not None
    offer = career_event_offer(state, NOW)
    assert offer is not None
    assert offer.kind is OpportunityKind.CAREER_EVENT
    assert (offer.opportunity_id, offer.region_id) == (published.career_event_id, REGION)
    assert (offer.seats, offer.lowest_grade, offer.highest_grade) == (1, 7, 9)
    assert offer.starts == published.sessions[0].starts_at.date()


def test_a_full_a_started_or_a_cancelled_career_event_is_not_offered() -> None:
    published = career_event(REGION, Environment.SMART, capacity=1)
    full = folded(published, seat(published))
    assert full is not None
    assert career_event_offer(full, NOW) is None
    started = folded(published)
    assert started is not None
    assert career_event_offer(started, published.sessions[0].starts_at) is None
    cancelled = CareerEventCancelled(
        career_event_id=published.career_event_id,
        reason=CareerEventCancellationReason.SAFETY,
    )
    gone = folded(published, cancelled)
    assert gone is not None
    assert career_event_offer(gone, NOW) is None


def test_a_released_seat_is_free_again() -> None:
    published = career_event(REGION, Environment.SMART, capacity=1)
    booked = seat(published)
    released = BookingCancelled(
        career_event_id=published.career_event_id,
        booking_id=booked.booking_id,
        participant_id=booked.participant_id,
        reason=BookingCancellationReason.PARTICIPANT_CANCELLED,
    )
    state = folded(published, booked, released)
    assert state is not None
    offer = career_event_offer(state, NOW)
    assert offer is not None
    assert offer.seats == 1


def test_a_revision_keeps_the_seats_booked_on_a_kept_session_and_adds_a_new_one() -> None:
    published = career_event(REGION, Environment.SMART, capacity=1)
    kept = published.sessions[0]
    later = CareerEventSession(
        session_id=uuid4(),
        starts_at=kept.starts_at + timedelta(days=7),
        ends_at=kept.ends_at + timedelta(days=7),
        capacity=5,
    )
    details = published.model_dump(exclude={"region_id", "season", "organiser_id"})
    revised = CareerEventRevised.model_validate(
        {**details, "sessions": (kept, later), "title": "Новое название"}
    )
    state = folded(published, seat(published), revised)
    assert state is not None
    offer = career_event_offer(state, NOW)
    assert offer is not None
    # The first session is full still, so the next open one is offered.
    assert (offer.title, offer.seats, offer.starts) == ("Новое название", 5, later.starts_at.date())


def test_facts_about_an_unknown_career_event_are_left_aside() -> None:
    published = career_event(REGION, Environment.SMART)
    assert folded(seat(published)) is None
