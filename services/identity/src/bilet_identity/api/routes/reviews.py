"""The duplicate reviews' routes: the open reviews, and a review resolved (docs/adr/0043)."""

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from bilet.http.context import Context
from bilet_identity.api.models import Position, Request
from bilet_identity.api.problems import problems
from bilet_identity.api.routes.common import Service, answer_position
from bilet_identity.domain.internal import ReviewOutcome

router = APIRouter(prefix="/v1")


class DuplicateReviewModel(BaseModel):
    review_id: UUID = Field(description="What `POST …/duplicate-reviews/{id}/resolution` names.")
    participant_id: UUID = Field(description="The profile the review is about (kept if merged).")
    requested_by_school_id: UUID
    requested_at: str


class SameChildResolution(Request):
    """The registration refused was the reviewed child: the review closes. A second profile of
    that child, when named, is merged into the reviewed one."""

    outcome: Literal["same_child"]
    duplicate_participant_id: UUID | None = Field(
        default=None,
        description="A second profile of the reviewed child, to close: it answers with the kept "
        "id from now on and lets go of its СНИЛС. Omitted: nothing to merge.",
    )


class DifferentChildrenResolution(Request):
    """The registration refused was another child: the review closes, and the same pair (name
    and birth date, СНИЛС) is never flagged again."""

    outcome: Literal["different_children"]


ReviewResolutionRequest = Annotated[
    SameChildResolution | DifferentChildrenResolution, Field(discriminator="outcome")
]


class ReviewResolvedResponse(BaseModel):
    review_id: UUID
    outcome: ReviewOutcome
    kept_participant_id: UUID = Field(description="The reviewed profile.")
    merged_participant_id: UUID | None = Field(description="The profile closed into it, if any.")
    version: int | None = Field(description="The kept profile's version (unchanged by a merge).")
    position: Position


@router.get(
    "/duplicate-reviews",
    name="list_duplicate_reviews",
    tags=["participants"],
    summary="Registrations refused as a duplicate, waiting for a person (federal operator)",
    responses=problems(403),
)
async def list_duplicate_reviews(service: Service, context: Context) -> list[DuplicateReviewModel]:
    """Registrations refused as `duplicate_needs_review` (a СНИЛС already registered with
    another name or birth date, or a pupil of the school with the same name and birth date
    under another СНИЛС) and not resolved yet, oldest first: the review's id, the participant
    it is about, the school that asked, when. The whole list, no paging; an erased child's
    request is gone, and so is a resolved one.

    **Who:** the federal operator only.

    **Refusals:** 403 `forbidden` (any other role).
    """
    return [
        DuplicateReviewModel(
            review_id=r.review_id,
            participant_id=r.participant_id,
            requested_by_school_id=r.requested_by_school_id,
            requested_at=r.requested_at,
        )
        for r in await service.duplicate_reviews(context)
    ]


@router.post(
    "/duplicate-reviews/{review_id:uuid}/resolution",
    name="resolve_duplicate_review",
    tags=["participants"],
    summary="Resolve a duplicate review: the same child (merge) or two children (federal operator)",
    responses=problems(403, 404, 409, 422),
)
async def resolve_duplicate_review(
    review_id: UUID,
    body: ReviewResolutionRequest,
    service: Service,
    context: Context,
    response: Response,
) -> ReviewResolvedResponse:
    """Resolve a review once. `same_child`: the registration refused was the reviewed child;
    with `duplicate_participant_id`, that second profile of the child is merged into the
    reviewed one in the same commit: it is closed (its view answers `merged_into`, commands
    on it are refused), it lets go of its СНИЛС, and `ParticipantMerged` tells the other
    services to follow. `different_children`: the review closes and the same pair (name and
    birth date, СНИЛС) is never flagged again, so the school may register the second child.
    Answers the review, the kept profile's id and `version`, and `BVB-Position`.

    **Who:** the federal operator only.

    **Refusals:** 403 `forbidden` (any other role); 404 `unknown_review` (no such review, or
    its child was erased); 409 `review_resolved` (resolved already), `participant_merged`
    (the reviewed profile or the duplicate is closed already); 422 `invalid_details`
    (`duplicate_participant_id` unknown, the reviewed profile itself, or given with
    `different_children`), `invalid_request`.
    """
    duplicate = body.duplicate_participant_id if isinstance(body, SameChildResolution) else None
    outcome = ReviewOutcome(body.outcome)
    committed = await service.resolve_duplicate_review(context, review_id, outcome, duplicate)
    assert committed.id is not None  # the kept profile
    return ReviewResolvedResponse(
        review_id=review_id,
        outcome=outcome,
        kept_participant_id=committed.id,
        merged_participant_id=duplicate,
        version=committed.version,
        position=answer_position(response, committed.position),
    )
