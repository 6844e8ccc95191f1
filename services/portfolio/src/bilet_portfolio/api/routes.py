"""The routes of `/portfolio/v1`: parse → wait for the caller's writes → query → answer.

Every read accepts the `BVB-Position` header a command returned and waits (bounded) until the
read model has applied it; every answer carries the positions it reflects in `BVB-Position`.
Refusals are `PortfolioError`s and become problem+json (`problems.on_portfolio_error`).
"""

from dataclasses import replace
from typing import Annotated, Final
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from bilet.http import Role
from bilet.http.consistency import (
    POSITION_HEADER,
    PositionToken,
    parse_position_tokens,
    position_header,
    position_parameter,
    positions_value,
    send_positions,
)
from bilet.http.context import Context
from bilet.http.direct import DirectRoute
from bilet.http.headers import HeaderParameter, documented, read_headers
from bilet_portfolio.api.models import ChildrenModel, PortfolioModel, SchoolParticipantsModel
from bilet_portfolio.api.problems import problems
from bilet_portfolio.api.representations import portfolio_json, summary_model
from bilet_portfolio.api.streams import UpdateStreams
from bilet_portfolio.application.access import require_list_role, require_portfolio_role
from bilet_portfolio.application.errors import AccessDenied
from bilet_portfolio.application.listing import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_SURNAME_LENGTH,
    SURNAME_PATTERN,
    SchoolQuery,
    SortKey,
)
from bilet_portfolio.application.service import PortfolioQueries
from bilet_portfolio.domain.consent import ConsentState
from bilet_portfolio.domain.progress import ProgressFilter
from bilet_portfolio.settings import SOURCES

SSE_MEDIA_TYPE: Final = "text/event-stream"
# One event of the updates stream, as a client's EventSource sees it.
SSE_EVENT: Final = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "event": {"type": "string", "enum": ["portfolio", "closed"]},
        "id": {"type": "string"},
        "data": {"type": "string", "contentMediaType": "application/json"},
        "retry": {"type": "integer", "minimum": 0},
    },
}


def _queries(request: Request) -> PortfolioQueries:
    # Looked up by each route itself rather than as a dependency: FastAPI's resolution of a
    # dependency costs more than the lookup (docs/adr/0073).
    queries: PortfolioQueries = request.app.state.portfolio
    return queries


POSITION_DESCRIPTION: Final = (
    "Read-your-writes: the `BVB-Position` value(s) commands returned, "
    "comma-separated. The read waits (2 s at most) until they are applied."
)
PositionHeader = Annotated[str | None, position_header(POSITION_DESCRIPTION, SOURCES)]
# The portfolio's read, the suite's most frequent request (a gateway's polling with
# `If-None-Match`), reads its two headers itself: FastAPI's resolution of them cost more than
# the route's own work for a 304 (docs/adr/0086). The document states them as before.
POSITION: Final = position_parameter(POSITION_DESCRIPTION, SOURCES)
IF_NONE_MATCH: Final = HeaderParameter("if-none-match", max_length=2000)

# The portfolio's read is called without FastAPI's dependency solving (`DirectRoute`: its path,
# the request and the context only; docs/adr/0098); the other routes take parameters, so FastAPI
# handles them as before.
router = APIRouter(prefix="/v1", tags=["portfolio"], route_class=DirectRoute)


async def _wait(queries: PortfolioQueries, header: str | None) -> bool:
    """Wait until the header's tokens are applied: whether there were any."""
    tokens = parse_position_tokens(header)
    if tokens:
        await queries.await_tokens(tokens)
    return bool(tokens)


async def _tokens(queries: PortfolioQueries) -> list[PositionToken]:
    """The positions an answer reflects, one token per source."""
    return [PositionToken(s, p) for s, p in (await queries.positions()).items()]


async def _reflects(queries: PortfolioQueries, response: Response) -> None:
    """The positions the answer reflects in its `BVB-Position` header."""
    send_positions(response, *await _tokens(queries))


# What every answer of a portfolio says of its caching: the caller's own, revalidated each time.
_CACHING: Final = {"Cache-Control": "private, no-cache", "Vary": "Authorization"}


async def _portfolio_headers(queries: PortfolioQueries, etag: str) -> dict[str, str]:
    """A portfolio answer's headers, given at once (setting one on a built answer scans its
    headers again): the tag, the caching, the positions it reflects."""
    headers = {"ETag": etag, **_CACHING}
    if tokens := await _tokens(queries):
        headers[POSITION_HEADER] = positions_value(*tokens)
    return headers


