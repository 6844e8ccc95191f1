"""What identity keeps about a participant beyond the published events (stream
`profile-<participant id>`, never relayed): residence, citizenship and home schooling as stated at
registration, the participant's reservation, and the guardian accounts the school linked."""

from dataclasses import dataclass, replace
from typing import Final
from uuid import UUID

from bilet.contracts.catalogue.consent import Relationship
from bilet.contracts.drafts import Unsealed
from bilet_identity.domain.errors import TooManyGuardians, UnknownParticipant
from bilet_identity.domain.internal import (
    PROFILE_CATEGORY,
    GuardianAccountLinked,
    ProfileRecorded,
    ReservationKeyChanged,
)

MAX_GUARDIANS: Final = 4


@dataclass(frozen=True, slots=True)
class LinkedGuardian:
    guardian_id: UUID
    relationship: Relationship


@dataclass(frozen=True, slots=True)
class Profile:
    participant_id: UUID
    reservation_key: str
    residence_region_id: UUID
    guardians: tuple[LinkedGuardian, ...] = ()


initial: Final[Profile | None] = None


@dataclass(frozen=True, slots=True)
class RecordProfile:
    participant_id: UUID
    reservation_key: str
    residence_region_id: UUID
    citizenship: str
    home_schooled: bool


@dataclass(frozen=True, slots=True)
class ChangeReservationKey:
    participant_id: UUID
    reservation_key: str


@dataclass(frozen=True, slots=True)
class LinkGuardian:
    participant_id: UUID
    guardian_id: UUID
    relationship: Relationship


Command = RecordProfile | ChangeReservationKey | LinkGuardian
ProfileEvent = ProfileRecorded | ReservationKeyChanged | GuardianAccountLinked
Decision = Unsealed[ProfileRecorded] | ReservationKeyChanged | GuardianAccountLinked


def decide(command: Command, state: Profile | None) -> list[Decision]:
    if isinstance(command, RecordProfile):
        return [
            Unsealed(
                ProfileRecorded,
                clear={
                    "participant_id": command.participant_id,
                    "reservation_key": command.reservation_key,
                    "residence_region_id": command.residence_region_id,
                },
                personal={
                    "citizenship": command.citizenship,
                    "home_schooled": command.home_schooled,
                },
            )
        ]
    if state is None:
        raise UnknownParticipant()
    if isinstance(command, ChangeReservationKey):
        if command.reservation_key == state.reservation_key:
            return []
        return [
            ReservationKeyChanged(
                participant_id=command.participant_id, reservation_key=command.reservation_key
            )
        ]
    linked = LinkedGuardian(command.guardian_id, command.relationship)
    if linked in state.guardians:
        return []
    others = [g for g in state.guardians if g.guardian_id != command.guardian_id]
    if len(others) >= MAX_GUARDIANS:
        raise TooManyGuardians(MAX_GUARDIANS)
    return [
        GuardianAccountLinked(
            participant_id=command.participant_id,
            guardian_id=command.guardian_id,
            relationship=command.relationship,
        )
    ]


def evolve(state: Profile | None, event: ProfileEvent) -> Profile | None:
    if isinstance(event, ProfileRecorded):
        return Profile(
            event.participant_id,
            event.reservation_key,
            event.residence_region_id,
            state.guardians if state else (),
        )
    if state is None:
        return None
    if isinstance(event, ReservationKeyChanged):
        return replace(state, reservation_key=event.reservation_key)
    guardians = tuple(g for g in state.guardians if g.guardian_id != event.guardian_id)
    return replace(
        state, guardians=(*guardians, LinkedGuardian(event.guardian_id, event.relationship))
    )


def stream_id(participant_id: UUID) -> str:
    return f"{PROFILE_CATEGORY}-{participant_id}"
