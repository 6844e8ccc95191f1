"""A participant: a pupil registered once, by their school, and what happens to their profile.

Stream `participant-<id>`. Decisions that involve personal data return `Unsealed` drafts (see
`bilet.contracts.drafts`); a registration's uniqueness nationwide is the reservation's decision
(`reservation`), taken in the same atomic append. Health data is sealed under a generation of the
participant's health key: a registration under the first, a correction under the one in force,
or, once a withdrawal destroyed it, under a new one if a consent covers health data again
(docs/adr/0026).
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Final, assert_never
from uuid import UUID

from bilet.contracts.catalogue.identity import (
    CorrectionReason,
    DepartureReason,
    ParticipantDetailsCorrected,
    ParticipantEnrolledInSeason,
    ParticipantLeftProgramme,
    ParticipantMerged,
    ParticipantMovedToSchool,
    ParticipantRegistered,
)
from bilet.contracts.drafts import Unsealed
from bilet.contracts.sealed import FIRST_GENERATION
from bilet.contracts.vocabulary import AccessibilityNeed
from bilet_identity.domain.eligibility import Ineligibility, ineligibility
from bilet_identity.domain.errors import (
    AlreadyEnrolled,
    InvalidDetails,
    NotEligible,
    NothingToCorrect,
    ParticipantAlreadyLeft,
    ParticipantExists,
    ParticipantMergedAway,
    SameSchool,
    SeasonNotAfterCurrent,
    UnknownParticipant,
    UnknownSchool,
    UnknownSeason,
)
from bilet_identity.domain.health import HEALTH_FIELDS, HealthConsent, health_generation
from bilet_identity.domain.people import (
    DEFAULT_AGE_BAND,
    FullName,
    GradeAgeBand,
    HealthLimitations,
    PersonalDetails,
    check_birth_date,
    check_citizenship,
)
from bilet_identity.domain.region import Region
from bilet_identity.domain.school import School
from bilet_identity.domain.season import SeasonRules, school_year
from bilet_identity.domain.snils import Snils


@dataclass(frozen=True, slots=True)
class Enrolment:
    season: int
    school_id: UUID
    region_id: UUID
    grade: int


@dataclass(frozen=True, slots=True)
class Participant:
    """What the deciders know of a participant: pseudonymous facts only, no personal data."""

    participant_id: UUID
    school_id: UUID
    region_id: UUID
    season: int
    grade: int
    enrolments: tuple[Enrolment, ...]
    # The generation of the health key the participant's health data is sealed under now.
    health_generation: int = FIRST_GENERATION
    # Set once the profile was merged into another one (docs/adr/0043): closed, never changed.
    merged_into: UUID | None = None
    # Set while the participant is out of the programme (docs/adr/0050): a move or a later
    # enrolment is their return.
    left: DepartureReason | None = None

    def enrolled_in(self, season: int) -> bool:
        return any(e.season == season for e in self.enrolments)


initial: Final[Participant | None] = None


@dataclass(frozen=True, slots=True)
class RegisterParticipant:
    participant_id: UUID
    season: int
    school: School | None
    school_region: Region | None
    residence: Region | None  # where the pupil lives; None: no region of the programme
    rules: SeasonRules | None  # the season's rules in force
    details: PersonalDetails
    grade: int
    citizenship: str
    accessibility_needs: tuple[AccessibilityNeed, ...] = ()
    age_band: GradeAgeBand = DEFAULT_AGE_BAND


@dataclass(frozen=True, slots=True)
class CorrectDetails:
    """Set what changes; None leaves a detail as it is. `current` is the plaintext in force,
    health data included (None where it is not known: any value given then is a change).
    `health_key_destroyed` says whether the key of the participant's health generation was
    destroyed, and `health_consent` what the consents say, both needed only when health data is
    stated (the application asks only then)."""

    participant_id: UUID
    reason: CorrectionReason
    current: PersonalDetails
    rules: SeasonRules | None  # of the participant's current season
    full_name: FullName | None = None
    birth_date: date | None = None
    snils: Snils | None = None
    health: HealthLimitations | None = None
    grade: int | None = None
    accessibility_needs: tuple[AccessibilityNeed, ...] | None = None
    health_key_destroyed: bool = False
    health_consent: HealthConsent | None = None
    age_band: GradeAgeBand = DEFAULT_AGE_BAND


@dataclass(frozen=True, slots=True)
class MoveToSchool:
    participant_id: UUID
    to_school: School | None
    grade: int | None = None  # None: the grade stays


@dataclass(frozen=True, slots=True)
class EnrolInSeason:
    """Take part in a later season, at the participant's current school."""

    participant_id: UUID
    season: int
    rules: SeasonRules | None
    school: School
    school_region: Region | None
    residence: Region | None
    citizenship: str
    grade: int


@dataclass(frozen=True, slots=True)
class Leave:
    """The participant leaves their school (for none of the programme's) or the programme."""

    participant_id: UUID
    reason: DepartureReason


