"""What identity keeps about a participant beyond the published events (stream
`profile-<participant id>`, never relayed): residence, citizenship and home schooling as stated at
registration, the participant's reservation, the blind index of their surname and the letter of
their class (docs/adr/0041), and the guardian accounts the school linked."""

from dataclasses import dataclass, replace
from typing import Final, assert_never
from uuid import UUID

from bilet.contracts.catalogue.consent import Relationship
from bilet.contracts.drafts import Unsealed
from bilet_identity.domain.errors import GuardianNotLinked, TooManyGuardians, UnknownParticipant
from bilet_identity.domain.internal import (
    PROFILE_CATEGORY,
    ClassLetterRecorded,
    GuardianAccountLinked,
    GuardianAccountUnlinked,
    ProfileRecorded,
    ReservationKeyChanged,
    SurnameIndexed,
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
    surname_keys: tuple[str, ...] = ()
    class_letter: str | None = None


initial: Final[Profile | None] = None


@dataclass(frozen=True, slots=True)
class RecordProfile:
    participant_id: UUID
    reservation_key: str
    residence_region_id: UUID
    citizenship: str
    home_schooled: bool
    surname_keys: tuple[str, ...]
    class_letter: str | None = None


@dataclass(frozen=True, slots=True)
class IndexSurname:
    """The surname's blind index, anew (the surname was corrected)."""

    participant_id: UUID
    surname_keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RecordClassLetter:
    """The letter of the pupil's class, or None: none any more (removed, or a move)."""

    participant_id: UUID
    class_letter: str | None


@dataclass(frozen=True, slots=True)
class ChangeReservationKey:
    participant_id: UUID
    reservation_key: str


@dataclass(frozen=True, slots=True)
class LinkGuardian:
    participant_id: UUID
    guardian_id: UUID
    relationship: Relationship


@dataclass(frozen=True, slots=True)
class UnlinkGuardian:
    participant_id: UUID
    guardian_id: UUID


Command = (
    RecordProfile
    | IndexSurname
    | RecordClassLetter
    | ChangeReservationKey
    | LinkGuardian
    | UnlinkGuardian
)
ProfileEvent = (
    ProfileRecorded
    | SurnameIndexed
    | ClassLetterRecorded
    | ReservationKeyChanged
    | GuardianAccountLinked
    | GuardianAccountUnlinked
)
Decision = (
    Unsealed[ProfileRecorded]
    | SurnameIndexed
    | ClassLetterRecorded
    | ReservationKeyChanged
    | GuardianAccountLinked
    | GuardianAccountUnlinked
)


def decide(command: Command, state: Profile | None) -> list[Decision]:
    match command, state:
        case RecordProfile(), _:
            letter = (
                []
                if command.class_letter is None
                else [_lettered(command.participant_id, command.class_letter)]
            )
            return [
                _record(command),
                *_indexed(command.participant_id, command.surname_keys),
                *letter,
            ]
        case _, None:
            raise UnknownParticipant()
        case RecordClassLetter(), Profile():
            if command.class_letter == state.class_letter:
                return []
            return [_lettered(command.participant_id, command.class_letter)]
        case IndexSurname(), Profile():
            if command.surname_keys == state.surname_keys:
                return []
            return list(_indexed(command.participant_id, command.surname_keys))
        case ChangeReservationKey(), Profile():
            if command.reservation_key == state.reservation_key:
                return []
            return [
                ReservationKeyChanged(
                    participant_id=command.participant_id,
                    reservation_key=command.reservation_key,
                )
            ]
        case LinkGuardian(), Profile():
            return _link(command, state)
        case UnlinkGuardian(), Profile():
            if all(g.guardian_id != command.guardian_id for g in state.guardians):
                raise GuardianNotLinked()
            return [
                GuardianAccountUnlinked(
                    participant_id=command.participant_id, guardian_id=command.guardian_id
                )
            ]
        case _:
            assert_never(command)


def _record(command: RecordProfile) -> Unsealed[ProfileRecorded]:
    return Unsealed(
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


def _lettered(participant_id: UUID, class_letter: str | None) -> ClassLetterRecorded:
    return ClassLetterRecorded(participant_id=participant_id, class_letter=class_letter)


def _indexed(participant_id: UUID, surname_keys: tuple[str, ...]) -> tuple[SurnameIndexed, ...]:
    """The index, when there is one (a surname has a letter at least; a caller without one
    indexes nothing rather than an empty index)."""
    if not surname_keys:
        return ()
    return (SurnameIndexed(participant_id=participant_id, prefix_keys=list(surname_keys)),)


def _link(command: LinkGuardian, state: Profile) -> list[Decision]:
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
    match event, state:
        case ProfileRecorded(), _:
            return Profile(
                event.participant_id,
                event.reservation_key,
                event.residence_region_id,
                state.guardians if state else (),
                state.surname_keys if state else (),
                state.class_letter if state else None,
            )
        case _, None:
            return None  # a change before the profile was recorded: nothing to change
        case ClassLetterRecorded(), Profile():
            return replace(state, class_letter=event.class_letter)
        case SurnameIndexed(), Profile():
            return replace(state, surname_keys=tuple(event.prefix_keys))
        case ReservationKeyChanged(), Profile():
            return replace(state, reservation_key=event.reservation_key)
        case GuardianAccountLinked(), Profile():
            # A guardian linked again with another relationship: the later link replaces it.
            guardians = tuple(g for g in state.guardians if g.guardian_id != event.guardian_id)
            linked = LinkedGuardian(event.guardian_id, event.relationship)
            return replace(state, guardians=(*guardians, linked))
        case GuardianAccountUnlinked(), Profile():
            kept = tuple(g for g in state.guardians if g.guardian_id != event.guardian_id)
            return replace(state, guardians=kept)
        case _:
            assert_never(event)


def stream_id(participant_id: UUID) -> str:
    return f"{PROFILE_CATEGORY}-{participant_id}"
