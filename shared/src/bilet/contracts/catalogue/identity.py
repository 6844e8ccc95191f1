"""Events of the identity service (topic `bilet.identity`): the programme's seasons and regions,
schools, and participants registered by their schools.

The de-duplication key of a child (ФИО + date of birth + СНИЛС) never leaves the service: it
keeps its own uniqueness reservations. Published events carry the opaque participant id, and the
personal data only sealed with the participant's key; health data (ОВЗ and the accessibility
needs derived from it) sealed with the participant's health key, so that it can be destroyed
alone (docs/adr/0017), and stated again under a new generation of it once a new consent covers it
(docs/adr/0026).
"""

from datetime import date
from enum import StrEnum
from typing import ClassVar, Self
from uuid import UUID

from pydantic import Field, model_validator

from bilet.contracts.base import DomainEvent
from bilet.contracts.registry import JsonObject, published, upcaster
from bilet.contracts.sealed import (
    ERASED_VALUE,
    FIRST_GENERATION,
    KeyScope,
    Sealed,
    key_generation_field,
    personal,
)
from bilet.contracts.vocabulary import (
    AccessibilityNeeds,
    Grade,
    GradeRange,
    RegionCode,
    Season,
    Stage,
    TimeZone,
    public_text,
)

FULL_NAME: str = 'object {"last_name": string, "first_name": string, "patronymic": string | null}'
BIRTH_DATE: str = "string, ISO 8601 date"
SNILS: str = 'string, the canonical form "XXX-XXX-XXX YY"'
HEALTH_LIMITATIONS: str = (
    'object {"has_limitations": boolean, "kind": string | null} (ОВЗ: special category data)'
)
ACCESSIBILITY_NEEDS: str = (
    "array of strings from the closed list AccessibilityNeed, each once; empty when none are"
    " needed (derived from health data: special category data)"
)


class IdentityEvent(DomainEvent):
    service: ClassVar[str] = "identity"


# ---------------------------------------------------------------------- the programme and regions
@published
class SeasonRulesPublishedV1(IdentityEvent):
    """The federal operator published (or revised) the rules of a season: which grades may take
    part, how many career events a participant may attend, which diagnostics stages run.

    Rules change every year and may be revised within one: the highest `rules_version` of a
    season is in force. Consumers never hard-code what this event says.

    Superseded by version 2 (the day a revision applies from); read through the upcaster."""

    event_type: ClassVar[str] = "SeasonRulesPublished"
    schema_version: ClassVar[int] = 1
    stream_category: ClassVar[str] = "season"
    stream_key: ClassVar[str] = "season"

    season: Season
    rules_version: int = Field(ge=1, description="Revision of this season's rules, from 1.")
    eligible_grades: GradeRange
    max_career_events: int = Field(
        ge=1, le=10, description="How many career events one participant may attend (3 in 2019)."
    )
    diagnostics_stages: tuple[Stage, ...] = Field(
        min_length=1, max_length=3, description="The diagnostics stages, in the order they run."
    )
    starts_on: date
    ends_on: date

    @model_validator(mode="after")
    def _in_order(self) -> Self:
        if self.ends_on < self.starts_on:
            raise ValueError("the season ends before it starts")
        return self


