"""One profile per child, nationwide: a uniqueness reservation per child.

The stream `reservation-<keyed hash of the СНИЛС>` is appended in the same atomic append as the
registration, expecting the stream's version as read (no stream, or the version after a release):
of two registrations of one child racing, exactly one commits. The reservation decides which
conflict it is: the same child again (same keyed hash of name and birth date) or a clash that a
person must review. The keys are computed by the application with a secret; the domain only
compares them. The reviews asked for are resolved here too (docs/adr/0043): each is known by
its ordinal in the stream, and a pair found to be two different children is never flagged again.
"""

from dataclasses import dataclass, replace
from typing import Final, assert_never
from uuid import UUID, uuid5

from bilet_identity.domain.errors import (
    DuplicateNeedsReview,
    DuplicateParticipant,
    ReviewAlreadyResolved,
    UnknownReview,
)
from bilet_identity.domain.internal import (
    RESERVATION_CATEGORY,
    ChildReserved,
    DuplicateReviewRequested,
    DuplicateReviewResolved,
    ReservationReleased,
    ReviewOutcome,
)

# Review ids are derived, never stored: the same id in every replica and after a rebuild.
_REVIEW_IDS: Final = UUID("6f1d3c52-2a8e-4f0b-9d47-0b1e2c3d4f43")


def review_id(reservation_key: str, ordinal: int) -> UUID:
    """The id of the `ordinal`-th (from 0) review request of a reservation."""
    return uuid5(_REVIEW_IDS, f"{reservation_key}/{ordinal}")


@dataclass(frozen=True, slots=True)
class ReviewAsked:
    holder: UUID  # the profile the review is about (kept, if it is the same child)
    person_key: str  # the name and birth date tried
    claimed_reservation_key: str | None  # the other СНИЛС tried; None: this one
    resolved: bool = False

    def pair(self) -> tuple[str, str | None]:
        return (self.person_key, self.claimed_reservation_key)


@dataclass(frozen=True, slots=True)
class Reservation:
    reservation_key: str
    holder: UUID | None  # None once released
    person_key: str | None
    reviews: tuple[ReviewAsked, ...] = ()
    # Pairs (person key, other СНИЛС key) the operator found to be another child than the holder.
    different_children: frozenset[tuple[str, str | None]] = frozenset()

    @property
    def reviews_requested(self) -> int:
        return len(self.reviews)

    def confirmed_different(self, person_key: str, claimed_key: str | None) -> bool:
        return (person_key, claimed_key) in self.different_children


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
    claimed_reservation_key: str | None = None


@dataclass(frozen=True, slots=True)
class ResolveReview:
    reservation_key: str
    ordinal: int
    outcome: ReviewOutcome
    merged_participant_id: UUID | None = None  # a second profile merged into the holder


Command = Reserve | Release | RequestReview | ResolveReview
ReservationEvent = (
    ChildReserved | ReservationReleased | DuplicateReviewRequested | DuplicateReviewResolved
)


def decide(command: Command, state: Reservation | None) -> list[ReservationEvent]:
    match command:
        case Reserve():
            return _reserve(command, state)
        case Release():
            return _release(command, state)
        case RequestReview():
            return _request_review(command, state)
        case ResolveReview():
            return _resolve_review(command, state)
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
    if holder is None or state is None:
        return []  # nobody holds it: nothing to review
    if state.confirmed_different(command.person_key, command.claimed_reservation_key):
        return []  # the operator said so already: never flagged again
    return [
        DuplicateReviewRequested(
            reservation_key=command.reservation_key,
            participant_id=holder,
            requested_by_school_id=command.requested_by_school_id,
            person_key=command.person_key,
            claimed_reservation_key=command.claimed_reservation_key,
        )
    ]


def _resolve_review(command: ResolveReview, state: Reservation | None) -> list[ReservationEvent]:
    if state is None or not 0 <= command.ordinal < len(state.reviews):
        raise UnknownReview()
    if state.reviews[command.ordinal].resolved:
        raise ReviewAlreadyResolved()
    return [
        DuplicateReviewResolved(
            reservation_key=command.reservation_key,
            ordinal=command.ordinal,
            outcome=command.outcome,
            merged_participant_id=command.merged_participant_id,
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
                current.reviews,
                current.different_children,
            )
        case ReservationReleased():
            return replace(current, holder=None, person_key=None)
        case DuplicateReviewRequested():
            asked = ReviewAsked(
                event.participant_id, event.person_key, event.claimed_reservation_key
            )
            return replace(current, reviews=(*current.reviews, asked))
        case DuplicateReviewResolved():
            return _resolved(current, event)
        case _:
            assert_never(event)


def _resolved(current: Reservation, event: DuplicateReviewResolved) -> Reservation:
    if not 0 <= event.ordinal < len(current.reviews):
        return current  # a resolution of nothing asked: nothing to close
    asked = current.reviews[event.ordinal]
    reviews = list(current.reviews)
    reviews[event.ordinal] = replace(asked, resolved=True)
    different = current.different_children
    if event.outcome is ReviewOutcome.DIFFERENT_CHILDREN:
        different = different | {asked.pair()}
    return replace(current, reviews=tuple(reviews), different_children=different)


def stream_id(reservation_key: str) -> str:
    return f"{RESERVATION_CATEGORY}-{reservation_key}"
