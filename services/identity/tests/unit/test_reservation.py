"""One profile per child: the reservation of a СНИЛС (its keyed hash) decides duplicates."""

from uuid import UUID

import pytest

from bilet_identity.domain.errors import DuplicateNeedsReview, DuplicateParticipant
from bilet_identity.domain.internal import (
    INTERNAL_CATEGORIES,
    ChildReserved,
    DuplicateReviewRequested,
    ReservationReleased,
)
from bilet_identity.domain.reservation import (
    Release,
    RequestReview,
    Reservation,
    ReservationEvent,
    Reserve,
    decide,
    evolve,
    stream_id,
)

KEY = "a" * 64
PERSON = "b" * 64
OTHER_PERSON = "c" * 64
FIRST = UUID("11111111-1111-4111-8111-111111111111")
SECOND = UUID("22222222-2222-4222-8222-222222222222")
SCHOOL = UUID("33333333-3333-4333-8333-333333333333")
RESERVED = ChildReserved(reservation_key=KEY, participant_id=FIRST, person_key=PERSON)


def given(*events: ReservationEvent) -> Reservation | None:
    state: Reservation | None = None
    for event in events:
        state = evolve(state, event)
    return state


def test_the_reservation_stream_is_internal_and_named_by_the_keyed_hash_only() -> None:
    assert stream_id(KEY) == f"reservation-{KEY}"
    assert "reservation" in INTERNAL_CATEGORIES
    assert set(ChildReserved.model_fields) == {"reservation_key", "participant_id", "person_key"}


def test_given_no_reservation_when_reserved_then_the_participant_holds_it() -> None:
    assert decide(Reserve(KEY, FIRST, PERSON), given()) == [RESERVED]


def test_given_held_when_the_same_child_is_registered_again_then_duplicate_participant() -> None:
    with pytest.raises(DuplicateParticipant) as refused:
        decide(Reserve(KEY, SECOND, PERSON), given(RESERVED))
    assert refused.value.existing == FIRST
    assert refused.value.code == "duplicate_participant"


def test_given_held_when_another_name_or_birth_date_comes_then_needs_review() -> None:
    with pytest.raises(DuplicateNeedsReview) as refused:
        decide(Reserve(KEY, SECOND, OTHER_PERSON), given(RESERVED))
    assert refused.value.existing == FIRST
    assert refused.value.code == "duplicate_needs_review"


def test_given_held_when_the_holder_reserves_again_then_nothing_or_a_new_person_key() -> None:
    assert decide(Reserve(KEY, FIRST, PERSON), given(RESERVED)) == []
    [updated] = decide(Reserve(KEY, FIRST, OTHER_PERSON), given(RESERVED))
    state = given(RESERVED, updated)
    assert state is not None
    assert state.person_key == OTHER_PERSON


def test_given_released_when_reserved_by_another_then_it_is_theirs() -> None:
    [released] = decide(Release(KEY, FIRST), given(RESERVED))
    assert released == ReservationReleased(reservation_key=KEY, participant_id=FIRST)
    assert decide(Reserve(KEY, SECOND, OTHER_PERSON), given(RESERVED, released)) == [
        ChildReserved(reservation_key=KEY, participant_id=SECOND, person_key=OTHER_PERSON)
    ]


def test_only_the_holder_releases() -> None:
    assert decide(Release(KEY, SECOND), given(RESERVED)) == []
    assert decide(Release(KEY, FIRST), given()) == []


def test_a_review_request_is_recorded_against_the_holder() -> None:
    [flag] = decide(RequestReview(KEY, SCHOOL, OTHER_PERSON), given(RESERVED))
    assert flag == DuplicateReviewRequested(
        reservation_key=KEY,
        participant_id=FIRST,
        requested_by_school_id=SCHOOL,
        person_key=OTHER_PERSON,
    )
    state = given(RESERVED, flag)
    assert state is not None
    assert (state.holder, state.reviews_requested) == (FIRST, 1)
    assert decide(RequestReview(KEY, SCHOOL, OTHER_PERSON), given()) == []


def test_keys_are_keyed_hashes_never_values() -> None:
    with pytest.raises(ValueError, match="pattern"):
        ChildReserved(reservation_key="11223344595", participant_id=FIRST, person_key=PERSON)
