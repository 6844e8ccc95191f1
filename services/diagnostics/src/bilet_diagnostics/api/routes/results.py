"""`/diagnostics/v1/participants/{id}/results` and `/diagnostics/v1/instruments`: completed
stages with their explanations, and the instrument versions in use."""

from uuid import UUID

from fastapi import APIRouter

from bilet_diagnostics.api.models import InstrumentsModel, ResultsModel, StageResultModel
from bilet_diagnostics.api.problems import problems
from bilet_diagnostics.api.routes.common import Context, Service

router = APIRouter(prefix="/v1")


@router.get(
    "/participants/{participant_id}/results",
    name="participant_results",
    tags=["results"],
    summary="Every completed stage of a participant, with its explanation",
    responses=problems(403, 404, 410),
)
async def participant_results(participant_id: UUID, service: Service, ctx: Context) -> ResultsModel:
    """Each completed stage with its published result (instrument versions, raw scores,
    levels, the answer sheet's reference) and its explanation: which answers gave which scale
    points and which mapping rows gave which environment. The explanation is computed again
    from the stored answers and versions; `reproduced` says it gives exactly the published
    result. Results are for guidance only: they never affect school marks or admission.

    **Who:** the pupil; their guardian (`children`); the navigator of their school; the
    coordinator of their region; the federal operator. Organisers, mentors, registrars,
    support and analysts never see results. Every read is audited.

    **Refusals:** 403 `forbidden` (any other role); 404 `unknown_participant` (unknown, or not
    the caller's); 410 `participant_erased`.
    """
    view = await service.results(ctx, participant_id)
    return ResultsModel(
        participant_id=view.participant_id,
        stages=[StageResultModel.of_outcome(outcome) for outcome in view.stages],
    )


@router.get(
    "/instruments",
    name="list_instruments",
    tags=["instruments"],
    summary="The instrument versions in use per stage, their scales and mapping tables",
    responses=problems(),
)
async def list_instruments(service: Service, ctx: Context) -> InstrumentsModel:
    """For clients and analysts: per stage and grade band, the instrument versions a pupil
    starts with today, their item counts and time limits; every version known (scales, item
    count, item bank digest, mapping); and the mapping tables that turn interest scales into
    the nine environments. A version is never changed once published.

    **Who:** any authenticated role (no personal data). No refusals beyond a missing token.
    """
    return InstrumentsModel.of(service.catalogue())