def _matches(if_none_match: str | None, etag: str) -> bool:
    """Weak comparison (RFC 9110 §13.1.2): `*`, or any listed tag with the same opaque value."""
    if if_none_match is None:
        return False
    opaque = etag.removeprefix("W/")
    for candidate in (part.strip() for part in if_none_match.split(",")):
        if candidate == "*" or candidate.removeprefix("W/") == opaque:
            return True
    return False


# ---------------------------------------------------------------------- routes
@router.get(
    "/participants/{participant_id}",
    name="get_participant_portfolio",
    summary="A participant's whole portfolio (ETag, If-None-Match → 304)",
    response_model=PortfolioModel,
    responses={
        304: {"description": "Not modified: the `If-None-Match` ETag is current."},
        **problems(403, 404, 409, 410),
    },
    openapi_extra=documented(POSITION, IF_NONE_MATCH),
)
async def get_participant_portfolio(
    participant_id: UUID, request: Request, context: Context
) -> Response:
    """A participant's whole portfolio: consent, school and grade, progress, diagnostics, career
    events, recommendations, linked guardians and history. Every answer showing it is audited.

    **Who, and what they see:** the pupil (their own); the guardian of the child (the token's
    `children` claim); the navigator of the pupil's school; the coordinator of the pupil's region
    (all four with names and mentors' comments); the operator (everyone, without names); the
    registrar of the pupil's school (the consent state only). Without a verified consent covering
    the portfolio only the school (navigator, registrar) sees its consent state; others get 403.

    **Behaviour:** `ETag` on every answer; `If-None-Match` with a current tag answers 304. Send a
    command's `BVB-Position` to read your writes; the answer's `BVB-Position` says what it reflects.

    **Refusals:** 400 `invalid_position_token`; 403 `forbidden` (organiser, mentor, support,
    analyst), `consent_required` (with `consent_state`); 404 `unknown_participant` (unknown, or not
    the caller's); 409 `not_yet_visible` (`Retry-After`); 410 `participant_erased`.
    """
    # Validated before anything else, as FastAPI validated them as parameters.
    position, if_none_match = read_headers(request.headers, POSITION, IF_NONE_MATCH)
    require_portfolio_role(context.principal)  # before anything is waited for or looked up
    queries = _queries(request)
    waited = await _wait(queries, position)
    # The tag first (the participant's row, access and the consent gate decided on it): a 304
    # reads no more, and the tag names the rendered answer a repeated read is sent (ADR 0025).
    # The row is the one the caller's write left when they waited for it, else the kept one.
    checked = await queries.check(context, str(participant_id), fresh=waited)
    if _matches(if_none_match, checked.etag):
        return Response(status_code=304, headers=await _portfolio_headers(queries, checked.etag))
    rendered = await queries.rendered(context, checked, portfolio_json)
    headers = await _portfolio_headers(queries, rendered.etag)
    return Response(rendered.body, media_type="application/json", headers=headers)


@router.get(
    "/schools/{school_id}/participants",
    name="list_school_participants",
    summary="The participants of a school, cursor-paged, filtered and sorted",
    response_model=SchoolParticipantsModel,
    responses=problems(403, 404, 409),
)
async def list_school_participants(
    school_id: UUID,
    request: Request,
    context: Context,
    response: Response,
    position: PositionHeader = None,
    grade: Annotated[int | None, Query(ge=1, le=11)] = None,
    consent: Annotated[ConsentState | None, Query(description="The consent state.")] = None,
    progress: Annotated[
        ProgressFilter | None,
        Query(description="How far the pupil has come (only pupils with an open portfolio)."),
    ] = None,
    surname: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=MAX_SURNAME_LENGTH,
            pattern=SURNAME_PATTERN,
            description="The start of the surname (case, «ё»/«е» and spacing ignored): "
            "pupils whose name the caller sees only (open portfolios).",
        ),
    ] = None,
    sort: Annotated[SortKey, Query()] = SortKey.PARTICIPANT,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=512, description="`next_cursor` of the previous page.")
    ] = None,
) -> SchoolParticipantsModel:
    """The participants of one school, one page at a time, filtered by `grade`, `consent` state,
    `progress` and `surname` (a prefix), sorted by `sort`, with `total` (all pages). Pass the
    answer's `next_cursor` as `cursor` (with the same filters and sort) for the next page; it is
    absent on the last page. Each pupil is shown as their portfolio would show them to the
    caller: a row the portfolio would refuse is not listed.

    **Who, and what they see:** the navigator of the school and the coordinator of its region
    (names and progress; a coordinator the pupils of their region); the operator (progress,
    without names); the registrar of the school (consent states only). A closed portfolio shows
    its consent state only; what is shown of open ones is audited. `surname` searches the names
    the caller sees (open portfolios), so only the navigator and the coordinator may use it.

    **Refusals:** 400 `invalid_cursor`, `invalid_position_token`; 403 `forbidden` (any other role,
    another school or region; `surname` for the registrar or the operator); 404 `unknown_school`
    (operator only: others get 403); 409 `not_yet_visible` (`Retry-After`); 422
    `invalid_request` (e.g. `limit` out of range, `surname` not letters).
    """
    require_list_role(context.principal)
    queries = _queries(request)
    query = SchoolQuery(
        grade=grade, consent=consent, progress=progress, sort=sort, limit=limit, surname=surname
    )
    if cursor is not None:
        query = replace(query, after=queries.cursors.decode(str(school_id), query, cursor))
    await _wait(queries, position)
    page = await queries.school(context, str(school_id), query)
    response.headers["Cache-Control"] = "private, no-store"
    await _reflects(queries, response)
    return SchoolParticipantsModel(
        school_id=page.school_id,
        items=[summary_model(item) for item in page.items],
        next_cursor=page.next_cursor,
        total=page.total,
    )


