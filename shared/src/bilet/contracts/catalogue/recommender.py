"""Events of the recommender service (topic `bilet.recommender`): recommendations for an
individual study plan and opportunities in the participant's region.

Every recommended item is traceable: it names the mapping rows it was derived by and the
evidence behind it (stage results with their answer sheets, attendance, mentor feedback).
"""

from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import Field

from bilet.contracts.base import ContractModel, DomainEvent
from bilet.contracts.registry import published
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
    """A career event, course or club in the participant's region, accessible to them."""

    kind: OpportunityKind
    opportunity_id: UUID = Field(
        description="A career event id, or the recommender's course/club id."
    )
    title: str = public_text("The opportunity's public title.")
    environment: Environment
    because: Because = Field(min_length=1)
    evidence: tuple[Evidence, ...] = Field(min_length=1)


@published
class RecommendationsIssued(DomainEvent):
    """After the diagnostics stages and career events, the recommender issued a participant's
    recommendations for a season: study-plan items and opportunities matched to their interests
    and accessible to them. A later set for the same season replaces this one (`supersedes`)."""

    event_type: ClassVar[str] = "RecommendationsIssued"
    service: ClassVar[str] = "recommender"
    stream_category: ClassVar[str] = "recommendations"
    stream_key: ClassVar[str] = "participant_id"

    recommendation_set_id: UUID
    participant_id: UUID
    season: Season
    rules: MappingRef = Field(description="The versioned recommendation rules applied.")
    basis: Basis
    leading_environments: Environments = Field(max_length=3)
    study_plan: tuple[StudyPlanItem, ...]
    opportunities: tuple[Opportunity, ...]
    supersedes: UUID | None = Field(default=None, description="The set this one replaces.")
