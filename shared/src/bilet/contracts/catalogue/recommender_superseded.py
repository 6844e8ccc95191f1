"""Superseded versions of the recommender's events (docs/adr/0006: a published version is never
edited). They stay registered so their schemas stay checked and their golden samples validated;
readers get the newest version through the upcasters in `recommender` (docs/adr/0048)."""

from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import Field

from bilet.contracts.base import ContractModel, DomainEvent
from bilet.contracts.catalogue.recommender import Basis, Because, Evidence, StudyPlanItem
from bilet.contracts.registry import published
from bilet.contracts.vocabulary import Environment, Environments, MappingRef, Season, public_text


class OpportunityKindV1(StrEnum):
    """The kinds of opportunity version 1 knew (no programmes)."""

    CAREER_EVENT = "career_event"
    COURSE = "course"
    CLUB = "club"  # кружок


class OpportunityV1(ContractModel):
    """A career event, course or club in the participant's region, accessible to them."""

    kind: OpportunityKindV1
    opportunity_id: UUID = Field(
        description="A career event id, or the recommender's course/club id."
    )
    title: str = public_text("The opportunity's public title.")
    environment: Environment
    because: Because = Field(min_length=1)
    evidence: tuple[Evidence, ...] = Field(min_length=1)


@published
class RecommendationsIssuedV1(DomainEvent):
    """After the diagnostics stages and career events, the recommender issued a participant's
    recommendations for a season: study-plan items and opportunities matched to their interests
    and accessible to them. A later set for the same season replaces this one (`supersedes`).

    Superseded by version 2 (scores, profile classes, routes, programmes); read through the
    upcaster."""

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
    opportunities: tuple[OpportunityV1, ...]
    supersedes: UUID | None = Field(default=None, description="The set this one replaces.")
