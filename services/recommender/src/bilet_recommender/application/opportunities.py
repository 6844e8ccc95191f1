"""Regional coordinators register, revise and withdraw courses and clubs (кружки) on the
internal `opportunity-<id>` streams (decider `domain.opportunity`); coordinators and organisers
read a region's opportunities (the issuing projection's offers: upcoming career events from the
events service beside the registered courses and clubs).

An opportunity of another region is unknown to a coordinator (404), as a career event is to an
organiser of another venue."""

from uuid import UUID

from bilet.application import Attempt, Fold
from bilet_recommender.application import access
from bilet_recommender.application.base import RecommenderCore
from bilet_recommender.application.inputs import CommandContext, Committed, QueryContext
from bilet_recommender.domain import opportunity
from bilet_recommender.domain.errors import UnknownOpportunity
from bilet_recommender.domain.offers import Offer
from bilet_recommender.domain.opportunity import Command as OpportunityCommand
from bilet_recommender.domain.opportunity import (
    Details,
    Opportunity,
    RegisterOpportunity,
    ReviseOpportunity,
    WithdrawOpportunity,
)

MANAGE = "manage opportunities"


def _fold(opportunity_id: UUID) -> Fold[Opportunity]:
    return Fold(
        opportunity.stream_id(opportunity_id),
        opportunity.initial(opportunity_id),
        opportunity.evolve,
    )


class OpportunityCommands(RecommenderCore):
    async def register_opportunity(
        self, ctx: CommandContext, opportunity_id: UUID, region_id: UUID, details: Details
    ) -> Committed:
        """Register a course or club in the caller's region (its coordinator)."""
        access.require_role(ctx.principal, access.OPPORTUNITY_MANAGERS, MANAGE)
        access.require_region(ctx.principal, region_id, "register opportunities")
        command = RegisterOpportunity(region_id=region_id, details=details)
        outcome = await self.transactor.transact(
            ctx, _fold(opportunity_id), lambda state: opportunity.decide(command, state)
        )
        return Committed.of(outcome, opportunity_id)

    async def revise_opportunity(
        self, ctx: CommandContext, opportunity_id: UUID, details: Details
    ) -> Committed:
        """Replace every stated detail (the coordinator of its region)."""
        return await self._managed(ctx, opportunity_id, ReviseOpportunity(details))

    async def withdraw_opportunity(self, ctx: CommandContext, opportunity_id: UUID) -> Committed:
        """Withdraw it: it is offered no more (the coordinator of its region)."""
        return await self._managed(ctx, opportunity_id, WithdrawOpportunity())

    async def _managed(
        self, ctx: CommandContext, opportunity_id: UUID, command: OpportunityCommand
    ) -> Committed:
        access.require_role(ctx.principal, access.OPPORTUNITY_MANAGERS, MANAGE)

        async def body(attempt: Attempt) -> None:
            state = await attempt.state(_fold(opportunity_id))
            if state.details is not None and not _in_region(ctx, state):
                raise UnknownOpportunity()
            attempt.append(
                opportunity.stream_id(opportunity_id), opportunity.decide(command, state)
            )

        outcome = await self.transactor.transact_many(ctx, body)
        return Committed.of(outcome, opportunity_id)

    async def region_opportunities(self, ctx: QueryContext, region_id: UUID) -> list[Offer]:
        """The region's offers today (its coordinator; any organiser)."""
        access.require_role(ctx.principal, access.OPPORTUNITY_READERS, "read opportunities")
        access.require_region(ctx.principal, region_id, "read opportunities")
        return await self.evidence.opportunities(region_id, self.clock())


def _in_region(ctx: CommandContext, state: Opportunity) -> bool:
    return ctx.principal.region_id == str(state.region_id)
