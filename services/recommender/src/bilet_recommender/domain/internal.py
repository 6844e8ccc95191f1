"""Events that stay inside the recommender service: never relayed, never published.

`opportunity-<opportunity id>`: a course, club (кружок) or programme a regional coordinator
registered, revised or withdrew (`domain/opportunity.py`). Public, organisational facts only:
nothing about a person. A recommendation that offers one names it by id and title in the
published `RecommendationsIssued`; the catalogue itself is read through the service's API.
"""

from datetime import date
from typing import ClassVar, Final, Self
from uuid import UUID

from pydantic import Field, model_validator

from bilet.contracts import DomainEvent
from bilet.contracts.catalogue.recommender import OpportunityKind
from bilet.contracts.registry import EventRegistry
from bilet.contracts.vocabulary import AccessibilityNeeds, Environments, GradeRange, public_text

OPPORTUNITY_CATEGORY: Final = "opportunity"
AUDIT_CATEGORY: Final = "audit"
INTERNAL_CATEGORIES: Final = frozenset({OPPORTUNITY_CATEGORY, AUDIT_CATEGORY})

INTERNAL_EVENTS: Final = EventRegistry()


class _Opportunity(DomainEvent):
    service: ClassVar[str] = "recommender"
    stream_category: ClassVar[str] = OPPORTUNITY_CATEGORY
    stream_key: ClassVar[str] = "opportunity_id"


class _OpportunityDetails(_Opportunity):
    """What a coordinator states about an opportunity, and may revise."""

    kind: OpportunityKind = Field(
        description="course, club or programme; career events come from events."
    )
    title: str = public_text("What is offered, in Russian, e.g. «Кружок робототехники».")
    provider: str = public_text("The organisation that runs it.")
    municipality: str = public_text("The municipal district or city it is offered in.")
    environments: Environments
    eligible_grades: GradeRange
    accommodates: AccessibilityNeeds
    seats: int | None = Field(ge=0, le=10000, description="Free places; null: no limit.")
    starts_on: date
    ends_on: date

    @model_validator(mode="after")
    def _registered_kind_and_period(self) -> Self:
        if self.kind is OpportunityKind.CAREER_EVENT:
            raise ValueError("career events are published by the events service")
        if self.ends_on < self.starts_on:
            raise ValueError("an opportunity ends on or after its first day")
        return self


@INTERNAL_EVENTS.register
class OpportunityRegistered(_OpportunityDetails):
    """A coordinator of the region registered a course or club that pupils of the eligible
    grades may join; the recommender offers it to pupils whose leading environments it serves."""

    event_type: ClassVar[str] = "OpportunityRegistered"

    opportunity_id: UUID
    region_id: UUID


@INTERNAL_EVENTS.register
class OpportunityRevised(_OpportunityDetails):
    """The coordinator revised the opportunity: every stated detail is replaced by these (seats
    too: a full course is revised to 0 free places)."""

    event_type: ClassVar[str] = "OpportunityRevised"

    opportunity_id: UUID


@INTERNAL_EVENTS.register
class OpportunityWithdrawn(_Opportunity):
    """The coordinator withdrew the opportunity: it is offered no more."""

    event_type: ClassVar[str] = "OpportunityWithdrawn"

    opportunity_id: UUID


INTERNAL_EVENTS.check()
