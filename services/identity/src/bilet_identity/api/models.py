"""Request and response bodies of the identity API. Requests forbid unknown fields; personal
values are checked by the domain (one set of rules for the API and the CSV import)."""

from datetime import date
from typing import Annotated, Any, Final
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from bilet.contracts.catalogue.consent import Relationship
from bilet.contracts.catalogue.identity import CorrectionReason, DepartureReason
from bilet.contracts.vocabulary import AccessibilityNeed, Stage
from bilet_identity.application.access import HealthWithheld
from bilet_identity.application.inputs import CorrectionInput, PupilInput
from bilet_identity.domain.people import HealthLimitationKind
from bilet_identity.domain.russia import REGION_CODES, TIME_ZONES

# A name part: letters all Cyrillic (А–Я, Ё) or all Latin, words separated by single spaces,
# with hyphens, apostrophes and dots (Салтыков-Щедрин, Мамед оглы, д'Артаньян). The domain
# checks the same (422 `invalid_details`, naming the field) and is lenient about spaces around
# and between words, which it collapses; the schema states the form a client should send.
_CYRILLIC_WORDS: Final = "[А-ЯЁа-яё][А-ЯЁа-яё'’.\\-]*(?: [А-ЯЁа-яё'’.\\-]+)*"
_LATIN_WORDS: Final = "[A-Za-z][A-Za-z'’.\\-]*(?: [A-Za-z'’.\\-]+)*"
NAME_PATTERN: Final = f"^(?:{_CYRILLIC_WORDS}|{_LATIN_WORDS})$"
# The form is stated in the document, and checked by the domain, not by FastAPI: a name that is
# not of it is 422 `invalid_details` naming the field (a code a form can show), not
# `invalid_request`.
Name = Annotated[
    str,
    Field(
        max_length=200,
        json_schema_extra={"minLength": 1, "maxLength": 100, "pattern": NAME_PATTERN},
        description=(
            "Letters, all Cyrillic or all Latin (never a mix: «Иванoв» with a Latin o is "
            "refused), words separated by single spaces, with hyphens, apostrophes and dots; "
            "at most 100 characters. Else 422 `invalid_details` naming the field."
        ),
    ),
]
# A middle name in a correction: empty removes it.
NameOrEmpty = Annotated[
    str,
    Field(
        max_length=200,
        json_schema_extra={
            "maxLength": 100,
            "pattern": f"^(?:|{_CYRILLIC_WORDS}|{_LATIN_WORDS})$",
        },
        description="As a name part; empty removes it.",
    ),
]
# A СНИЛС with or without its separators (112-233-445 95). Its form is stated here and checked
# with its check digits by the domain: 422 `invalid_snils` either way.
Snils = Annotated[
    str,
    Field(
        max_length=20,
        json_schema_extra={"pattern": r"^[0-9]{3}-?[0-9]{3}-?[0-9]{3}[ -]?[0-9]{2}$"},
        description="With or without separators; the last two digits check the rest.",
        examples=["112-233-445 95"],
    ),
]
Season = Annotated[int, Field(ge=2018, le=2100)]
ClassLetter = Annotated[
    str,
    Field(
        pattern=r"^«?[А-ЯЁа-яё]»?$",
        examples=["Б"],
        description="The letter of the pupil's class (7«Б»: Б), kept in upper case.",
    ),
]
Grade = Annotated[int, Field(ge=1, le=11)]
PublicText = Annotated[str, Field(min_length=1, max_length=300)]
Position = Annotated[
    int,
    Field(
        description="The store position of the command's commit: the read-your-writes token "
        "(also in the `BVB-Position` header). A read model at or past it shows the change."
    ),
]


# One to three stages, each once (else 422 `invalid_season_rules` or `invalid_request`).
Stages = Annotated[
    list[Stage], Field(min_length=1, max_length=3, json_schema_extra={"uniqueItems": True})
]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------- the programme
class GradeRangeModel(Request):
    lowest: Grade
    highest: Grade


class PublishSeasonRulesRequest(Request):
    eligible_grades: GradeRangeModel
    max_career_events: Annotated[int, Field(ge=1, le=10)]
    diagnostics_stages: Annotated[
        list[Stage], Field(min_length=1, max_length=3, json_schema_extra={"uniqueItems": True})
    ]
    starts_on: date
    ends_on: date


class SeasonRulesModel(BaseModel):
    season: int
    rules_version: int
    eligible_grades: GradeRangeModel
    max_career_events: int
    diagnostics_stages: list[Stage]
    starts_on: date
    ends_on: date
    applies_from: date = Field(
        description="The day this version is in force from: the season's start, or for a "
        "revision of a running season the day it was published (docs/adr/0050); results "
        "before it keep the version they were scored under."
    )


