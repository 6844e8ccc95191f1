"""`/recommender/v1/regions/{id}/insights`: the coordinator's counts per municipality and week."""

from uuid import UUID

from fastapi import APIRouter

from bilet_recommender.api.models import InsightCellModel, InsightsModel
from bilet_recommender.api.problems import problems
from bilet_recommender.api.routes.common import (
    Context,
    InsightsVisibility,
    PositionHeader,
    Service,
)
from bilet_recommender.application import access
from bilet_recommender.application.insights import MIN_PUPILS

router = APIRouter(prefix="/v1", tags=["insights"])


@router.get(
    "/regions/{region_id}/insights",
    name="region_insights",
    summary="Per municipality and ISO week: registrations, consents, stages, career events, "
    "leading environments (cells under 5 pupils suppressed)",
    responses=problems(400, 403, 409),
)
async def region_insights(
    region_id: UUID,
    service: Service,
    ctx: Context,
    visibility: InsightsVisibility,
    position: PositionHeader = None,
) -> InsightsModel:
    """For each municipality of the region and ISO week (of the events' recording): how many
    pupils registered, had a consent verified, completed a diagnostics stage, attended a
    career event, and the environments leading the recommendations issued to them. Each count
    is of distinct pupils, by the school they study at now; a count under 5 is null
    (suppressed), and an environment leading for fewer than 5 pupils is not named. No pupil
    is named or identifiable.

    **Who:** the coordinator of the region. Any other role, or a coordinator of another
    region: 403.

    **Refusals:** 400 `invalid_position_token`; 403 `forbidden`; 409 `not_yet_visible`
    (`Retry-After`).
    """
    # The role first: a caller who may never read this waits for nothing.
    access.require_role(ctx.principal, access.INSIGHT_READERS, "read a region's insights")
    await visibility.await_header(position)
    cells = await service.insights(ctx, region_id)
    return InsightsModel(
        region_id=region_id,
        minimum_pupils=MIN_PUPILS,
        cells=[InsightCellModel.of(cell) for cell in cells],
    )