@published
class SeasonRulesPublished(IdentityEvent):
    """The federal operator published (or revised) the rules of a season: which grades may take
    part, how many career events a participant may attend, which diagnostics stages run.

    Rules change every year and may be revised within one. A revision of a season that has
    started never rewrites its past: it applies from `applies_from` (the day it was published),
    and until then the version before it is in force; what was done under a version (a result
    scored, a place booked) keeps that version. The version in force on a day is the highest
    whose `applies_from` is on or before it. Consumers never hard-code what this event says.

    Version 2 adds `applies_from`; version 1 revisions are read as applying from the season's
    start (what consumers assumed of them: the highest version governed the whole season)."""

    event_type: ClassVar[str] = "SeasonRulesPublished"
    schema_version: ClassVar[int] = 2
    stream_category: ClassVar[str] = "season"
    stream_key: ClassVar[str] = "season"

    season: Season
    rules_version: int = Field(ge=1, description="Revision of this season's rules, from 1.")
    eligible_grades: GradeRange
    max_career_events: int = Field(
        ge=1, le=10, description="How many career events one participant may attend (3 in 2019)."
    )
    diagnostics_stages: tuple[Stage, ...] = Field(
        min_length=1, max_length=3, description="The diagnostics stages, in the order they run."
    )
    starts_on: date
    ends_on: date
    applies_from: date = Field(
        description="The day this version is in force from: the season's start for a version "
        "published before it, the day of publication for a revision of a running season."
    )

    @model_validator(mode="after")
    def _in_order(self) -> Self:
        if self.ends_on < self.starts_on:
            raise ValueError("the season ends before it starts")
        if not self.starts_on <= self.applies_from <= self.ends_on:
            raise ValueError("a version applies from a day of its season")
        return self


@upcaster("SeasonRulesPublished", from_version=1)
def _season_rules_v1_to_v2(data: JsonObject) -> JsonObject:
    return {**data, "applies_from": data["starts_on"]}


@published
class RegionAdmitted(IdentityEvent):
    """A region won the competition and is admitted to the programme for a season; its regional
    coordinator organises it. Only pupils living in admitted regions may take part."""

    event_type: ClassVar[str] = "RegionAdmitted"
    stream_category: ClassVar[str] = "region"
    stream_key: ClassVar[str] = "region_id"

    region_id: UUID
    region_code: RegionCode
    name: str = public_text("Official name of the region, e.g. «Ленинградская область».")
    season: Season
    time_zone: TimeZone
    coordinator: str = public_text(
        "The regional coordinator organisation (an organisation, never a person)."
    )


@published
class DiagnosticsWindowScheduled(IdentityEvent):
    """A region set the dates on which its participants take the online diagnostics of a season
    (Leningrad oblast 2019: 11–31 October). Dates are local to the region's time zone, both
    included; a later window for the same season and stages replaces the earlier one."""

    event_type: ClassVar[str] = "DiagnosticsWindowScheduled"
    stream_category: ClassVar[str] = "region"
    stream_key: ClassVar[str] = "region_id"

    region_id: UUID
    season: Season
    stages: tuple[Stage, ...] = Field(min_length=1, max_length=3)
    opens_on: date
    closes_on: date

    @model_validator(mode="after")
    def _in_order(self) -> Self:
        if self.closes_on < self.opens_on:
            raise ValueError("the window closes before it opens")
        return self


@published
class SchoolRegistered(IdentityEvent):
    """A general-education school joined the programme in an admitted region. Only schools
    register participants (a home-schooled pupil through the school they are attached to)."""

    event_type: ClassVar[str] = "SchoolRegistered"
    stream_category: ClassVar[str] = "school"
    stream_key: ClassVar[str] = "school_id"

    school_id: UUID
    region_id: UUID
    name: str = public_text("Official short name, e.g. МОУ «СОШ № 3».")
    municipality: str = public_text("Municipal district or city, e.g. Лужский муниципальный район.")


# ---------------------------------------------------------------------- participants
class _Participant(IdentityEvent):
    stream_category: ClassVar[str] = "participant"
    stream_key: ClassVar[str] = "participant_id"


@published
class ParticipantRegisteredV1(_Participant):
    """A school registered a pupil as a participant (the 2019 pilot's form: no season).

    Superseded by version 2; read through the upcaster."""

    event_type: ClassVar[str] = "ParticipantRegistered"
    schema_version: ClassVar[int] = 1

    participant_id: UUID
    school_id: UUID
    region_id: UUID
    grade: Grade
    full_name: Sealed = personal("ФИО.", FULL_NAME)
    birth_date: Sealed = personal("Date of birth.", BIRTH_DATE)
    snils: Sealed = personal("СНИЛС.", SNILS)
    health_limitations: Sealed = personal(
        "Health limitations (ОВЗ) and their kind.", HEALTH_LIMITATIONS
    )
    accessibility_needs: AccessibilityNeeds