@dataclass(frozen=True, slots=True)
class MergeInto:
    """Close this profile as a second one of the child who has `kept_participant_id`."""

    participant_id: UUID
    kept_participant_id: UUID


Command = RegisterParticipant | CorrectDetails | MoveToSchool | EnrolInSeason | MergeInto | Leave
ParticipantEvent = (
    ParticipantRegistered
    | ParticipantDetailsCorrected
    | ParticipantMovedToSchool
    | ParticipantEnrolledInSeason
    | ParticipantMerged
    | ParticipantLeftProgramme
)
Decision = (
    Unsealed[ParticipantRegistered]
    | Unsealed[ParticipantDetailsCorrected]
    | ParticipantMovedToSchool
    | ParticipantEnrolledInSeason
    | ParticipantMerged
    | ParticipantLeftProgramme
)


def decide(command: Command, state: Participant | None) -> list[Decision]:
    match command, state:
        case RegisterParticipant(), _:
            return [_register(command, state)]
        case _, None:
            raise UnknownParticipant()
        case _, Participant(merged_into=UUID() as kept):
            raise ParticipantMergedAway(kept)  # a closed profile: nothing changes it any more
        case MergeInto(), Participant():
            if command.kept_participant_id == state.participant_id:
                raise InvalidDetails(
                    "duplicate_participant_id", "A profile is not its own duplicate."
                )
            return [
                ParticipantMerged(
                    participant_id=state.participant_id,
                    kept_participant_id=command.kept_participant_id,
                )
            ]
        case CorrectDetails(), Participant():
            return list(_correct(command, state))  # a list of the wider Decision type
        case MoveToSchool(), Participant():
            return [_move(command, state)]
        case EnrolInSeason(), Participant():
            return [_enrol(command, state)]
        case Leave(), Participant():
            if state.left is not None:
                raise ParticipantAlreadyLeft()
            return [
                ParticipantLeftProgramme(
                    participant_id=state.participant_id,
                    school_id=state.school_id,
                    season=state.season,
                    reason=command.reason,
                )
            ]
        case _:
            assert_never(command)


def _distinct(needs: Sequence[AccessibilityNeed]) -> tuple[AccessibilityNeed, ...]:
    if len(set(needs)) != len(needs):
        raise InvalidDetails("accessibility_needs", "An accessibility need is listed twice.")
    return tuple(needs)


def _check_eligible(
    rules: SeasonRules,
    *,
    grade: int,
    citizenship: str,
    residence: Region | None,
    school_region: Region | None,
) -> None:
    reasons = list(
        ineligibility(
            rules, grade=grade, citizenship=check_citizenship(citizenship), residence=residence
        )
    )
    # The school acts for the pupil in its region: that region must take part in the season too.
    school_region_admitted = school_region is not None and school_region.admitted_in(rules.season)
    if not school_region_admitted and Ineligibility.REGION_NOT_ADMITTED not in reasons:
        reasons.append(Ineligibility.REGION_NOT_ADMITTED)
    if reasons:
        raise NotEligible(tuple(reasons))


def _register(
    command: RegisterParticipant, state: Participant | None
) -> Unsealed[ParticipantRegistered]:
    if state is not None:
        raise ParticipantExists(state.participant_id)
    school = command.school
    if school is None:
        raise UnknownSchool()
    rules = command.rules
    if rules is None or rules.season != command.season:
        raise UnknownSeason(command.season)
    check_birth_date(command.details.birth_date, rules.starts_on)
    command.age_band.check(command.details.birth_date, command.grade, school_year(rules.starts_on))
    needs = _distinct(command.accessibility_needs)
    _check_eligible(
        rules,
        grade=command.grade,
        citizenship=command.citizenship,
        residence=command.residence,
        school_region=command.school_region,
    )
    return Unsealed(
        ParticipantRegistered,
        clear={
            "participant_id": command.participant_id,
            "school_id": school.school_id,
            "region_id": school.region_id,
            "season": command.season,
            "grade": command.grade,
        },
        # Health data is sealed with the health key (the event's schema says which fields).
        personal={
            **command.details.plaintext(),
            "accessibility_needs": [need.value for need in needs],
        },
    )


