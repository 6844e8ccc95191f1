"""`/recommender/v1/participants/{id}/recommendations`: a participant's latest set, explained."""

import hashlib
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Response

from bilet.http.consistency import PositionToken, send_positions
from bilet_recommender.api.models import ExplanationModel, RecommendationsModel
from bilet_recommender.api.problems import problems
from bilet_recommender.api.routes.common import (
    Context,
    IssuingVisibility,
    PositionHeader,
    Service,
)
from bilet_recommender.application import access
from bilet_recommender.application.issuing import stream_id
from bilet_recommender.application.queries import RecommendationsView
from bilet_recommender.settings import SERVICE_NAME

router = APIRouter(prefix="/v1", tags=["recommendations"])


def _matches(if_none_match: str | None, etag: str) -> bool:
    """Weak comparison (RFC 9110 §13.1.2): `*`, or any listed tag with the same opaque value."""
    if if_none_match is None:
        return False
    opaque = etag.removeprefix("W/")
    return any(
        candidate == "*" or candidate.removeprefix("W/") == opaque
        for candidate in (part.strip() for part in if_none_match.split(","))
    )


def _body(view: RecommendationsView) -> bytes:
    explanation = (
        None if view.explanation is None else ExplanationModel.model_validate(view.explanation)
    )
    model = RecommendationsModel(
        participant_id=view.participant_id,
        recommendations=view.issued,
        explanation=explanation,
        reproduced=view.reproduced,
    )
    return model.model_dump_json().encode()


@router.get(
    "/participants/{participant_id}/recommendations",
    name="participant_recommendations",
    summary="A participant's latest recommendations, every item explained (ETag)",
    response_model=RecommendationsModel,
    responses={
        304: {"description": "Not modified: the `If-None-Match` ETag is current."},
        **problems(400, 403, 404, 409, 410),
    },
)
async def participant_recommendations(
    participant_id: UUID,
    service: Service,
    ctx: Context,
    visibility: IssuingVisibility,
    position: PositionHeader = None,
    if_none_match: Annotated[str | None, Header(max_length=2000)] = None,
) -> Any:
    """The latest set of recommendations issued for the participant (`RecommendationsIssued`,
    as the event store holds it): the leading environments, the study plan (subjects to
    deepen), the ranked opportunities in their region; and its explanation in Russian: each
    environment's score with what it rests on (answers and scale points, career events
    attended, mentors' rubrics), each item's rows of the rules table and evidence ids. A set
    is issued once all three diagnostics stages are completed, and again on new evidence;
    `recommendations` is null until then. Recommendations are guidance only.

    **Who:** the pupil; their guardian (`children`); the navigator of their school; the
    coordinator of their region — all four see the same. Registrars, organisers, mentors,
    support, analysts and the operator: 403 (the operator reads the portfolio). Every read is
    audited.

    **Behaviour:** `ETag` on every answer; `If-None-Match` with a current tag answers 304.
    Send a command's `BVB-Position` (e.g. diagnostics' after completing a stage) to read the
    set it leads to; the answer's `BVB-Position` names the set's place in the recommender's
    store (give it to the portfolio to see the same set there).

    **Refusals:** 400 `invalid_position_token`; 403 `forbidden` (another role),
    `consent_required` (no verified consent covering recommendations is in force: nothing is
    shown); 404 `unknown_participant` (unknown, or not the caller's); 409 `not_yet_visible`
    (`Retry-After`); 410 `participant_erased`.
    """
    # The role first: a caller who may never read this waits for nothing.
    access.require_role(ctx.principal, access.RECOMMENDATION_READERS, "read recommendations")
    await visibility.await_header(position)
    view = await service.recommendations(ctx, participant_id)
    body = _body(view)
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    answer = (
        Response(status_code=304, headers={"ETag": etag})
        if _matches(if_none_match, etag)
        else Response(body, media_type="application/json", headers={"ETag": etag})
    )
    if view.issued is not None:
        # Where the set stands in the store: the portfolio, given it, shows this set.
        stream = stream_id(participant_id)
        send_positions(answer, PositionToken(SERVICE_NAME, view.position, stream))
    return answer
