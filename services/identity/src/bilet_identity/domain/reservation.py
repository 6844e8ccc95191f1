"""One profile per child, nationwide: a uniqueness reservation per child.

The stream `reservation-<keyed hash of the СНИЛС>` is appended in the same atomic append as the
registration, expecting the stream's version as read (no stream, or the version after a release):
of two registrations of one child racing, exactly one commits. The reservation decides which
conflict it is: the same child again (same keyed hash of name and birth date) or a clash that a
person must review. The keys are computed by the application with a secret; the domain only
compares them.
"""

from dataclasses import dataclass, replace
from typing import Final, assert_never
from uuid import UUID

from bilet_identity.domain.errors import DuplicateNeedsReview, DuplicateParticipant
from bilet_identity.domain.internal import (
    RESERVATION_CATEGORY,
    ChildReserved,
    DuplicateReviewRequested,
    ReservationReleased,
)


@dataclass(frozen=True, slots=True)
class Reservation:
    reservation_key: str
    holder: UUID | None  # None once released
    person_key: str | None
    reviews_requested: int = 0


initial: Final[Reservation | None] = None


@dataclass(frozen=True, slots=True)
class Reserve:
    reservation_key: str
    participant_id: UUID
    person_key: str


@dataclass(frozen=True, slots=True)
class Release:
    reservation_key: str
    participant_id: UUID


@dataclass(frozen=True, slots=True)
class RequestReview:
    reservation_key: str
    requested_by_school_id: UUID
    person_key: str


Command = Reserve | Release | RequestReview
ReservationEvent = ChildReserved | ReservationReleased | DuplicateReviewRequested


def decide(command: Command, state: Reservation | None) -> list[ReservationEvent]:
    match command:
        case Reserve():
            return _reserve(command, state)
        case Release():
            return _release(command, state)
        case RequestReview():
            return _request_review(command, state)
        case _:
            assert_never(command)


def _reserve(command: Reserve, state: Reservation | None) -> list[ReservationEvent]:
    if state is None or state.holder is None:
        return [_reserved(command)]
    holder = state.holder
    if holder == command.participant_id:
        # The holder again: a corrected name or birth date updates the person key.
        return [] if state.person_key == command.person_key else [_reserved(command)]
    if state.person_key == command.person_key:
        raise DuplicateParticipant(holder)
    raise DuplicateNeedsReview(holder)


def _release(command: Release, state: Reservation | None) -> list[ReservationEvent]:
    holder = None if state is None else state.holder
    if holder is None or holder != command.participant_id:
        return []  # not theirs (any more): nothing to let go
    return [ReservationReleased(reservation_key=command.reservation_key, participant_id=holder)]


def _request_review(command: RequestReview, state: Reservation | None) -> list[ReservationEvent]:
    holder = None if state is None else state.holder
    if holder is None:
        return []  # nobody holds it: nothing to review
    return [
        DuplicateReviewRequested(
            reservation_key=command.reservation_key,
            participant_id=holder,
            requested_by_school_id=command.requested_by_school_id,
            person_key=command.person_key,
        )
    ]


def _reserved(command: Reserve) -> ChildReserved:
    return ChildReserved(
        reservation_key=command.reservation_key,
        participant_id=command.participant_id,
        person_key=command.person_key,
    )


def evolve(state: Reservation | None, event: ReservationEvent) -> Reservation:
    # A release or a review request never comes first; if one did, it finds nobody holding it.
    current = state if state is not None else Reservation(event.reservation_key, None, None)
    match event:
        case ChildReserved():
            return Reservation(
                event.reservation_key,
                event.participant_id,
                event.person_key,
                current.reviews_requested,
            )
        case ReservationReleased():
            return replace(current, holder=None, person_key=None)
        case DuplicateReviewRequested():
            return replace(current, reviews_requested=current.reviews_requested + 1)
        case _:
            assert_never(event)


def stream_id(reservation_key: str) -> str:
    return f"{RESERVATION_CATEGORY}-{reservation_key}"