def _correct(
    command: CorrectDetails, state: Participant
) -> list[Unsealed[ParticipantDetailsCorrected]]:
    given = (
        command.full_name,
        command.birth_date,
        command.snils,
        command.health,
        command.grade,
        command.accessibility_needs,
    )
    if all(value is None for value in given):
        raise NothingToCorrect()
    current = command.current
    personal: dict[str, object] = {}
    if command.full_name is not None and command.full_name != current.full_name:
        personal["full_name"] = command.full_name.plaintext()
    if command.birth_date is not None and command.birth_date != current.birth_date:
        if command.rules is not None:
            check_birth_date(command.birth_date, command.rules.starts_on)
        personal["birth_date"] = command.birth_date.isoformat()
    if command.snils is not None and command.snils != current.snils:
        personal["snils"] = command.snils.formatted
    if command.health is not None and command.health != current.health:
        personal["health_limitations"] = command.health.plaintext()
    clear: dict[str, object] = {"participant_id": state.participant_id, "reason": command.reason}
    if command.grade is not None and command.grade != state.grade:
        if command.rules is None or not command.rules.admits_grade(command.grade):
            raise NotEligible((Ineligibility.GRADE_OUT_OF_RANGE,))
        clear["grade"] = command.grade
    if command.rules is not None and (command.birth_date is not None or "grade" in clear):
        command.age_band.check(
            command.birth_date or current.birth_date,
            command.grade or state.grade,
            school_year(command.rules.starts_on),
        )
    if command.accessibility_needs is not None:
        needs = _distinct(command.accessibility_needs)
        if current.accessibility_needs is None or set(needs) != set(current.accessibility_needs):
            personal["accessibility_needs"] = [need.value for need in needs]
    if personal.keys() & HEALTH_FIELDS:
        clear["key_generation"] = health_generation(
            state.health_generation, command.health_key_destroyed, command.health_consent
        )
    if not personal and len(clear) == 2:
        return []  # everything is as stated already: nothing happened
    return [Unsealed(ParticipantDetailsCorrected, clear=clear, personal=personal)]


def _move(command: MoveToSchool, state: Participant) -> ParticipantMovedToSchool:
    school = command.to_school
    if school is None:
        raise UnknownSchool()
    if school.school_id == state.school_id:
        raise SameSchool()
    return ParticipantMovedToSchool(
        participant_id=state.participant_id,
        from_school_id=state.school_id,
        to_school_id=school.school_id,
        to_region_id=school.region_id,
        grade=state.grade if command.grade is None else command.grade,
    )


def _enrol(command: EnrolInSeason, state: Participant) -> ParticipantEnrolledInSeason:
    if state.enrolled_in(command.season):
        raise AlreadyEnrolled(command.season)
    if command.season < state.season:
        raise SeasonNotAfterCurrent(command.season)
    rules = command.rules
    if rules is None or rules.season != command.season:
        raise UnknownSeason(command.season)
    _check_eligible(
        rules,
        grade=command.grade,
        citizenship=command.citizenship,
        residence=command.residence,
        school_region=command.school_region,
    )
    return ParticipantEnrolledInSeason(
        participant_id=state.participant_id,
        season=command.season,
        school_id=command.school.school_id,
        region_id=command.school.region_id,
        grade=command.grade,
    )


def evolve(state: Participant | None, event: ParticipantEvent) -> Participant | None:
    match event, state:
        case ParticipantRegistered(), _:
            return Participant(
                participant_id=event.participant_id,
                school_id=event.school_id,
                region_id=event.region_id,
                season=event.season,
                grade=event.grade,
                enrolments=(
                    Enrolment(event.season, event.school_id, event.region_id, event.grade),
                ),
            )
        case _, None:
            return None  # a change before the registration: nothing to change
        case ParticipantDetailsCorrected(), Participant():
            grade = state.grade if event.grade is None else event.grade
            return replace(
                state,
                grade=grade,
                enrolments=_with_current(state, grade=grade),
                health_generation=event.key_generation or state.health_generation,
            )
        case ParticipantMovedToSchool(), Participant():
            return replace(
                state,
                school_id=event.to_school_id,
                region_id=event.to_region_id,
                grade=event.grade,
                left=None,  # a move to a school of the programme is a return
                enrolments=_with_current(
                    state,
                    grade=event.grade,
                    school_id=event.to_school_id,
                    region_id=event.to_region_id,
                ),
            )
        case ParticipantEnrolledInSeason(), Participant():
            enrolment = Enrolment(event.season, event.school_id, event.region_id, event.grade)
            return replace(
                state,
                school_id=event.school_id,
                region_id=event.region_id,
                season=event.season,
                grade=event.grade,
                enrolments=(*state.enrolments, enrolment),
                left=None,
            )
        case ParticipantMerged(), Participant():
            return replace(state, merged_into=event.kept_participant_id)
        case ParticipantLeftProgramme(), Participant():
            return replace(state, left=event.reason)
        case _:
            assert_never(event)


def _with_current(
    state: Participant,
    *,
    grade: int,
    school_id: UUID | None = None,
    region_id: UUID | None = None,
) -> tuple[Enrolment, ...]:
    """The enrolments with the current season's entry updated (a correction or a move)."""
    return tuple(
        replace(
            e,
            grade=grade,
            school_id=school_id or e.school_id,
            region_id=region_id or e.region_id,
        )
        if e.season == state.season
        else e
        for e in state.enrolments
    )


def stream_id(participant_id: UUID) -> str:
    return f"{ParticipantRegistered.stream_category}-{participant_id}"