class SeasonRulesPublishedResponse(BaseModel):
    season: int
    rules_version: int
    position: Position


def _one_of(allowed: tuple[str, ...], what: str) -> AfterValidator:
    """The server keeps a string to a closed list (the schema lists it: `_listed`)."""

    def check(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"not one of {what}")
        return value

    return AfterValidator(check)


def _listed(allowed: tuple[str, ...], what: str, example: str) -> Any:
    return Field(
        examples=[example], description=f"One of {what}.", json_schema_extra={"enum": list(allowed)}
    )


SUBJECTS: Final = "the 89 subjects of the Russian Federation"
RUSSIAN_ZONES: Final = "the IANA time zones of Russia"
RegionCode = Annotated[str, _listed(REGION_CODES, SUBJECTS, "47"), _one_of(REGION_CODES, SUBJECTS)]
TimeZone = Annotated[
    str, _listed(TIME_ZONES, RUSSIAN_ZONES, "Europe/Moscow"), _one_of(TIME_ZONES, RUSSIAN_ZONES)
]


class AdmitRegionRequest(Request):
    region_code: RegionCode
    name: PublicText
    season: Season
    time_zone: TimeZone
    coordinator: PublicText


StreamVersion = Annotated[
    int,
    Field(description="The resource's version after the command (its stream's, from 0)."),
]


class RegionAdmittedResponse(BaseModel):
    region_id: UUID
    version: StreamVersion
    position: Position


class DiagnosticsWindowScheduledResponse(BaseModel):
    region_id: UUID
    version: StreamVersion
    position: Position


class ScheduleWindowRequest(Request):
    season: Season
    stages: Annotated[
        list[Stage], Field(min_length=1, max_length=3, json_schema_extra={"uniqueItems": True})
    ]
    opens_on: date
    closes_on: date


class DiagnosticsWindowModel(BaseModel):
    season: int
    stages: list[Stage]
    opens_on: date
    closes_on: date


class RegionModel(BaseModel):
    region_id: UUID
    region_code: str
    name: str
    time_zone: str
    coordinator: str
    seasons: list[int]
    diagnostics_windows: list[DiagnosticsWindowModel]


class RegisterSchoolRequest(Request):
    name: PublicText
    municipality: PublicText


class SchoolModel(BaseModel):
    school_id: UUID
    region_id: UUID
    name: str
    municipality: str


class SchoolRegisteredResponse(BaseModel):
    school_id: UUID
    version: StreamVersion
    position: Position


# ---------------------------------------------------------------------- participants
class HealthLimitationsModel(Request):
    has_limitations: bool
    kind: HealthLimitationKind | None = Field(
        default=None, description="A category of the law, never a diagnosis."
    )


class RegisterParticipantRequest(Request):
    school_id: UUID | None = Field(default=None, description="Default: the registrar's school.")
    season: Season | None = Field(default=None, description="Default: the running season.")
    last_name: Name
    first_name: Name
    middle_name: Name | None = None
    birth_date: date
    snils: Snils
    grade: Grade
    citizenship: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] = "RU"
    residence_region_id: UUID | None = Field(
        default=None, description="Default: the school's region."
    )
    home_schooled: bool = False
    health_limitations: HealthLimitationsModel | None = None
    accessibility_needs: Annotated[
        list[AccessibilityNeed], Field(max_length=11, json_schema_extra={"uniqueItems": True})
    ] = []
    class_letter: ClassLetter | None = None

    def to_pupil(self) -> PupilInput:
        """The pupil as the application takes them (the same shape as a class-list row)."""
        health = self.health_limitations
        return PupilInput(
            last_name=self.last_name,
            first_name=self.first_name,
            middle_name=self.middle_name,
            birth_date=self.birth_date,
            snils=self.snils,
            grade=self.grade,
            citizenship=self.citizenship,
            residence_region_id=self.residence_region_id,
            home_schooled=self.home_schooled,
            has_health_limitations=health.has_limitations if health else False,
            health_limitation_kind=health.kind if health else None,
            accessibility_needs=tuple(self.accessibility_needs),
            season=self.season,
            class_letter=self.class_letter,
        )


class ParticipantRegisteredResponse(BaseModel):
    participant_id: UUID
    version: int
    position: Position


# A correction names at least one detail (not null) besides its reason and the class letter,
# else 422 `nothing_to_correct`.
_CORRECTED: Final = (
    "last_name",
    "first_name",
    "middle_name",
    "birth_date",
    "snils",
    "grade",
    "health_limitations",
    "accessibility_needs",
)


