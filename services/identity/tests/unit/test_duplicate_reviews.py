"""Duplicate reviews resolved (docs/adr/0043), given / when / then on the deciders: a review is
resolved once, by its ordinal on the reservation; two different children are never flagged again;
a profile merged into another is closed and answers with the kept id."""

from uuid import UUID

import pytest

from bilet.contracts.catalogue.identity import ParticipantMerged
from bilet_identity.domain import participant
from bilet_identity.domain.errors import (
    InvalidDetails,
    ParticipantMergedAway,
    ReviewAlreadyResolved,
    UnknownReview,
)
from bilet_identity.domain.internal import (
    ChildReserved,
    DuplicateReviewRequested,
    DuplicateReviewResolved,
    ReviewOutcome,
)
from bilet_identity.domain.participant import MergeInto, MoveToSchool, Participant
from bilet_identity.domain.reservation import (
    RequestReview,
    Reservation,
    ReservationEvent,
    ResolveReview,
    decide,
    evolve,
    review_id,
)

KEY = "a" * 64
PERSON = "b" * 64
NAMESAKE = "c" * 64
OTHER_SNILS = "d" * 64
HOLDER = UUID("11111111-1111-4111-8111-111111111111")
DUPLICATE = UUID("22222222-2222-4222-8222-222222222222")
SCHOOL = UUID("33333333-3333-4333-8333-333333333333")
REGION = UUID("44444444-4444-4444-8444-444444444444")
RESERVED = ChildReserved(reservation_key=KEY, participant_id=HOLDER, person_key=PERSON)
SAME_NAME_OTHER_SNILS = DuplicateReviewRequested(
    reservation_key=KEY,
    participant_id=HOLDER,
    requested_by_school_id=SCHOOL,
    person_key=PERSON,
    claimed_reservation_key=OTHER_SNILS,
)
CLASH = DuplicateReviewRequested(
    reservation_key=KEY, participant_id=HOLDER, requested_by_school_id=SCHOOL, person_key=NAMESAKE
)


def given(*events: ReservationEvent) -> Reservation | None:
    state: Reservation | None = None
    for event in events:
        state = evolve(state, event)
    return state


def resolved(ordinal: int, outcome: ReviewOutcome) -> DuplicateReviewResolved:
    return DuplicateReviewResolved(reservation_key=KEY, ordinal=ordinal, outcome=outcome)


def test_review_ids_are_derived_from_the_reservation_and_the_ordinal() -> None:
    assert review_id(KEY, 0) == review_id(KEY, 0)
    assert len({review_id(KEY, 0), review_id(KEY, 1), review_id(OTHER_SNILS, 0)}) == 3


def test_given_a_review_asked_when_resolved_then_the_resolution_is_recorded() -> None:
    state = given(RESERVED, SAME_NAME_OTHER_SNILS, CLASH)
    command = ResolveReview(KEY, 1, ReviewOutcome.SAME_CHILD, DUPLICATE)
    assert decide(command, state) == [
        DuplicateReviewResolved(
            reservation_key=KEY,
            ordinal=1,
            outcome=ReviewOutcome.SAME_CHILD,
            merged_participant_id=DUPLICATE,
        )
    ]


@pytest.mark.parametrize("ordinal", [-1, 2])
def test_given_no_such_review_when_resolved_then_unknown_review(ordinal: int) -> None:
    with pytest.raises(UnknownReview):
        decide(
            ResolveReview(KEY, ordinal, ReviewOutcome.DIFFERENT_CHILDREN),
            given(RESERVED, CLASH),
        )
    with pytest.raises(UnknownReview):
        decide(ResolveReview(KEY, 0, ReviewOutcome.DIFFERENT_CHILDREN), None)


def test_given_a_resolved_review_when_resolved_again_then_refused_whatever_the_outcome() -> None:
    state = given(RESERVED, CLASH, resolved(0, ReviewOutcome.SAME_CHILD))
    for outcome in ReviewOutcome:
        with pytest.raises(ReviewAlreadyResolved):
            decide(ResolveReview(KEY, 0, outcome), state)


def test_given_two_different_children_when_the_pair_comes_again_then_no_review() -> None:
    state = given(RESERVED, SAME_NAME_OTHER_SNILS, resolved(0, ReviewOutcome.DIFFERENT_CHILDREN))
    assert state is not None
    assert state.confirmed_different(PERSON, OTHER_SNILS)
    assert decide(RequestReview(KEY, SCHOOL, PERSON, OTHER_SNILS), state) == []
    # Another pair on the same reservation is still a review.
    assert decide(RequestReview(KEY, SCHOOL, NAMESAKE), state) != []


def test_given_the_same_child_when_the_pair_comes_again_then_it_is_flagged_again() -> None:
    state = given(RESERVED, CLASH, resolved(0, ReviewOutcome.SAME_CHILD))
    assert state is not None
    assert not state.confirmed_different(NAMESAKE, None)
    assert decide(RequestReview(KEY, SCHOOL, NAMESAKE), state) == [CLASH]


ACTIVE = Participant(DUPLICATE, SCHOOL, REGION, 2019, 7, ())


def test_given_a_profile_when_merged_into_another_then_closed_answering_the_kept_id() -> None:
    merged = ParticipantMerged(participant_id=DUPLICATE, kept_participant_id=HOLDER)
    assert participant.decide(MergeInto(DUPLICATE, HOLDER), ACTIVE) == [merged]
    closed = participant.evolve(ACTIVE, merged)
    assert closed is not None
    assert closed.merged_into == HOLDER
    for command in (MergeInto(DUPLICATE, UUID(int=5)), MoveToSchool(DUPLICATE, None)):
        with pytest.raises(ParticipantMergedAway) as refused:
            participant.decide(command, closed)
        assert refused.value.kept == HOLDER
        assert refused.value.code == "participant_merged"


def test_given_a_profile_when_merged_into_itself_then_refused() -> None:
    with pytest.raises(InvalidDetails) as refused:
        participant.decide(MergeInto(DUPLICATE, DUPLICATE), ACTIVE)
    assert refused.value.field == "duplicate_participant_id"
