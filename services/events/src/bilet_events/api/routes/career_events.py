"""`/events/v1/career-events`: organisers publish, revise and cancel career events; everyone
signed in reads the catalogue."""

from typing import Annotated
from uuid import UUID, uuid4

from fastapi import APIRouter, Query, Response
from pydantic import AwareDatetime

from bilet.contracts.catalogue.events import CareerEventFormat
from bilet.contracts.vocabulary import Environment
from bilet.http.problems import Problem
from bilet_events.api.models import (
    CancelCareerEventRequest,
    CareerEventChangedResponse,
    PublishCareerEventRequest,
    ReviseCareerEventRequest,
)
from bilet_events.api.problems import problems
from bilet_events.api.routes.common import (
    Context,
    PositionHeader,
    Service,
    Visibility,
    answer_position,
)
from bilet_events.api.views import CareerEventModel, CataloguePageModel
from bilet_events.application.facts import CatalogueCursor, CatalogueFilter

router = APIRouter(prefix="/v1/career-events", tags=["career events"])


@router.post(
    "",
    name="publish_career_event",
    summary="Publish a career event with its sessions",
    status_code=201,
    responses=problems(403, 409),
)
async def publish_career_event(
    body: PublishCareerEventRequest, response: Response, service: Service, ctx: Context
) -> CareerEventChangedResponse:
    """Publishes the career event (`CareerEventPublished`): its texts in Russian, environments,
    profession, level, format (a venue exactly when in person), region and municipality, its
    sessions with their seats, the eligible grades, the accommodations it provides and its
    mentors. A session's id defaults to one derived from the career event's; the career
    event's own id to a new one (give `career_event_id` to retry safely). Answers 201 with
    `Location` and `BVB-Position`: the catalogue shows it once it has applied that far.

    **Who:** an organiser, for their own venue (`organiser_id` is their token's `venue`); the
    regional coordinator, in their own region (`region_id` is their token's `region`). Any other
    role: 403.

    **Refusals:** 403 `forbidden` (another role, another venue or region); 409
    `career_event_exists` (the id is taken: a retry of a publish that succeeded); 422
    `invalid_request` (e.g. a session ending before it starts, a venue for an online career
    event). Nothing is changed by a refusal.
    """
    career_event_id = body.career_event_id or uuid4()
    committed = await service.publish(ctx, body.published(career_event_id))
    response.headers["Location"] = f"/events/v1/career-events/{career_event_id}"
    return _changed(response, career_event_id, committed.position)


@router.put(
    "/{career_event_id}",
    name="revise_career_event",
    summary="Revise a career event before its first booking",
    responses=problems(403, 404, 409),
)
async def revise_career_event(
    career_event_id: UUID,
    body: ReviseCareerEventRequest,
    response: Response,
    service: Service,
    ctx: Context,
) -> CareerEventChangedResponse:
    """Replaces every stated detail (`CareerEventRevised`): a session left out is withdrawn,
    one kept keeps its id (give its `session_id`). Region, season and organiser stay.

    **Who:** the organiser of its venue; the coordinator of its region. Any other role: 403.

    **Refusals:** 403 `forbidden` (another role); 404 `unknown_career_event` (unknown, or not
    the caller's); 409 `bookings_exist` (a pupil booked already: they booked what it said),
    `career_event_cancelled`, `version_conflict`; 422 `invalid_request`. Nothing is changed by a
    refusal.
    """
    committed = await service.revise(ctx, body.revised(career_event_id))
    return _changed(response, career_event_id, committed.position)


@router.post(
    "/{career_event_id}/cancellation",
    name="cancel_career_event",
    summary="Cancel a career event: every booking is cancelled with the reason",
    responses=problems(403, 404, 409),
)
async def cancel_career_event(
    career_event_id: UUID,
    body: CancelCareerEventRequest,
    response: Response,
    service: Service,
    ctx: Context,
) -> CareerEventChangedResponse:
    """Cancels the career event (`CareerEventCancelled`): every seat and place in line is
    released (`BookingCancelled` with the reason `career_event_cancelled`, which the pupils'
    portfolios show) and no longer counts against the pupils' season maximum.

    **Who:** the organiser of its venue; the coordinator of its region. Any other role: 403.

    **Refusals:** 403 `forbidden` (another role); 404 `unknown_career_event` (unknown, or not
    the caller's); 409 `career_event_cancelled` (cancelled already), `version_conflict`; 422
    `invalid_request` (a reason not in the list). Nothing is changed by a refusal.
    """
    committed = await service.cancel_career_event(ctx, career_event_id, body.reason)
    return _changed(response, career_event_id, committed.position)