@router.get(
    "/me/children",
    name="list_my_children",
    summary="The guardian's children: those the token's `children` claim names",
    response_model=ChildrenModel,
    responses=problems(403, 409),
)
async def list_my_children(
    request: Request, context: Context, response: Response, position: PositionHeader = None
) -> ChildrenModel:
    """The children the identity provider names in the guardian's token (`children` claim), as far
    as the portfolio knows them; erased participants are left out. A child whose portfolio is
    closed (no verified consent covering it) is listed with its consent state only.

    **Who:** a guardian only. Send a command's `BVB-Position` to read your writes.

    **Refusals:** 400 `invalid_position_token`; 403 `forbidden` (any other role); 409
    `not_yet_visible` (`Retry-After`).
    """
    if context.principal.role is not Role.GUARDIAN:
        raise AccessDenied("Only a guardian has children here.")
    queries = _queries(request)
    await _wait(queries, position)
    children = await queries.children(context)
    response.headers["Cache-Control"] = "private, no-store"
    await _reflects(queries, response)
    return ChildrenModel(items=[summary_model(child) for child in children])


@router.get(
    "/participants/{participant_id}/updates",
    name="stream_participant_updates",
    summary="Server-sent events: one `portfolio` event whenever the portfolio changes",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "An event stream (`text/event-stream`): `portfolio` events carry "
            "`{participant_id, version, etag}`; `closed` says why the stream ended early "
            "(`consent_required`, `participant_erased`, …, or `token_expired`: the stream "
            "never outlives the caller's token).",
            # Before OpenAPI 3.2, `schema` of an event stream describes each event.
            "content": {SSE_MEDIA_TYPE: {"schema": SSE_EVENT}},
        },
        **problems(403, 404, 409, 410),
    },
)
async def stream_participant_updates(
    participant_id: UUID,
    request: Request,
    context: Context,
    position: PositionHeader = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=100)] = None,
) -> StreamingResponse:
    """Server-sent events: a `portfolio` event (`{participant_id, version, etag}`) at the start
    (unless `Last-Event-ID` is already current) and whenever the portfolio changes; then fetch it
    with `If-None-Match`. A `closed` event says why the stream ended early (`consent_required`,
    `participant_erased`, …, or `token_expired`: it never outlives the caller's token).

    **Who:** as for the portfolio itself (`GET /portfolio/v1/participants/{participant_id}`);
    refusals are answered before the stream starts.

    **Refusals:** 400 `invalid_position_token`; 403 `forbidden`, `consent_required`; 404
    `unknown_participant`; 409 `not_yet_visible` (`Retry-After`); 410 `participant_erased`.
    """
    require_portfolio_role(context.principal)
    queries = _queries(request)
    waited = await _wait(queries, position)
    pid = str(participant_id)
    # Refusals are answered before the stream starts.
    first = await queries.check(context, pid, fresh=waited)
    streams: UpdateStreams = request.app.state.update_streams
    return StreamingResponse(
        streams.follow(
            queries, context, pid, first, last_event_id, expires_at=context.principal.expires_at
        ),
        media_type=SSE_MEDIA_TYPE,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
