"""The participant's seats, given events / when a command / then events (or the refusal): the
season's maximum and no overlapping sessions."""

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from bilet_events.domain import pupil_bookings
from bilet_events.domain.errors import OverlappingBooking, SeasonLimitReached
from bilet_events.domain.internal import SeatHeld, SeatReleased
from bilet_events.domain.pupil_bookings import Hold, Release, Seats, SeatsEvent

PUPIL = UUID("8d1c7e2a-0b4f-4c6d-9e8a-1f2b3c4d5e6f")
DAY = datetime(2019, 11, 20, 10, tzinfo=UTC)
HOURS = timedelta(hours=2)


def hold(day: int, *, season: int = 2019, maximum: int = 3, booking: UUID | None = None) -> Hold:
    starts = DAY + timedelta(days=day)
    return Hold(booking or uuid4(), uuid4(), uuid4(), season, starts, starts + HOURS, maximum)


def held(command: Hold) -> SeatHeld:
    return SeatHeld(
        participant_id=PUPIL,
        booking_id=command.booking_id,
        career_event_id=command.career_event_id,
        session_id=command.session_id,
        season=command.season,
        starts_at=command.starts_at,
        ends_at=command.ends_at,
    )


def given(*events: SeatsEvent) -> Seats:
    state = pupil_bookings.initial(PUPIL)
    for event in events:
        state = pupil_bookings.evolve(state, event)
    return state


def test_hold_a_seat() -> None:
    command = hold(0)
    assert pupil_bookings.decide(command, given()) == [held(command)]


def test_the_season_maximum_counts_held_seats_of_that_season_only() -> None:
    history = [held(hold(day)) for day in range(3)]
    with pytest.raises(SeasonLimitReached) as refused:
        pupil_bookings.decide(hold(5), given(*history))
    assert refused.value.code == "season_limit_reached"
    next_season = hold(400, season=2020)
    assert pupil_bookings.decide(next_season, given(*history)) == [held(next_season)]


def test_a_released_seat_counts_no_more() -> None:
    first = held(hold(0))
    history: list[SeatsEvent] = [
        first,
        held(hold(1)),
        held(hold(2)),
        SeatReleased(participant_id=PUPIL, booking_id=first.booking_id),
    ]
    assert pupil_bookings.decide(hold(5), given(*history))


def test_an_overlapping_session_is_refused() -> None:
    first = held(hold(0))
    overlapping = Hold(uuid4(), uuid4(), uuid4(), 2019, DAY + HOURS / 2, DAY + 2 * HOURS, 3)
    with pytest.raises(OverlappingBooking) as refused:
        pupil_bookings.decide(overlapping, given(first))
    assert refused.value.details == {"overlapping": str(first.booking_id)}
    back_to_back = Hold(uuid4(), uuid4(), uuid4(), 2019, DAY + HOURS, DAY + 2 * HOURS, 3)
    assert pupil_bookings.decide(back_to_back, given(first))


def test_holding_the_same_booking_again_or_releasing_an_unknown_one_changes_nothing() -> None:
    command = hold(0)
    assert pupil_bookings.decide(command, given(held(command))) == []
    assert pupil_bookings.decide(Release(uuid4()), given(held(command))) == []