@published
class ParticipantRegisteredV2(_Participant):
    """A school registered a pupil of an admitted region as a participant of a season.

    The pupil is one person, once: the identity service refused a second profile with the same
    ФИО, date of birth and СНИЛС. Personal data is sealed with the participant's key; what other
    services may act on is in the clear: school, region, season, grade and the accessibility-needs
    summary (never the health limitations themselves).

    Version 2 (season 2020) states the season: a grade means nothing without its school year.
    Version 1 events were written only in the 2019 pilot, so the upcaster sets 2019.

    Superseded by version 3 (health data sealed apart); read through the upcaster."""

    event_type: ClassVar[str] = "ParticipantRegistered"
    schema_version: ClassVar[int] = 2

    participant_id: UUID
    school_id: UUID
    region_id: UUID
    season: Season
    grade: Grade
    full_name: Sealed = personal("ФИО.", FULL_NAME)
    birth_date: Sealed = personal("Date of birth.", BIRTH_DATE)
    snils: Sealed = personal("СНИЛС.", SNILS)
    health_limitations: Sealed = personal(
        "Health limitations (ОВЗ) and their kind.", HEALTH_LIMITATIONS
    )
    accessibility_needs: AccessibilityNeeds


@published
class ParticipantRegistered(_Participant):
    """A school registered a pupil of an admitted region as a participant of a season.

    The pupil is one person, once: the identity service refused a second profile with the same
    ФИО, date of birth and СНИЛС. Personal data is sealed with the participant's key; health data
    (the health limitations and the accessibility needs derived from them, a special category
    under 152-FZ art. 10) with the participant's health key, which a withdrawal of the consent to
    process health data destroys alone. What other services may act on is in the clear: school,
    region, season and grade.

    Version 3 seals the accessibility needs (in the clear in v2) and moves the health limitations
    to the health key. An upcaster holds no key, so it cannot seal: v1/v2 health fields read as
    erased (withheld), never in the clear (docs/adr/0017)."""

    event_type: ClassVar[str] = "ParticipantRegistered"
    schema_version: ClassVar[int] = 3

    participant_id: UUID
    school_id: UUID
    region_id: UUID
    season: Season
    grade: Grade
    full_name: Sealed = personal("ФИО.", FULL_NAME)
    birth_date: Sealed = personal("Date of birth.", BIRTH_DATE)
    snils: Sealed = personal("СНИЛС.", SNILS)
    health_limitations: Sealed = personal(
        "Health limitations (ОВЗ) and their kind.", HEALTH_LIMITATIONS, scope=KeyScope.HEALTH
    )
    accessibility_needs: Sealed = personal(
        "Accommodations the participant needs.", ACCESSIBILITY_NEEDS, scope=KeyScope.HEALTH
    )


PILOT_SEASON: int = 2019


@upcaster("ParticipantRegistered", from_version=1)
def _participant_registered_v1_to_v2(data: JsonObject) -> JsonObject:
    # Version 1 was the 2019 pilot's form, the only season that ever wrote it.
    return {**data, "season": PILOT_SEASON}


# What an upcast health field holds: health data written before it had a key of its own cannot be
# destroyed apart from the rest, and an upcaster holds no key to seal it anew, so it is withheld.
_WITHHELD: JsonObject = ERASED_VALUE.model_dump(mode="json")
_HEALTH_FIELDS = ("health_limitations", "accessibility_needs")


def _health_withheld(data: JsonObject) -> JsonObject:
    """The data with each health field that is set (even to no needs at all) withheld."""
    return {
        **data,
        **{name: dict(_WITHHELD) for name in _HEALTH_FIELDS if data.get(name) is not None},
    }


@upcaster("ParticipantRegistered", from_version=2)
def _participant_registered_v2_to_v3(data: JsonObject) -> JsonObject:
    return _health_withheld(data)


class CorrectionReason(StrEnum):
    """Why a participant's details were corrected."""

    TYPING_ERROR = "typing_error"
    DOCUMENT_CHANGED = "document_changed"  # e.g. a new surname, a corrected СНИЛС
    HEALTH_STATUS_CHANGED = "health_status_changed"
    GRADE_CORRECTED = "grade_corrected"


