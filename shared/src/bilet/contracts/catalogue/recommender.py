"""Events of the recommender service (topic `bilet.recommender`): recommendations for an
individual study plan and opportunities in the participant's region.

Every recommended item is traceable: it names the mapping rows it was derived by and the
evidence behind it (stage results with their answer sheets, attendance, mentor feedback).
Superseded versions are in `recommender_superseded` (docs/adr/0048).
"""

from enum import StrEnum
from typing import Annotated, ClassVar, Self
from uuid import UUID

from pydantic import Field, model_validator

from bilet.contracts.base import ContractModel, DomainEvent
from bilet.contracts.registry import JsonObject, published, upcaster
from bilet.contracts.vocabulary import (
    Environment,
    Environments,
    InstrumentRef,
    MappingRef,
    MappingRowRef,
    Season,
    Sha256,
    Stage,
    public_text,
)


class SchoolSubject(StrEnum):
    MATHEMATICS = "mathematics"
    INFORMATICS = "informatics"
    PHYSICS = "physics"
    CHEMISTRY = "chemistry"
    BIOLOGY = "biology"
    GEOGRAPHY = "geography"
    HISTORY = "history"
    SOCIAL_STUDIES = "social_studies"
    LITERATURE = "literature"
    RUSSIAN_LANGUAGE = "russian_language"
    FOREIGN_LANGUAGE = "foreign_language"
    ARTS = "arts"
    TECHNOLOGY = "technology"
    PHYSICAL_EDUCATION = "physical_education"


class StudyIntent(StrEnum):
    IN_DEPTH_COURSE = "in_depth_course"
    ELECTIVE_COURSE = "elective_course"
    PROJECT_WORK = "project_work"
    OLYMPIAD_PREPARATION = "olympiad_preparation"


class OpportunityKind(StrEnum):
    CAREER_EVENT = "career_event"
    COURSE = "course"
    CLUB = "club"  # кружок
    PROGRAMME = "programme"  # программа (e.g. a summer school, a profile shift), since v2


class EvidenceSource(StrEnum):
    STAGE_RESULT = "stage_result"  # ref_id: an attempt id
    ATTENDANCE = "attendance"  # ref_id: a booking id
    MENTOR_FEEDBACK = "mentor_feedback"  # ref_id: a feedback id


class Evidence(ContractModel):
    """A fact a recommendation rests on."""

    source: EvidenceSource
    ref_id: UUID
    scale: str | None = Field(
        default=None,
        pattern=r"^[a-z_]+(\.[a-z_]+)*$",
        max_length=100,
        description="The score used, as a path in the result, e.g. environments.scores.smart.",
    )


Because = tuple[MappingRowRef, ...]


class AttemptBasis(ContractModel):
    """A completed stage the recommendations were computed from, down to its answers."""

    attempt_id: UUID
    stage: Stage
    answer_sheet_id: UUID
    answer_sheet_digest: Sha256
    instruments: tuple[InstrumentRef, ...] = Field(min_length=1)


class Basis(ContractModel):
    attempts: tuple[AttemptBasis, ...] = Field(min_length=1)
    attended_bookings: tuple[UUID, ...]
    feedback_ids: tuple[UUID, ...]


class StudyPlanItem(ContractModel):
    """A recommendation for the individual study plan."""

    subject: SchoolSubject
    intent: StudyIntent
    environment: Environment
    because: Because = Field(min_length=1)
    evidence: tuple[Evidence, ...] = Field(min_length=1)


class Opportunity(ContractModel):
    """A career event, course, club or programme in the participant's region, accessible to
    them."""

    kind: OpportunityKind
    opportunity_id: UUID = Field(
        description="A career event id, or the recommender's course/club/programme id."
    )
    title: str = public_text("The opportunity's public title.")
    environment: Environment
    because: Because = Field(min_length=1)
    evidence: tuple[Evidence, ...] = Field(min_length=1)


class ScoreSource(StrEnum):
    """A kind of evidence an environment's score is made of."""

    INTERESTS = "interests"
    PROFESSIONS_KNOWLEDGE = "professions_knowledge"
    ATTENDANCE = "attendance"
    MENTOR_RUBRIC = "mentor_rubric"


