"""The words published events share: ids, seasons, grades, closed lists and instrument references.

Closed lists are string enums: a consumer can rely on every value, and a new value is a new
schema version of every event that carries it (older readers would refuse it).
"""

from enum import StrEnum
from typing import Annotated, Any, Final, Self, TypeVar

from pydantic import AfterValidator, Field, model_validator

from bilet.contracts.base import ContractModel

# A plain text field of a published event must be one of these (or sealed, or constrained by a
# pattern, a format or a closed list): the marker says "organisational, public, never about a
# person", and a test refuses any other free text (tests/contract/test_no_personal_data.py).
PUBLIC_KEYWORD: Final = "x-bilet-public"

_T = TypeVar("_T")


def public_text(description: str, max_length: int = 300, **field: Any) -> Any:
    """A free-text field that holds public, organisational text (names of regions, schools,
    venues; titles of career events), never anything about a person."""
    return Field(
        description=description,
        min_length=1,
        max_length=max_length,
        json_schema_extra={PUBLIC_KEYWORD: True},
        **field,
    )


Season = Annotated[
    int,
    Field(
        ge=2018,
        le=2100,
        description="The programme season, named by the year its school year starts "
        "(2019 = the school year 2019/20).",
    ),
]
Grade = Annotated[
    int,
    Field(
        ge=1,
        le=11,
        description="School grade (класс). Which grades may take part is a season rule "
        "(SeasonRulesPublished), not a constant.",
    ),
]
RegionCode = Annotated[
    str,
    Field(
        pattern=r"^[0-9]{2}$",
        description="Code of the constituent entity of the Russian Federation (47: Leningrad "
        "oblast).",
    ),
]
TimeZone = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z]+(?:/[A-Za-z0-9_+-]+)+$",
        max_length=64,
        description="IANA time zone, e.g. Europe/Moscow.",
    ),
]
SemVer = Annotated[
    str,
    Field(
        pattern=r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$",
        max_length=32,
        description="A version as MAJOR.MINOR.PATCH.",
    ),
]
Code = Annotated[
    str,
    Field(
        pattern=r"^[a-z][a-z0-9_]*$",
        max_length=64,
        description="A stable machine code (lower case, digits, underscores).",
    ),
]
Sha256 = Annotated[
    str, Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 digest, lower-case hex.")
]


class AccessibilityNeed(StrEnum):
    """An accommodation a participant needs at a career event: what to arrange, never why.

    The summary organisers see in place of health data (ОВЗ): a closed list, no diagnosis.
    """

    STEP_FREE_ACCESS = "step_free_access"
    ACCESSIBLE_TOILET = "accessible_toilet"
    SIGN_LANGUAGE_INTERPRETER = "sign_language_interpreter"
    HEARING_LOOP = "hearing_loop"
    LARGE_PRINT = "large_print"
    SCREEN_READER_MATERIALS = "screen_reader_materials"
    QUIET_SPACE = "quiet_space"
    ACCOMPANYING_PERSON = "accompanying_person"
    EXTRA_TIME = "extra_time"
    FREQUENT_BREAKS = "frequent_breaks"
    SIMPLE_LANGUAGE = "simple_language"


def distinct(items: tuple[_T, ...]) -> tuple[_T, ...]:
    """Refuse repeated values (a closed list used as a set; JSON Schema `uniqueItems`)."""
    if len(set(items)) != len(items):
        raise ValueError("values repeat")
    return items


AccessibilityNeeds = Annotated[
    tuple[AccessibilityNeed, ...],
    Field(
        max_length=len(AccessibilityNeed),
        json_schema_extra={"uniqueItems": True},
        description="Accommodations from a closed list; empty when none are needed.",
    ),
    AfterValidator(distinct),
]


class Environment(StrEnum):
    """The programme's professional environments (среды), in which interests are reported."""

    SAFE = "safe"  # безопасная
    SMART = "smart"  # умная
    SOCIAL = "social"  # социальная
    HEALTHY = "healthy"  # здоровая
    COMFORTABLE = "comfortable"  # комфортная
    INDUSTRIAL = "industrial"  # индустриальная
    CREATIVE = "creative"  # креативная
    BUSINESS = "business"  # деловая
    AGRARIAN = "agrarian"  # аграрная


Environments = Annotated[
    tuple[Environment, ...],
    Field(
        min_length=1,
        max_length=len(Environment),
        json_schema_extra={"uniqueItems": True},
    ),
    AfterValidator(distinct),
]


class Stage(StrEnum):
    """The three online diagnostics stages."""

    INTERESTS = "interests"  # «Интересы и профессиональные склонности»
    SOFT_SKILLS = "soft_skills"  # «Какими гибкими навыками я обладаю»
    PROFESSIONS_KNOWLEDGE = "professions_knowledge"  # «Что я знаю о профессиях»


class Instrument(StrEnum):
    """A diagnostics instrument; which version of it was used is always stated beside it."""

    KLIMOV_DDO = "klimov_ddo"  # Климов, ДДО: 20 forced-choice pairs, five types 0–8
    ONET_IP_SHORT = "onet_ip_short"  # Holland RIASEC, O*NET Interest Profiler short form
    SOFT_SKILLS_BANK = "soft_skills_bank"  # criterion-referenced item bank
    PROFESSIONS_KNOWLEDGE_BANK = "professions_knowledge_bank"  # criterion-referenced item bank


class InstrumentRef(ContractModel):
    """An instrument and the exact version a result was computed with."""

    instrument: Instrument
    version: SemVer


class MappingRef(ContractModel):
    """A versioned mapping table (scale scores → environments, results → recommendations)."""

    mapping_id: Code
    version: SemVer


class MappingRowRef(ContractModel):
    """One row of a versioned mapping table: the rule a recommendation was derived by."""

    mapping_id: Code
    version: SemVer
    row: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=32)]


class Level(StrEnum):
    """A criterion-referenced level of a soft skill or of knowledge of professions."""

    INITIAL = "initial"
    BASIC = "basic"
    PROFICIENT = "proficient"
    ADVANCED = "advanced"


class GradeRange(ContractModel):
    """Grades from `lowest` to `highest`, both included."""

    lowest: Grade
    highest: Grade

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.highest < self.lowest:
            raise ValueError("highest grade below lowest")
        return self
