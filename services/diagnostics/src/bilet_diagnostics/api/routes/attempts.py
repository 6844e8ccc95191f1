"""`/diagnostics/v1/attempts`: a pupil's attempt at a stage: start it, read it (resume), answer
item by item, complete it.

An answer save, the service's most frequent request (a cohort answering item by item), is called
without FastAPI's dependency solving (`DirectRoute`: its path, its body, the service and the
context only; docs/adr/0112); the other routes take a `Response` or answer a model, so FastAPI
handles them as before."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Response

from bilet.http.direct import DirectRoute, model_response
from bilet_diagnostics.api.models import (
    AnswerModel,
    AttemptModel,
    CompletedModel,
    SaveAnswerRequest,
    StartAttemptRequest,
)
from bilet_diagnostics.api.problems import problems
from bilet_diagnostics.api.routes.common import Context, Service, answer_position
from bilet_diagnostics.domain.internal import ID_PATTERN

router = APIRouter(prefix="/v1/attempts", tags=["attempts"], route_class=DirectRoute)
ItemId = Annotated[str, Path(pattern=ID_PATTERN, description="An item of the attempt's form.")]


@router.post(
    "",
    name="start_attempt",
    summary="Start a diagnostics stage for a pupil",
    status_code=201,
    responses=problems(403, 404, 409, 410),
)
async def start_attempt(
    body: StartAttemptRequest, response: Response, service: Service, ctx: Context
) -> AttemptModel:
    """Starts the stage with today's instrument versions for the pupil's grade band and starts
    its clock (`deadline`). The answer is the attempt as `GET /attempts/{attempt_id}` gives it;
    its `BVB-Position` makes the portfolio show the stage as started.

    **Who:** the pupil themself (their token's `participant`), or the navigator of the pupil's
    school on their behalf. Only the pupil then answers and completes it.

    **Allowed when** the participant is known and not erased, a verified guardian's consent in
    force covers `online_diagnostics`, they are enrolled in the season of today, the season's
    rules list the stage, every earlier stage of the season is completed, the stage is not
    completed this season yet (a stage is taken once a season), no attempt at it is in progress,
    and the region's testing window for the stage is open today (in the region's time zone).

    **Refusals:** 403 `forbidden` (any other role), `consent_required`; 404 `unknown_participant`
    (unknown, or not the caller's); 409 `not_enrolled`, `outside_window`, `stage_locked` (with
    `waiting_for`), `stage_completed`, `attempt_in_progress` (with the `attempt_id` to resume),
    `version_conflict`, `participant_merged` (a second profile of a child, merged into
    `kept_participant_id`: start under that one); 410 `participant_erased`; 422
    `invalid_request`, `stage_not_in_season`.
    """
    attempt_id, position = await service.start(ctx, body.participant_id, body.stage)
    view = await service.attempt_view(ctx, attempt_id)
    answer_position(response, position, attempt_id)
    response.headers["Location"] = f"/diagnostics/v1/attempts/{attempt_id}"
    return AttemptModel.of(view)


@router.get(
    "/{attempt_id}",
    name="get_attempt",
    summary="An attempt: its items in order, what is answered, the time left",
    responses=problems(403, 404),
)
async def get_attempt(attempt_id: UUID, service: Service, ctx: Context) -> AttemptModel:
    """The attempt as a pupil who lost the connection resumes it: every item of its form in
    order with its options, which are answered (and, to the pupil, with what), the seconds left
    before the deadline, and once completed the stage's result.

    **Who:** the pupil (with their answers); the navigator of the pupil's school (which items are
    answered, never how: `answer` is null). Reading the answers is audited.

    **Refusals:** 403 `forbidden` (any other role); 404 `unknown_attempt` (unknown, or not the
    caller's).
    """
    return AttemptModel.of(await service.attempt_view(ctx, attempt_id))


@router.put(
    "/{attempt_id}/answers/{item_id}",
    name="save_answer",
    summary="Save the answer to one item (idempotent)",
    response_model=AnswerModel,
    responses=problems(403, 404, 409),
)
async def save_answer(
    attempt_id: UUID,
    item_id: ItemId,
    body: SaveAnswerRequest,
    service: Service,
    ctx: Context,
) -> Response:
    """Records the option the pupil chose for the item. The same answer again records nothing
    (`recorded: false`); another option before completion replaces it. Answers to different
    items may be saved in parallel: none is lost. No `BVB-Position`: an answer changes nothing
    that leaves the service.

    **Who:** the pupil whose attempt it is. The answer is personal data: sealed with the
    pupil's key (destroyed with their data) and never published; the write is audited.

    **Refusals:** 403 `forbidden` (any other role); 404 `unknown_attempt` (unknown, or not the
    caller's), `unknown_item` (not on the attempt's form); 409 `attempt_completed` (also when
    the answer arrived while the attempt was being completed: it does not count),
    `time_limit_passed`; 422 `invalid_request`, `unknown_option` (with the item's `options`).
    A refusal stores nothing, except for an answer arriving as the attempt is completed: it may
    still be stored after the closing, its write audited, and refused (409, attempt completed),
    counting for nothing.
    """
    saved = await service.save_answer(ctx, attempt_id, item_id, body.option_id)
    return model_response(AnswerModel.of(saved))


@router.post(
    "/{attempt_id}/complete",
    name="complete_attempt",
    summary="Complete the attempt: score the sheet and publish the stage's result",
    responses=problems(403, 404, 409),
)
async def complete_attempt(
    attempt_id: UUID, response: Response, service: Service, ctx: Context
) -> CompletedModel:
    """Scores the answer sheet with the attempt's instrument versions (a pure, deterministic
    function: the same sheet and versions always give the same result) and publishes
    `StageCompleted` with the scores, levels and a reference to the answer sheet (id, item
    count, digest), never the answers. Its `BVB-Position` makes the portfolio show the result.

    **Who:** the pupil whose attempt it is. No body. Allowed until two minutes after the
    deadline (the last answers were saved in time).

    **Refusals:** 403 `forbidden` (any other role); 404 `unknown_attempt` (unknown, or not the
    caller's); 409 `attempt_completed`, `stage_completed`, `time_limit_passed`,
    `version_conflict`; 422 `incomplete_sheet` (with the `missing` item ids, in form order).
    Nothing is changed by a refusal.
    """
    completion = await service.complete(ctx, attempt_id)
    answer_position(response, completion.position, attempt_id)
    return CompletedModel.of(completion.event)
