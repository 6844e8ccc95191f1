"""An opportunity a regional coordinator registers (internal stream `opportunity-<id>`): a course
or a club (кружок) pupils of some grades may join, in some environments, with the accommodations
it provides and its free places.

Rules: an id is registered once (`opportunity_exists`); only a registered opportunity is revised
or withdrawn (`unknown_opportunity`); a withdrawn one is not revised (`opportunity_withdrawn`);
its terms hold (`invalid_opportunity`: a career event is the events service's, an opportunity
ends on or after its first day). A revision that changes nothing and a second withdrawal decide
nothing.
"""

from dataclasses import dataclass, replace
from datetime import date
from typing import Any, assert_never
from uuid import UUID

from bilet.contracts.catalogue.recommender import OpportunityKind
from bilet.contracts.vocabulary import AccessibilityNeed, Environment, GradeRange
from bilet_recommender.domain.errors import (
    InvalidOpportunity,
    OpportunityExists,
    OpportunityWithdrawn,
    UnknownOpportunity,
)
from bilet_recommender.domain.internal import (
    OPPORTUNITY_CATEGORY,
    OpportunityRegistered,
    OpportunityRevised,
)
from bilet_recommender.domain.internal import (
    OpportunityWithdrawn as Withdrawn,
)
from bilet_recommender.domain.offers import Offer


@dataclass(frozen=True)
class Details:
    """What a coordinator states about an opportunity."""

    kind: OpportunityKind
    title: str
    provider: str
    municipality: str
    environments: tuple[Environment, ...]
    eligible_grades: GradeRange
    accommodates: tuple[AccessibilityNeed, ...]
    seats: int | None
    starts_on: date
    ends_on: date


@dataclass(frozen=True)
class Opportunity:
    opportunity_id: UUID
    region_id: UUID | None = None
    details: Details | None = None
    withdrawn: bool = False


def initial(opportunity_id: UUID) -> Opportunity:
    return Opportunity(opportunity_id)


def stream_id(opportunity_id: UUID) -> str:
    return f"{OPPORTUNITY_CATEGORY}-{opportunity_id}"


@dataclass(frozen=True)
class RegisterOpportunity:
    region_id: UUID
    details: Details


@dataclass(frozen=True)
class ReviseOpportunity:
    details: Details


@dataclass(frozen=True)
class WithdrawOpportunity:
    pass


Command = RegisterOpportunity | ReviseOpportunity | WithdrawOpportunity
OpportunityEvent = OpportunityRegistered | OpportunityRevised | Withdrawn


def decide(command: Command, state: Opportunity) -> list[OpportunityEvent]:
    match command:
        case RegisterOpportunity():
            if state.details is not None:
                raise OpportunityExists(state.opportunity_id)
            _check(command.details)
            return [
                OpportunityRegistered(
                    opportunity_id=state.opportunity_id,
                    region_id=command.region_id,
                    **_fields(command.details),
                )
            ]
        case ReviseOpportunity():
            _registered(state)
            if state.withdrawn:
                raise OpportunityWithdrawn()
            _check(command.details)
            if command.details == state.details:
                return []
            fields = _fields(command.details)
            return [OpportunityRevised(opportunity_id=state.opportunity_id, **fields)]
        case WithdrawOpportunity():
            _registered(state)
            return [] if state.withdrawn else [Withdrawn(opportunity_id=state.opportunity_id)]
        case _:
            assert_never(command)


def _registered(state: Opportunity) -> None:
    if state.details is None:
        raise UnknownOpportunity()


def _check(details: Details) -> None:
    if details.kind is OpportunityKind.CAREER_EVENT:
        raise InvalidOpportunity("kind", "Career events are published by their organisers.")
    if details.ends_on < details.starts_on:
        raise InvalidOpportunity("ends_on", "An opportunity ends on or after its first day.")


def _fields(details: Details) -> dict[str, Any]:
    return {
        "kind": details.kind,
        "title": details.title,
        "provider": details.provider,
        "municipality": details.municipality,
        "environments": details.environments,
        "eligible_grades": details.eligible_grades,
        "accommodates": details.accommodates,
        "seats": details.seats,
        "starts_on": details.starts_on,
        "ends_on": details.ends_on,
    }


def _details(event: OpportunityRegistered | OpportunityRevised) -> Details:
    return Details(
        kind=event.kind,
        title=event.title,
        provider=event.provider,
        municipality=event.municipality,
        environments=event.environments,
        eligible_grades=event.eligible_grades,
        accommodates=event.accommodates,
        seats=event.seats,
        starts_on=event.starts_on,
        ends_on=event.ends_on,
    )


def evolve(state: Opportunity, event: OpportunityEvent) -> Opportunity:
    match event:
        case OpportunityRegistered():
            return replace(state, region_id=event.region_id, details=_details(event))
        case OpportunityRevised():
            return replace(state, details=_details(event))
        case Withdrawn():
            return replace(state, withdrawn=True)
        case _:
            assert_never(event)


def offer_of(state: Opportunity, today: date) -> Offer | None:
    """The opportunity as an offer on `today`: registered, not withdrawn, not yet over."""
    details = state.details
    if details is None or state.region_id is None or state.withdrawn or details.ends_on < today:
        return None
    return Offer(
        kind=details.kind,
        opportunity_id=state.opportunity_id,
        title=details.title,
        region_id=state.region_id,
        municipality=details.municipality,
        environments=details.environments,
        lowest_grade=details.eligible_grades.lowest,
        highest_grade=details.eligible_grades.highest,
        accommodates=frozenset(details.accommodates),
        seats=details.seats,
        starts=details.starts_on,
        ends=details.ends_on,
    )
