"""Every answer the frame sends carries the request's correlation id in `X-Correlation-Id`
(docs/adr/0116, amendment): routes' answers and problems, the frame's own refusals (the guard's,
415, an unknown query parameter), a 304, HEAD, an event stream, CORS's preflight and the 500 of
a route that fails — so a page can quote it to support, and operators find its log lines."""

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel

from bilet.http import ServiceDescription, create_service_app
from bilet.http.document import CORRELATION_ID_SENT
from bilet.http.problems import Problem
from bilet.logs import bind_log_context
from bilet.settings import PlatformSettings

from .conftest import ServeRouter

ORIGIN = "https://pupil.example"
# One response object answered again and again, as a cache of answers would.
CACHED = Response(b"cached", media_type="text/plain", headers={"ETag": '"1"'})


class Note(BaseModel):
    text: str


def ids_router() -> APIRouter:
    router = APIRouter()

    @router.get("/notes/{number}")
    async def read_note(number: int) -> Note:
        if number == 0:
            raise Problem(404, "note_not_found", "No such note")
        return Note(text="note")

    @router.post("/notes", status_code=201)
    async def write_note(note: Note) -> Note:
        return note

    @router.get("/unchanged")
    async def unchanged() -> Response:
        return Response(status_code=304, headers={"ETag": '"1"'})

    @router.get("/cached")
    async def cached() -> Response:
        return CACHED

    @router.get("/events")
    async def events() -> StreamingResponse:
        return StreamingResponse(
            iter(["data: one\n\n", "data: two\n\n"]), media_type="text/event-stream"
        )

    @router.get("/boom")
    async def boom() -> Note:
        raise RuntimeError("fails before it answers")

    @router.get("/mine")
    async def mine(request: Request) -> str:
        return str(request.state.correlation_id)

    return router


@pytest.fixture(autouse=True)
def no_ids_left_behind() -> Iterator[None]:
    yield
    bind_log_context()  # the test's task served the requests: leave no ids behind


def sent_ids(answer: httpx.Response) -> list[str]:
    return answer.headers.get_list("x-correlation-id")


KINDS = {
    "a read": ("GET", "/ids/notes/1", {}, b"", 200),
    "a write": ("POST", "/ids/notes", {"content-type": "application/json"}, b'{"text": "x"}', 201),
    "a route's problem": ("GET", "/ids/notes/0", {}, b"", 404),
    "no such route": ("GET", "/ids/nowhere", {}, b"", 404),
    "a method not allowed": ("DELETE", "/ids/notes/1", {}, b"", 405),
    "a validation problem": ("GET", "/ids/notes/one", {}, b"", 422),
    "the guard's invalid text": ("GET", "/ids/notes/1%00", {}, b"", 400),
    "the guard's too large": (
        "POST",
        "/ids/notes",
        {"content-type": "application/json"},
        b'{"text": "' + b"x" * (2 << 20) + b'"}',
        413,
    ),
    "the frame's 415": ("POST", "/ids/notes", {"content-type": "text/plain"}, b"text=x", 415),
    "the frame's unknown query": ("GET", "/ids/notes/1?colour=red", {}, b"", 400),
    "a 304": ("GET", "/ids/unchanged", {"if-none-match": '"1"'}, b"", 304),
    "a HEAD": ("HEAD", "/ids/notes/1", {}, b"", 200),
    "a HEAD refused": ("HEAD", "/ids/notes/1?colour=red", {}, b"", 400),
    "an event stream": ("GET", "/ids/events", {}, b"", 200),
    "a HEAD of an event stream": ("HEAD", "/ids/events", {}, b"", 200),
    "a route that fails": ("GET", "/ids/boom", {}, b"", 500),
    "a HEAD whose route fails": ("HEAD", "/ids/boom", {}, b"", 500),
    "a probe": ("GET", "/ids/healthz", {}, b"", 200),
    "CORS's preflight": (
        "OPTIONS",
        "/ids/notes",
        {"access-control-request-method": "POST"},
        b"",
        200,
    ),
}


@pytest.mark.parametrize("kind", KINDS)
async def test_every_kind_of_answer_carries_the_requests_correlation_id(
    serve_router: ServeRouter, kind: str
) -> None:
    method, target, headers, body, status = KINDS[kind]
    given = {"x-correlation-id": f"req-{uuid.uuid4().hex[:8]}", "origin": ORIGIN}
    async with serve_router(
        ids_router(), "ids", raise_app_exceptions=False, cors_origins=ORIGIN
    ) as client:
        answer = await client.request(method, target, headers={**given, **headers}, content=body)
    assert answer.status_code == status
    assert sent_ids(answer) == [given["x-correlation-id"]]


async def test_the_id_sent_is_the_one_the_request_was_given_or_got(
    serve_router: ServeRouter,
) -> None:
    async with serve_router(ids_router(), "ids") as client:
        kept = await client.get("/ids/mine", headers={"X-Correlation-Id": "req-1:a.b_c"})
        new = await client.get("/ids/mine")
        replaced = await client.get("/ids/mine", headers={"X-Correlation-Id": "not a token <x>"})
    assert sent_ids(kept) == [kept.json()] == ["req-1:a.b_c"]
    # A request that brings none, or one that is not a plain token, gets a new one: the one its
    # route (its log lines, its events) got.
    for answer in (new, replaced):
        assert sent_ids(answer) == [answer.json()]
        uuid.UUID(answer.json())
    assert new.json() != replaced.json()


async def test_an_answer_sent_again_carries_each_requests_own_id(
    serve_router: ServeRouter,
) -> None:
    async with serve_router(ids_router(), "ids") as client:
        first = await client.get("/ids/cached", headers={"X-Correlation-Id": "req-first"})
        second = await client.get("/ids/cached", headers={"X-Correlation-Id": "req-second"})
        head = await client.head("/ids/cached", headers={"X-Correlation-Id": "req-head"})
    assert (first.text, second.text) == ("cached", "cached")
    assert sent_ids(first) == ["req-first"]
    assert sent_ids(second) == ["req-second"]
    assert sent_ids(head) == ["req-head"]
    assert (b"x-correlation-id", b"req-first") not in CACHED.raw_headers


def test_the_api_description_says_every_answer_carries_it(tmp_path: Path) -> None:
    app = create_service_app(
        ServiceDescription(name="ids", title="Ids", summary="For tests."),
        [ids_router()],
        settings=PlatformSettings(var_dir=tmp_path),
    )
    description = app.openapi()["info"]["description"]
    assert description == CORRELATION_ID_SENT
    assert app.openapi()["info"]["description"] == description  # said once, asked twice
