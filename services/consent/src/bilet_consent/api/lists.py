"""The list routes of `/consent/v1`: the verification queue (`GET /consents`) and the consent
state of a school's participants (`GET /participants`). Keyset-paged: pass `next_cursor` back as
`cursor` with the same filters."""

from typing import Annotated, Final
from uuid import UUID

from fastapi import APIRouter, Query

from bilet_consent.api.models import (
    ConsentQueuePage,
    ParticipantStateModel,
    ParticipantStatePage,
    QueuedConsentModel,
)
from bilet_consent.api.problems import problems
from bilet_consent.api.routes import Context, Service
from bilet_consent.application.listing import CURSOR_MAX_LENGTH, QUEUE_CURSOR, STATES_CURSOR
from bilet_consent.application.lists import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    ConsentListStatus,
    ParticipantState,
)

router = APIRouter(prefix="/v1")

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page (1–{MAX_LIMIT}).")]
School = Annotated[
    UUID | None,
    Query(
        description="Only this school's participants (now). A registrar or navigator: their own "
        "school (the default); another is 403 `forbidden`."
    ),
]
Region = Annotated[
    UUID | None,
    Query(
        description="Only this region's participants (now). A coordinator: their own region "
        "(the default); another is 403 `forbidden`."
    ),
]
_CURSOR_HELP: Final = (
    "`next_cursor` of the previous page, as it was given; else 400 `invalid_cursor`."
)


def _cursor(pattern: str) -> object:
    # The pattern is stated in the schema and checked by the service (400 `invalid_cursor`, a
    # code of its own, rather than the 422 of a malformed filter).
    return Query(
        description=_CURSOR_HELP,
        json_schema_extra={"pattern": pattern, "maxLength": CURSOR_MAX_LENGTH},
    )


@router.get(
    "/consents",
    name="list_consents",
    tags=["consents"],
    summary="The verification queue: consents by status, oldest submission first",
    responses=problems(400, 403),
)
async def list_consents(
    service: Service,
    ctx: Context,
    status: Annotated[
        ConsentListStatus, Query(description="The consents' status (default `pending`).")
    ] = ConsentListStatus.PENDING,
    school: School = None,
    region: Region = None,
    cursor: Annotated[str | None, _cursor(QUEUE_CURSOR)] = None,
    limit: Limit = DEFAULT_LIMIT,
) -> ConsentQueuePage:
    """The consents of a `status` (`pending` by default: the verification queue), oldest
    submission first, each with the participant's school and region, the school that uploaded
    it, when, and for a rejected one the reasons and whether a new consent followed. No personal
    data: a verifier opens the consent (`GET /consents/{id}`) and its document to decide.
    Participants whose data was destroyed are left out.

    **Who sees what:** the operator — every region, narrowed by `school` and `region` if given;
    the coordinator — their region's participants; the registrar and the navigator — their
    school's (typically `pending`, and `rejected` with the reasons, to correct and resubmit).

    Send a command's `BVB-Position` (or identity's) to see its effect: the list waits (bounded)
    for it.

    **Refusals:** 400 `invalid_cursor` (not a `next_cursor` this list gave),
    `invalid_position_token`; 403 `forbidden`
    (guardian, pupil, organiser, mentor, support; a `school` or `region` not the caller's),
    `outside_analytics_purpose` (analyst); 422 `invalid_request` (an unknown `status`, a
    malformed `school` or `region`, `limit` out of range).
    """
    page = await service.queue(ctx, status, school, region, cursor, limit)
    return ConsentQueuePage(
        items=[QueuedConsentModel.model_validate(item) for item in page.items],
        next_cursor=page.next_cursor,
    )


@router.get(
    "/participants",
    name="list_participant_states",
    tags=["consents"],
    summary="The consent state of a school's (or region's) participants",
    responses=problems(400, 403),
)
async def list_participant_states(
    service: Service,
    ctx: Context,
    school: School = None,
    region: Region = None,
    state: Annotated[
        list[ParticipantState] | None,
        Query(
            max_length=len(ParticipantState),
            description="Only participants in these states (repeat the parameter), e.g. "
            "`none` and `pending`: the ones a school must chase.",
        ),
    ] = None,
    cursor: Annotated[str | None, _cursor(STATES_CURSOR)] = None,
    limit: Limit = DEFAULT_LIMIT,
) -> ParticipantStatePage:
    """Each participant's consent state, by participant id, as `GET /participants/{id}/status`
    tells it for one: `state`, the consent it speaks of, the purposes in force (verified), the
    end date, a scheduled destruction and how many consents wait. Never the guardian's details
    nor documents. Names are identity's: join on `participant_id`.

    **Who sees what:** the registrar and the navigator — their school's participants (the
    default school); the coordinator — their region's; the operator — any, narrowed by `school`
    and `region`. All see the same fields.

    Send a command's `BVB-Position` (or identity's) to see its effect: the list waits (bounded)
    for it.

    **Refusals:** 400 `invalid_cursor` (not a `next_cursor` this list gave),
    `invalid_position_token`; 403 `forbidden`
    (guardian, pupil, organiser, mentor, support; a `school` or `region` not the caller's),
    `outside_analytics_purpose` (analyst); 422 `invalid_request` (an unknown `state`, a
    malformed `school` or `region`, `limit` out of range).
    """
    states = frozenset(state or ())
    page = await service.participant_states(ctx, school, region, states, cursor, limit)
    return ParticipantStatePage(
        items=[ParticipantStateModel.model_validate(item) for item in page.items],
        next_cursor=page.next_cursor,
    )