class CorrectParticipantRequest(Request):
    """Only the details that change; an empty `middle_name` removes it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"required": [name], "properties": {name: {"not": {"type": "null"}}}}
                for name in _CORRECTED
            ]
        },
    )

    reason: CorrectionReason = CorrectionReason.TYPING_ERROR
    last_name: Name | None = None
    first_name: Name | None = None
    middle_name: NameOrEmpty | None = None
    birth_date: date | None = None
    snils: Snils | None = None
    grade: Grade | None = None
    health_limitations: HealthLimitationsModel | None = None
    accessibility_needs: (
        Annotated[
            list[AccessibilityNeed], Field(max_length=11, json_schema_extra={"uniqueItems": True})
        ]
        | None
    ) = None
    class_letter: (
        Annotated[str, Field(pattern=r"^(|«?[А-ЯЁа-яё]»?)$", description="Empty: removes it.")]
        | None
    ) = None

    def to_correction(self) -> CorrectionInput:
        health = self.health_limitations
        needs = self.accessibility_needs
        return CorrectionInput(
            reason=self.reason,
            last_name=self.last_name,
            first_name=self.first_name,
            middle_name=self.middle_name,
            birth_date=self.birth_date,
            snils=self.snils,
            grade=self.grade,
            has_health_limitations=None if health is None else health.has_limitations,
            health_limitation_kind=None if health is None else health.kind,
            accessibility_needs=None if needs is None else tuple(needs),
            class_letter=self.class_letter,
        )


class ParticipantChangedResponse(BaseModel):
    participant_id: UUID
    version: int | None
    position: Position


class MoveParticipantRequest(Request):
    to_school_id: UUID
    grade: Grade | None = None


class EnrolParticipantRequest(Request):
    season: Season
    grade: Grade


class LeaveProgrammeRequest(Request):
    reason: DepartureReason = Field(
        description="`left_school`: left the school for none of the programme's schools (a move "
        "to one is `moves`); `left_programme`: stays at the school, no longer takes part."
    )


class LinkGuardianRequest(Request):
    guardian_id: UUID = Field(description="The guardian's account id (the token's `sub`).")
    relationship: Relationship


class EnrolmentModel(BaseModel):
    season: int
    school_id: UUID
    region_id: UUID
    grade: int


class GuardianModel(BaseModel):
    guardian_id: UUID
    relationship: Relationship


class PersonalDataModel(BaseModel):
    """Shown to the entitled only; health data (`health_limitations`, and the participant's
    `accessibility_needs`) to fewer still: null when not shown (`health_withheld` says why), or
    destroyed (`health_erased`)."""

    last_name: str
    first_name: str
    middle_name: str | None
    birth_date: date
    snils: str
    citizenship: str | None
    home_schooled: bool | None
    health_limitations: HealthLimitationsModel | None
    accessibility_needs: list[AccessibilityNeed] | None = Field(
        description="Accommodations the participant needs (health data); null when not shown."
    )
    health_erased: bool = Field(
        description="The health data is not known: destroyed (its consent withdrawn), or "
        "recorded before health data was sealed apart (to be entered again)."
    )
    health_withheld: HealthWithheld | None = Field(
        description="Why the health data is not shown (null: it is shown, or `health_erased`): "
        "`no_health_consent`, no verified consent in force covers `health_data` (none yet, "
        "expired, withdrawn, or given without it); `not_needed_by_role`, the caller's role has "
        "no task that needs it."
    )


class ParticipantModel(BaseModel):
    participant_id: UUID
    version: int
    position: Position
    school_id: UUID
    region_id: UUID
    season: int
    grade: int
    enrolments: list[EnrolmentModel]
    guardians: list[GuardianModel] | None
    erased: bool = Field(description="The personal data was destroyed (crypto-shredding).")
    merged_into: UUID | None = Field(
        default=None,
        description="This profile was closed as a second one of a child: the kept profile's id "
        "(docs/adr/0043). Nothing changes a closed profile any more.",
    )
    left: DepartureReason | None = Field(
        default=None,
        description="The participant left the school or the programme (docs/adr/0050) and has "
        "not returned (a move to a school or a later enrolment is a return): no school lists "
        "them.",
    )
    personal: PersonalDataModel | None


class ImportRowModel(BaseModel):
    line: int = Field(description="Line of the file (the header is line 1).")
    status: str = Field(description="registered | already_registered | rejected")
    participant_id: UUID | None = None
    code: str | None = None
    detail: str | None = None
    field: str | None = None
    reasons: list[str] | None = None
    existing_participant_id: UUID | None = None


class ImportSummaryModel(BaseModel):
    rows: int
    registered: int
    already_registered: int
    rejected: int


class ImportResponse(BaseModel):
    summary: ImportSummaryModel
    rows: list[ImportRowModel]
    position: Position