@router.get(
    "",
    name="list_career_events",
    summary="The catalogue: career events by region, environment, grade, dates, seats left",
    responses=problems(400, 403, 404, 409),
)
async def list_career_events(
    service: Service,
    visibility: Visibility,
    ctx: Context,
    region_id: UUID | None = None,
    municipality: Annotated[str | None, Query(min_length=1, max_length=300)] = None,
    environment: Environment | None = None,
    grade: Annotated[int | None, Query(ge=1, le=11)] = None,
    starts_from: Annotated[
        AwareDatetime | None,
        Query(
            description="A session starting at or after this moment; by default now (the "
            "upcoming sessions): pass an earlier moment to see past ones."
        ),
    ] = None,
    starts_before: Annotated[
        AwareDatetime | None, Query(description="A session starting before this moment.")
    ] = None,
    format: CareerEventFormat | None = None,
    min_seats_left: Annotated[
        int | None, Query(ge=1, le=1000, description="A session with at least this many seats.")
    ] = None,
    suitable_for: Annotated[
        UUID | None,
        Query(
            description="A pupil's participant id: only career events they may book (their "
            "region and grade, their accessibility needs covered when a consent allows reading "
            "them, not overlapping their bookings, not booked already)."
        ),
    ] = None,
    cursor: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=r"^[A-Za-z0-9_-]+$",
            description="The `next_cursor` of the page before.",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    position: PositionHeader = None,
) -> CataloguePageModel:
    """Career events not cancelled with a session matching every filter given, ordered by their
    earliest matching session's start, `limit` per page (`next_cursor` for the next). Seats
    left and the line's length per session follow the bookings as the read model has applied
    them: carry a command's `BVB-Position` to see its effect.

    **Who:** every signed-in role sees the same catalogue (public texts, seats; no pupil's
    data). `suitable_for` only for the pupil themself, their guardian (`children`), or their
    school's registrar or navigator.

    **Refusals:** 400 `invalid_cursor`, `invalid_position_token`; 403 `forbidden`; 404
    `unknown_participant` (`suitable_for` unknown, or not the caller's); 409 `not_yet_visible`
    (`Retry-After`); 422 `invalid_request` (a filter out of range).
    """
    after = _cursor(cursor)
    await visibility.await_header(position)
    where = CatalogueFilter(
        region_id=region_id,
        municipality=municipality,
        environment=environment,
        grade=grade,
        starts_from=starts_from if starts_from is not None else service.clock(),
        starts_before=starts_before,
        format=format,
        min_seats_left=min_seats_left,
    )
    page = await service.catalogue(ctx, where, after=after, limit=limit, suitable_for=suitable_for)
    return CataloguePageModel(
        items=[CareerEventModel.of(entry) for entry in page.entries],
        next_cursor=page.next_cursor.encode() if page.next_cursor is not None else None,
    )


@router.get(
    "/{career_event_id}",
    name="get_career_event",
    summary="A career event with every session and its seats left",
    responses=problems(400, 403, 404, 409),
)
async def get_career_event(
    career_event_id: UUID,
    service: Service,
    visibility: Visibility,
    ctx: Context,
    position: PositionHeader = None,
) -> CareerEventModel:
    """The career event as published (with its latest revision), cancelled or not, with every
    session's seats left and line, as the read model has applied the bookings (carry a
    command's `BVB-Position` to see its effect).

    **Who:** every signed-in role, alike (public texts, seats; no pupil's data).

    **Refusals:** 400 `invalid_position_token`; 403 `forbidden`; 404 `unknown_career_event`;
    409 `not_yet_visible` (`Retry-After`).
    """
    await visibility.await_header(position)
    return CareerEventModel.of(await service.career_event(ctx, career_event_id))


def _changed(
    response: Response, career_event_id: UUID, position: int
) -> CareerEventChangedResponse:
    return CareerEventChangedResponse(
        career_event_id=career_event_id,
        position=answer_position(response, position, career_event_id),
    )


def _cursor(token: str | None) -> CatalogueCursor | None:
    if token is None:
        return None
    try:
        return CatalogueCursor.decode(token)
    except ValueError:
        raise Problem(
            400, "invalid_cursor", "Invalid cursor", "Pass a page's `next_cursor` unchanged."
        ) from None
