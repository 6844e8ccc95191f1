"""Properties of the career event's seats over any sequence of bookings and cancellations:
never more booked than the capacity, the waitlist keeps its order, a refused command decides
nothing, and replaying what was decided gives the same state."""

from datetime import UTC, datetime, timedelta
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from bilet_events.domain import career_event
from bilet_events.domain.career_event import Book, CancelBooking, CareerEventEvent, Command
from bilet_events.domain.errors import DomainError
from bilet_events.testing import REGION
from bilet_events.testing import career_event as published_event

EVENT = UUID("c0ffee00-0000-4000-8000-000000000002")
STARTS = datetime(2019, 11, 20, 10, tzinfo=UTC)
NOW = STARTS - timedelta(days=3)
PUPILS = [UUID(int=n + 1) for n in range(12)]
BOOKINGS = [UUID(int=1000 + n) for n in range(12)]

# ("book", n): pupil n books with booking n; ("cancel", n, promote_all): booking n is given up,
# every waiting booking (or none) able to take a released seat.
steps = st.lists(
    st.one_of(
        st.tuples(st.just("book"), st.integers(0, 11)),
        st.tuples(st.just("cancel"), st.integers(0, 11), st.booleans()),
    ),
    max_size=40,
)


def command(step: tuple[object, ...], session: UUID) -> Command:
    n = int(str(step[1]))
    if step[0] == "book":
        return Book(session, BOOKINGS[n], PUPILS[n], REGION, 8, NOW)
    promotable = dict.fromkeys(BOOKINGS) if step[2] else {}
    return CancelBooking(BOOKINGS[n], NOW, promotable=promotable)


@settings(max_examples=200, deadline=None)
@given(capacity=st.integers(1, 4), plan=steps)
def test_seats_and_waitlist_hold_their_rules(capacity: int, plan: list[tuple[object, ...]]) -> None:
    published = published_event(EVENT, STARTS, capacity=capacity)
    session_id = published.sessions[0].session_id
    history: list[CareerEventEvent] = [published]
    state = career_event.evolve(career_event.initial(EVENT), published)
    for step in plan:
        before = state.sessions[session_id]
        try:
            decided = career_event.decide(command(step, session_id), state)
        except DomainError:
            continue  # refused: nothing decided, the state stays
        for event in decided:
            state = career_event.evolve(state, event)
        history.extend(decided)
        after = state.sessions[session_id]
        assert len(after.booked) <= capacity
        # Whoever still waits keeps their order; nobody jumps the line.
        still = [b for b in before.waiting if b in after.waiting]
        assert list(after.waiting[: len(still)]) == still
        # A seat is free only when nobody promotable waits.
        if step[0] == "cancel" and step[2] and before.waiting and len(before.booked) == capacity:
            assert len(after.booked) == capacity
    replayed = career_event.initial(EVENT)
    for event in history:
        replayed = career_event.evolve(replayed, event)
    assert replayed == state