_NOT_CORRECTED = frozenset({"participant_id", "reason"})
# Naming the health key's generation corrects nothing by itself.
_NOT_CORRECTED_V3 = _NOT_CORRECTED | {"key_generation"}


@published
class ParticipantDetailsCorrectedV1(_Participant):
    """The school corrected a participant's details. Every field that is set replaces the
    previous value; a field left null is unchanged. Sealed fields are sealed anew.

    Superseded by version 2 (health data sealed apart); read through the upcaster."""

    event_type: ClassVar[str] = "ParticipantDetailsCorrected"

    participant_id: UUID
    reason: CorrectionReason
    grade: Grade | None = None
    full_name: Sealed | None = personal("ФИО.", FULL_NAME, default=None)
    birth_date: Sealed | None = personal("Date of birth.", BIRTH_DATE, default=None)
    snils: Sealed | None = personal("СНИЛС.", SNILS, default=None)
    health_limitations: Sealed | None = personal(
        "Health limitations (ОВЗ) and their kind.", HEALTH_LIMITATIONS, default=None
    )
    accessibility_needs: AccessibilityNeeds | None = None

    @model_validator(mode="after")
    def _corrects_something(self) -> Self:
        corrected = (name for name in type(self).model_fields if name not in _NOT_CORRECTED)
        if all(getattr(self, name) is None for name in corrected):
            raise ValueError("a correction changes at least one field")
        return self


@published
class ParticipantDetailsCorrectedV2(_Participant):
    """The school corrected a participant's details. Every field that is set replaces the
    previous value; a field left null is unchanged. Sealed fields are sealed anew, health data
    (health limitations, accessibility needs) with the participant's health key.

    Version 2 seals the accessibility needs (in the clear in v1) and moves the health limitations
    to the health key; v1 health fields read as erased (withheld), as in `ParticipantRegistered`
    v3.

    Superseded by version 3 (the health key's generation); read through the upcaster."""

    event_type: ClassVar[str] = "ParticipantDetailsCorrected"
    schema_version: ClassVar[int] = 2

    participant_id: UUID
    reason: CorrectionReason
    grade: Grade | None = None
    full_name: Sealed | None = personal("ФИО.", FULL_NAME, default=None)
    birth_date: Sealed | None = personal("Date of birth.", BIRTH_DATE, default=None)
    snils: Sealed | None = personal("СНИЛС.", SNILS, default=None)
    health_limitations: Sealed | None = personal(
        "Health limitations (ОВЗ) and their kind.",
        HEALTH_LIMITATIONS,
        scope=KeyScope.HEALTH,
        default=None,
    )
    accessibility_needs: Sealed | None = personal(
        "Accommodations the participant needs.",
        ACCESSIBILITY_NEEDS,
        scope=KeyScope.HEALTH,
        default=None,
    )

    @model_validator(mode="after")
    def _corrects_something(self) -> Self:
        corrected = (name for name in type(self).model_fields if name not in _NOT_CORRECTED)
        if all(getattr(self, name) is None for name in corrected):
            raise ValueError("a correction changes at least one field")
        return self


