"""Request bodies and answers of `/recommender/v1`. Every constraint the server enforces on a
request is in its schema (the cross-field ones — an opportunity ends on or after its first day,
the highest grade not below the lowest — are checked by the model and answered 422
`invalid_request` like the others)."""

from datetime import date
from typing import Annotated, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bilet.contracts.catalogue.recommender import (
    EvidenceSource,
    OpportunityKind,
    RecommendationsIssued,
    SchoolSubject,
    StudyIntent,
)
from bilet.contracts.vocabulary import (
    AccessibilityNeed,
    AccessibilityNeeds,
    Environment,
    Environments,
    GradeRange,
    MappingRef,
    MappingRowRef,
    public_text,
)
from bilet_recommender.application.insights import Cell
from bilet_recommender.domain.offers import Offer
from bilet_recommender.domain.opportunity import Details

Position = Annotated[
    int,
    Field(
        ge=0,
        description="Where the change was recorded in the recommender's store (also in the "
        "`BVB-Position` header). A read at or past it shows the change.",
    ),
]
# A day of 2018–2100. JSON Schema has no bounds for a date: the pattern states the years.
Day = Annotated[
    date,
    Field(
        ge=date(2018, 1, 1),
        le=date(2100, 12, 31),
        json_schema_extra={"pattern": r"^(?:201[89]|20[2-9][0-9]|2100)-[0-9]{2}-[0-9]{2}$"},
    ),
]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GradeRangeRequest(_Request):
    """Grades from `lowest` to `highest` (1–11), both included. A request model of its own: the
    contract's `GradeRange` is strict and refused 7.0, which JSON Schema calls an integer."""

    lowest: Annotated[int, Field(ge=1, le=11)]
    highest: Annotated[int, Field(ge=1, le=11)]

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.highest < self.lowest:
            raise ValueError("highest grade below lowest")
        return self

    def to_contract(self) -> GradeRange:
        return GradeRange(lowest=self.lowest, highest=self.highest)


class OpportunityDetailsRequest(_Request):
    """What a coordinator states about a course, club or programme (a revision states all of
    it again)."""

    kind: OpportunityKind = Field(
        description="`course`, `club` (кружок) or `programme` (программа: a profile shift, a "
        "summer school); career events are published by their organisers in the events "
        "service (`career_event` is refused: 422).",
        json_schema_extra={"enum": ["course", "club", "programme"]},
    )
    title: str = public_text("What is offered, in Russian, e.g. «Кружок робототехники».")
    provider: str = public_text("The organisation that runs it.")
    municipality: str = public_text("The municipal district or city it is offered in.")
    environments: Environments
    eligible_grades: GradeRangeRequest
    accommodates: AccessibilityNeeds = ()
    seats: int | None = Field(ge=0, le=10000, description="Free places; null: no limit.")
    starts_on: Day
    ends_on: Day

    @model_validator(mode="after")
    def _period_and_kind(self) -> Self:
        if self.kind is OpportunityKind.CAREER_EVENT:
            raise ValueError("career events are published by their organisers")
        if self.ends_on < self.starts_on:
            raise ValueError("an opportunity ends on or after its first day")
        return self

    def details(self) -> Details:
        return Details(
            kind=self.kind,
            title=self.title,
            provider=self.provider,
            municipality=self.municipality,
            environments=self.environments,
            eligible_grades=self.eligible_grades.to_contract(),
            accommodates=self.accommodates,
            seats=self.seats,
            starts_on=self.starts_on,
            ends_on=self.ends_on,
        )


class RegisterOpportunityRequest(OpportunityDetailsRequest):
    opportunity_id: UUID | None = Field(
        default=None,
        description="The new opportunity's id; a new one when absent (give one to retry safely).",
    )
    region_id: UUID = Field(description="The region: the coordinator's own (their token's).")


class OpportunityChangedResponse(BaseModel):
    opportunity_id: UUID
    position: Position


class OpportunityModel(BaseModel):
    """An opportunity as offered today: a career event (from the events service, its next open
    session) or a registered course, club or programme."""

    kind: OpportunityKind
    opportunity_id: UUID
    title: str
    region_id: UUID
    municipality: str
    environments: list[Environment]
    eligible_grades: GradeRange
    accommodates: list[AccessibilityNeed] = Field(
        description="Accessibility accommodations it provides."
    )
    seats: int | None = Field(description="Free places; null: no limit.")
    starts_on: date
    ends_on: date

    @classmethod
    def of(cls, offer: Offer) -> "OpportunityModel":
        return cls(
            kind=offer.kind,
            opportunity_id=offer.opportunity_id,
            title=offer.title,
            region_id=offer.region_id,
            municipality=offer.municipality,
            environments=list(offer.environments),
            eligible_grades=GradeRange(lowest=offer.lowest_grade, highest=offer.highest_grade),
            accommodates=sorted(offer.accommodates),
            seats=offer.seats,
            starts_on=offer.starts,
            ends_on=offer.ends,
        )


