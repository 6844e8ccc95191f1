"""What identity keeps beside the published events: residence, citizenship, home schooling, the
reservation, and the guardian accounts the school linked."""

from uuid import UUID

import pytest

from bilet.contracts.catalogue.consent import Relationship
from bilet.contracts.drafts import Unsealed
from bilet_identity.domain.errors import TooManyGuardians, UnknownParticipant
from bilet_identity.domain.internal import (
    GuardianAccountLinked,
    ProfileRecorded,
    ReservationKeyChanged,
    SurnameIndexed,
)
from bilet_identity.domain.profile import (
    MAX_GUARDIANS,
    ChangeReservationKey,
    IndexSurname,
    LinkGuardian,
    Profile,
    RecordProfile,
    decide,
    evolve,
)

PID = UUID("6c1c1c1c-0000-4000-8000-000000000001")
REGION = UUID("b04673c4-e959-5e7b-b095-3d9da56889fb")
GUARDIAN = UUID("9a000000-0000-4000-8000-000000000001")
KEY = "a" * 64
SURNAME = ("b" * 64, "c" * 64)
PROFILE = Profile(PID, KEY, REGION)


def test_when_recorded_then_citizenship_and_home_schooling_are_to_be_sealed() -> None:
    [draft, indexed] = decide(RecordProfile(PID, KEY, REGION, "RU", True, SURNAME), None)
    assert indexed == SurnameIndexed(participant_id=PID, prefix_keys=list(SURNAME))
    assert isinstance(draft, Unsealed)
    assert draft.event_class is ProfileRecorded
    assert draft.stream_id == f"profile-{PID}"
    assert draft.clear == {
        "participant_id": PID,
        "reservation_key": KEY,
        "residence_region_id": REGION,
    }
    assert draft.personal == {"citizenship": "RU", "home_schooled": True}


def test_when_a_guardian_is_linked_then_linked_once() -> None:
    linked = GuardianAccountLinked(
        participant_id=PID, guardian_id=GUARDIAN, relationship=Relationship.PARENT
    )
    assert decide(LinkGuardian(PID, GUARDIAN, Relationship.PARENT), PROFILE) == [linked]
    state = evolve(PROFILE, linked)
    assert decide(LinkGuardian(PID, GUARDIAN, Relationship.PARENT), state) == []
    [changed] = decide(LinkGuardian(PID, GUARDIAN, Relationship.CUSTODIAN), state)
    assert isinstance(changed, GuardianAccountLinked)
    state = evolve(state, changed)
    assert state is not None
    assert [(g.guardian_id, g.relationship) for g in state.guardians] == [
        (GUARDIAN, Relationship.CUSTODIAN)
    ]


def test_at_most_four_guardians() -> None:
    state: Profile | None = PROFILE
    for n in range(MAX_GUARDIANS):
        guardian = UUID(int=n + 1)
        [event] = decide(LinkGuardian(PID, guardian, Relationship.PARENT), state)
        assert isinstance(event, GuardianAccountLinked)
        state = evolve(state, event)
    with pytest.raises(TooManyGuardians):
        decide(LinkGuardian(PID, UUID(int=99), Relationship.PARENT), state)


def test_guardians_and_reservation_changes_need_a_participant() -> None:
    with pytest.raises(UnknownParticipant):
        decide(LinkGuardian(PID, GUARDIAN, Relationship.PARENT), None)
    with pytest.raises(UnknownParticipant):
        decide(ChangeReservationKey(PID, "b" * 64), None)


def test_a_corrected_snils_moves_the_participants_reservation() -> None:
    assert decide(ChangeReservationKey(PID, KEY), PROFILE) == []
    [moved] = decide(ChangeReservationKey(PID, "b" * 64), PROFILE)
    assert moved == ReservationKeyChanged(participant_id=PID, reservation_key="b" * 64)
    state = evolve(PROFILE, moved)
    assert state is not None
    assert state.reservation_key == "b" * 64


def test_a_corrected_surname_is_indexed_anew_and_the_same_index_records_nothing() -> None:
    indexed = Profile(PID, KEY, REGION, surname_keys=SURNAME)
    assert decide(IndexSurname(PID, SURNAME), indexed) == []
    [event] = decide(IndexSurname(PID, ("d" * 64,)), indexed)
    assert isinstance(event, SurnameIndexed)
    assert evolve(indexed, event) == Profile(PID, KEY, REGION, surname_keys=("d" * 64,))