@published
class ParticipantDetailsCorrected(_Participant):
    """The school corrected a participant's details. Every field that is set replaces the
    previous value; a field left null is unchanged. Sealed fields are sealed anew, health data
    (health limitations, accessibility needs) with the participant's health key of the generation
    `key_generation` names.

    Version 3 names that generation (docs/adr/0026): after a withdrawal of the consent to process
    health data destroyed the health key, a new consent covering it lets the school state it
    again under a new generation, while what the destroyed one sealed stays unreadable. Versions
    1 and 2 are read as of the first generation (the key every earlier event was sealed with)."""

    event_type: ClassVar[str] = "ParticipantDetailsCorrected"
    schema_version: ClassVar[int] = 3

    participant_id: UUID
    reason: CorrectionReason
    grade: Grade | None = None
    full_name: Sealed | None = personal("ФИО.", FULL_NAME, default=None)
    birth_date: Sealed | None = personal("Date of birth.", BIRTH_DATE, default=None)
    snils: Sealed | None = personal("СНИЛС.", SNILS, default=None)
    health_limitations: Sealed | None = personal(
        "Health limitations (ОВЗ) and their kind.",
        HEALTH_LIMITATIONS,
        scope=KeyScope.HEALTH,
        default=None,
    )
    accessibility_needs: Sealed | None = personal(
        "Accommodations the participant needs.",
        ACCESSIBILITY_NEEDS,
        scope=KeyScope.HEALTH,
        default=None,
    )
    key_generation: int | None = key_generation_field(
        KeyScope.HEALTH,
        "The generation of the health key that seals the health fields set here (1: the first,"
        " sealed as every earlier event was); set exactly when a health field is.",
        default=None,
    )

    @model_validator(mode="after")
    def _corrects_something(self) -> Self:
        corrected = (name for name in type(self).model_fields if name not in _NOT_CORRECTED_V3)
        if all(getattr(self, name) is None for name in corrected):
            raise ValueError("a correction changes at least one field")
        return self

    @model_validator(mode="after")
    def _generation_with_health(self) -> Self:
        states_health = any(getattr(self, name) is not None for name in _HEALTH_FIELDS)
        if states_health != (self.key_generation is not None):
            raise ValueError("key_generation is set exactly when a health field is")
        return self


@upcaster("ParticipantDetailsCorrected", from_version=1)
def _details_corrected_v1_to_v2(data: JsonObject) -> JsonObject:
    return _health_withheld(data)


@upcaster("ParticipantDetailsCorrected", from_version=2)
def _details_corrected_v2_to_v3(data: JsonObject) -> JsonObject:
    # Everything sealed before generations was sealed with the first generation's key.
    states_health = any(data.get(name) is not None for name in _HEALTH_FIELDS)
    return {**data, "key_generation": FIRST_GENERATION if states_health else None}


@published
class ParticipantMovedToSchool(_Participant):
    """A participant changed schools; the new school (possibly in another region) now acts for
    them, and its navigator sees their portfolio. A move to a region not admitted in the season
    ends their participation there (consumers decide what that means for bookings)."""

    event_type: ClassVar[str] = "ParticipantMovedToSchool"

    participant_id: UUID
    from_school_id: UUID
    to_school_id: UUID
    to_region_id: UUID
    grade: Grade


@published
class ParticipantMerged(_Participant):
    """The federal operator found this profile to be a second one of a child who has a profile
    already (a duplicate review, docs/adr/0043): this profile is closed, and what was recorded
    under it belongs to `kept_participant_id` from now on. A consumer re-points what it keys by
    this participant to the kept one (or keeps a redirect); nothing is recorded under this id
    any more. The kept profile is not changed by the merge."""

    event_type: ClassVar[str] = "ParticipantMerged"

    participant_id: UUID
    kept_participant_id: UUID


class DepartureReason(StrEnum):
    """Why a participant stopped taking part (the school says; never a person's details)."""

    LEFT_SCHOOL = "left_school"  # left the school for none of the programme's schools
    LEFT_PROGRAMME = "left_programme"  # stays at the school, no longer takes part


@published
class ParticipantLeftProgramme(_Participant):
    """A participant stopped taking part in the programme at `school_id` in `season`: they left
    the school (for none of the programme's schools) or the programme. The school no longer
    lists them or chases their consent; their history stays theirs. A later move to a school or
    enrolment in a later season is their return (docs/adr/0050)."""

    event_type: ClassVar[str] = "ParticipantLeftProgramme"

    participant_id: UUID
    school_id: UUID
    season: Season
    reason: DepartureReason


@published
class ParticipantEnrolledInSeason(_Participant):
    """A registered participant takes part in another season (a new school year), at the grade
    and school they have in it. Their history of earlier seasons stays theirs."""

    event_type: ClassVar[str] = "ParticipantEnrolledInSeason"

    participant_id: UUID
    season: Season
    school_id: UUID
    region_id: UUID
    grade: Grade