class OpportunitiesModel(BaseModel):
    region_id: UUID
    items: list[OpportunityModel] = Field(description="By first day, then title.")


# ------------------------------------------------------------------ the explanation
class CitedModel(BaseModel):
    """A piece of evidence: the id an auditor follows, and what it is in words."""

    source: EvidenceSource
    ref_id: UUID
    scale: str | None = None
    text: str


class ContributionModel(BaseModel):
    source: str = Field(
        description="interests, professions_knowledge, attendance or mentor_rubric."
    )
    row: str = Field(description="The weights row of the rules table.")
    weight: int
    points: int = Field(description="The source's points for the environment, 0–100.")
    evidence: list[CitedModel]
    text: str


class EnvironmentExplained(BaseModel):
    environment: Environment
    title: str
    score: int = Field(description="0–100.")
    leading: bool
    text: str
    contributions: list[ContributionModel]


class StudyPlanExplained(BaseModel):
    subject: SchoolSubject
    intent: StudyIntent
    environment: Environment
    rows: list[MappingRowRef]
    evidence: list[CitedModel]
    text: str


class ProfileClassExplained(BaseModel):
    environment: Environment
    row: str
    title: str
    text: str


class RouteExplained(BaseModel):
    environment: Environment
    row: str
    after_grade: int
    route: str = Field(description="spo (колледж, техникум) or vo (вуз).")
    programme: str
    text: str


class OpportunityExplained(BaseModel):
    kind: OpportunityKind
    opportunity_id: UUID
    title: str
    environment: Environment
    rows: list[MappingRowRef]
    evidence: list[CitedModel]
    text: str


class ExplanationModel(BaseModel):
    """Every item of the set in Russian words a pupil and a parent understand, and the rows and
    evidence ids behind it."""

    recommendation_set_id: UUID
    season: int
    rules: MappingRef
    rules_title: str
    environments: list[EnvironmentExplained]
    study_plan: list[StudyPlanExplained]
    profile_classes: list[ProfileClassExplained]
    routes: list[RouteExplained]
    opportunities: list[OpportunityExplained]
    text: list[str]


class RecommendationsModel(BaseModel):
    participant_id: UUID
    recommendations: RecommendationsIssued | None = Field(
        description="The latest set as published; null: none issued yet (the three stages "
        "are not all completed)."
    )
    explanation: ExplanationModel | None = Field(
        description="Null when there is no set, or its basis is no longer held."
    )
    reproduced: bool = Field(
        description="The explanation, computed again from the set's basis and rules version, "
        "gives exactly the published leading environments and study plan."
    )


# ------------------------------------------------------------------ insights
class EnvironmentCount(BaseModel):
    environment: Environment
    pupils: int = Field(ge=5)


class InsightCellModel(BaseModel):
    """A municipality and ISO week. A count is null when fewer than 5 pupils are behind it."""

    municipality: str
    week: str = Field(pattern=r"^\d{4}-W\d{2}$", description="ISO week, e.g. 2026-W49.")
    registered: int | None = Field(ge=5, description="Pupils registered.")
    consent_verified: int | None = Field(ge=5, description="Pupils whose consent was verified.")
    stage_completed: int | None = Field(ge=5, description="Pupils who completed a stage.")
    career_event_attended: int | None = Field(ge=5, description="Pupils at a career event.")
    top_environments: list[EnvironmentCount] = Field(
        description="The environments leading the recommendations issued, most frequent first "
        "(at most 3; only those leading for 5 pupils or more)."
    )

    @classmethod
    def of(cls, cell: Cell) -> "InsightCellModel":
        return cls(
            municipality=cell.municipality,
            week=cell.week,
            registered=cell.registered,
            consent_verified=cell.consent_verified,
            stage_completed=cell.stage_completed,
            career_event_attended=cell.career_event_attended,
            top_environments=[
                EnvironmentCount(environment=e, pupils=n) for e, n in cell.top_environments
            ],
        )


class InsightsModel(BaseModel):
    region_id: UUID
    minimum_pupils: int = Field(description="Counts below it are suppressed (null).")
    cells: list[InsightCellModel]
