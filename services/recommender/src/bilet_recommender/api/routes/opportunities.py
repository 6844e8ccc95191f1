"""`/recommender/v1/opportunities` and `/recommender/v1/regions/{id}/opportunities`: regional
coordinators register, revise and withdraw courses, clubs (кружки) and programmes; coordinators and
organisers read what a region offers."""

from uuid import UUID, uuid4

from fastapi import APIRouter, Response

from bilet_recommender.api.models import (
    OpportunitiesModel,
    OpportunityChangedResponse,
    OpportunityDetailsRequest,
    OpportunityModel,
    RegisterOpportunityRequest,
)
from bilet_recommender.api.problems import problems
from bilet_recommender.api.routes.common import (
    Context,
    IssuingVisibility,
    PositionHeader,
    Service,
    answer_position,
)
from bilet_recommender.application import access

router = APIRouter(prefix="/v1", tags=["opportunities"])


def _changed(response: Response, opportunity_id: UUID, position: int) -> OpportunityChangedResponse:
    return OpportunityChangedResponse(
        opportunity_id=opportunity_id,
        position=answer_position(response, position, opportunity_id),
    )


@router.post(
    "/opportunities",
    name="register_opportunity",
    summary="Register a course, club (кружок) or programme pupils of the region may be recommended",
    status_code=201,
    responses=problems(403, 409),
)
async def register_opportunity(
    body: RegisterOpportunityRequest, response: Response, service: Service, ctx: Context
) -> OpportunityChangedResponse:
    """Registers the course, club or programme (`OpportunityRegistered`, internal to the
    recommender): its title, provider and municipality in Russian, the environments it serves,
    the eligible grades, the accommodations it provides, its free places and dates. From then
    on it is offered to the region's pupils whose leading environments it serves (at their next
    set of recommendations). The id defaults to a new one (give `opportunity_id` to retry safely).
    Answers 201 with `Location` and `BVB-Position`: the region's opportunities show it once
    they have applied that far.

    **Who:** the regional coordinator, in their own region (`region_id` is their token's
    `region`). Any other role: 403.

    **Refusals:** 403 `forbidden` (another role, another region); 409 `opportunity_exists`
    (the id is taken: a retry of a registration that succeeded); 422 `invalid_request` (e.g.
    a career event, ending before it starts, grades out of order). Nothing is changed by a
    refusal.
    """
    opportunity_id = body.opportunity_id or uuid4()
    committed = await service.register_opportunity(
        ctx, opportunity_id, body.region_id, body.details()
    )
    response.headers["Location"] = f"/recommender/v1/opportunities/{opportunity_id}"
    return _changed(response, opportunity_id, committed.position)


@router.put(
    "/opportunities/{opportunity_id}",
    name="revise_opportunity",
    summary="Revise a course, club or programme: every stated detail is replaced",
    responses=problems(403, 404, 409),
)
async def revise_opportunity(
    opportunity_id: UUID,
    body: OpportunityDetailsRequest,
    response: Response,
    service: Service,
    ctx: Context,
) -> OpportunityChangedResponse:
    """Replaces every stated detail (`OpportunityRevised`); the region stays. A full course is
    revised to 0 free places. A revision that changes nothing records nothing.

    **Who:** the coordinator of its region. Any other role: 403.

    **Refusals:** 403 `forbidden` (another role); 404 `unknown_opportunity` (unknown, or of
    another region); 409 `opportunity_withdrawn`, `version_conflict`; 422 `invalid_request`.
    Nothing is changed by a refusal.
    """
    committed = await service.revise_opportunity(ctx, opportunity_id, body.details())
    return _changed(response, opportunity_id, committed.position)


@router.post(
    "/opportunities/{opportunity_id}/withdrawal",
    name="withdraw_opportunity",
    summary="Withdraw a course, club or programme: it is offered no more",
    responses=problems(403, 404, 409),
)
async def withdraw_opportunity(
    opportunity_id: UUID, response: Response, service: Service, ctx: Context
) -> OpportunityChangedResponse:
    """Withdraws the opportunity (`OpportunityWithdrawn`): the next sets of recommendations no
    longer offer it (sets issued already keep naming it). Withdrawing again records nothing.

    **Who:** the coordinator of its region. Any other role: 403.

    **Refusals:** 403 `forbidden` (another role); 404 `unknown_opportunity` (unknown, or of
    another region); 409 `version_conflict`. Nothing is changed by a refusal.
    """
    committed = await service.withdraw_opportunity(ctx, opportunity_id)
    return _changed(response, opportunity_id, committed.position)


@router.get(
    "/regions/{region_id}/opportunities",
    name="region_opportunities",
    summary="What a region offers today: career events, courses, clubs and programmes",
    responses=problems(400, 403, 409),
)
async def region_opportunities(
    region_id: UUID,
    service: Service,
    ctx: Context,
    visibility: IssuingVisibility,
    position: PositionHeader = None,
) -> OpportunitiesModel:
    """The region's opportunities as the recommender offers them today: career events with an
    open session (from the events service: the next one's day and free seats), and the
    courses, clubs and programmes registered and not withdrawn or over, by first day.

    **Who:** the coordinator of the region; organisers (public, organisational data). Any
    other role, or a coordinator of another region: 403.

    **Refusals:** 400 `invalid_position_token`; 403 `forbidden`; 409 `not_yet_visible`
    (`Retry-After`).
    """
    # The role first: a caller who may never read this waits for nothing.
    access.require_role(ctx.principal, access.OPPORTUNITY_READERS, "read opportunities")
    await visibility.await_header(position)
    offers = await service.region_opportunities(ctx, region_id)
    ordered = sorted(offers, key=lambda o: (o.starts, o.title, str(o.opportunity_id)))
    return OpportunitiesModel(
        region_id=region_id, items=[OpportunityModel.of(offer) for offer in ordered]
    )
