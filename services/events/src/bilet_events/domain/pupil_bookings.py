"""The participant's seats (stream `careerbookings-<participant id>`, internal): the aggregate
that makes the season's maximum of career events and no overlapping sessions exact.

A booking appends `SeatBooked` to the career event's stream and `SeatHeld` here in one commit,
each at the version it was read at: two bookings of one participant racing on different career
events conflict on this stream, and the second decides again on the first's seat."""

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Final, assert_never
from uuid import UUID

from bilet_events.domain.errors import OverlappingBooking, SeasonLimitReached
from bilet_events.domain.internal import BOOKINGS_CATEGORY, SeatHeld, SeatReleased

CATEGORY: Final = BOOKINGS_CATEGORY


@dataclass(frozen=True)
class Seats:
    participant_id: UUID
    held: dict[UUID, SeatHeld] = field(default_factory=dict)  # booking id → seat

    def in_season(self, season: int) -> int:
        return sum(1 for seat in self.held.values() if seat.season == season)


def initial(participant_id: UUID) -> Seats:
    return Seats(participant_id)


def stream_id(participant_id: UUID) -> str:
    return f"{CATEGORY}-{participant_id}"


@dataclass(frozen=True)
class Hold:
    booking_id: UUID
    career_event_id: UUID
    session_id: UUID
    season: int
    starts_at: datetime
    ends_at: datetime
    season_maximum: int


@dataclass(frozen=True)
class Release:
    booking_id: UUID


Command = Hold | Release
SeatsEvent = SeatHeld | SeatReleased


def check(command: Hold, state: Seats) -> None:
    """Refuse a seat the participant may not hold (raises); a booking that would only join a
    waitlist is checked the same way, so nobody waits for a seat they could not take."""
    if state.in_season(command.season) >= command.season_maximum:
        raise SeasonLimitReached(command.season, command.season_maximum)
    for seat in state.held.values():
        if seat.starts_at < command.ends_at and command.starts_at < seat.ends_at:
            raise OverlappingBooking(seat.booking_id)


def decide(command: Command, state: Seats) -> list[SeatsEvent]:
    match command:
        case Hold():
            if command.booking_id in state.held:
                return []
            check(command, state)
            return [
                SeatHeld(
                    participant_id=state.participant_id,
                    booking_id=command.booking_id,
                    career_event_id=command.career_event_id,
                    session_id=command.session_id,
                    season=command.season,
                    starts_at=command.starts_at,
                    ends_at=command.ends_at,
                )
            ]
        case Release():
            if command.booking_id not in state.held:
                return []
            return [
                SeatReleased(participant_id=state.participant_id, booking_id=command.booking_id)
            ]
        case _:
            assert_never(command)


def evolve(state: Seats, event: SeatsEvent) -> Seats:
    match event:
        case SeatHeld():
            return replace(state, held={**state.held, event.booking_id: event})
        case SeatReleased():
            return replace(
                state, held={k: v for k, v in state.held.items() if k != event.booking_id}
            )
        case _:
            assert_never(event)