class ScoreContribution(ContractModel):
    """What one source gave an environment's score: `points` (0–100) counted with `weight`."""

    source: ScoreSource
    because: MappingRowRef = Field(description="The weight row of the rules.")
    weight: int = Field(ge=1, le=100)
    points: int = Field(ge=0, le=100)
    evidence: tuple[Evidence, ...]


class EnvironmentScore(ContractModel):
    """An environment's recommendation score (0–100): the weighted mean of its contributions."""

    environment: Environment
    score: int = Field(ge=0, le=100)
    contributions: tuple[ScoreContribution, ...] = Field(min_length=1)


class ProfileClass(ContractModel):
    """A profile class (профильный класс) a leading environment suggests, from the rules."""

    environment: Environment
    title: str = public_text("The profile class, e.g. «Инженерный класс».", max_length=200)
    reason: str = public_text(
        "Why, in words for a pupil and a parent: the rules' text, never about a person."
    )
    because: Because = Field(min_length=1)


class EducationRoute(StrEnum):
    SPO = "spo"  # среднее профессиональное образование (колледж, техникум)
    VO = "vo"  # высшее образование (вуз)


class RouteAfterSchool(ContractModel):
    """Where a leading environment leads after the 9th grade (СПО) or the 11th (СПО, ВО).
    Routes after the 9th grade are given only while the pupil has not gone past it."""

    environment: Environment
    after_grade: int = Field(ge=9, le=11, description="9 or 11.")
    route: EducationRoute
    programme: str = public_text(
        "The programme or field of study, e.g. «Программирование в компьютерных системах».",
        max_length=200,
    )
    reason: str = public_text(
        "Why, in words for a pupil and a parent: the rules' text, never about a person."
    )
    because: Because = Field(min_length=1)

    @model_validator(mode="after")
    def _after_9_or_11(self) -> Self:
        if self.after_grade not in (9, 11):
            raise ValueError("a route starts after the 9th or the 11th grade")
        if self.after_grade == 9 and self.route is EducationRoute.VO:
            raise ValueError("a university (ВО) takes pupils after the 11th grade")
        return self


EnvironmentScores = Annotated[tuple[EnvironmentScore, ...], Field(max_length=len(Environment))]


@published
class RecommendationsIssued(DomainEvent):
    """After the diagnostics stages and career events, the recommender issued a participant's
    recommendations for a season: every environment's score, study-plan items, profile classes,
    routes after the 9th and 11th grade and opportunities matched to their interests and
    accessible to them. A later set for the same season replaces this one (`supersedes`).

    Version 2 publishes the scores, profile classes and routes (null in a set issued as version
    1, which did not publish them) and offers programmes among the opportunities."""

    event_type: ClassVar[str] = "RecommendationsIssued"
    service: ClassVar[str] = "recommender"
    stream_category: ClassVar[str] = "recommendations"
    stream_key: ClassVar[str] = "participant_id"
    schema_version: ClassVar[int] = 2

    recommendation_set_id: UUID
    participant_id: UUID
    season: Season
    rules: MappingRef = Field(description="The versioned recommendation rules applied.")
    basis: Basis
    leading_environments: Environments = Field(max_length=3)
    environment_scores: EnvironmentScores | None = Field(
        description="Every environment's score, strongest first; null: issued as version 1.",
    )
    study_plan: tuple[StudyPlanItem, ...]
    profile_classes: tuple[ProfileClass, ...] | None = Field(
        description="The leading environments' profile classes; null: issued as version 1."
    )
    routes: tuple[RouteAfterSchool, ...] | None = Field(
        description="Routes after the 9th and 11th grade; null: issued as version 1."
    )
    opportunities: tuple[Opportunity, ...]
    supersedes: UUID | None = Field(default=None, description="The set this one replaces.")


@upcaster("RecommendationsIssued", from_version=1)
def _recommendations_issued_v1_to_v2(data: JsonObject) -> JsonObject:
    # Version 1 did not publish them; the upcaster holds no rules table to compute them from
    # (the recommender's API recomputes them from the basis and the rules version, ADR 0039).
    return {**data, "environment_scores": None, "profile_classes": None, "routes": None}
