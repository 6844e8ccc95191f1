"""The service frame's one layer (`bilet.http.frame`, docs/adr/0116) keeps the order its rules
had as separate middleware: every request gets an access line, the guard's refusals and CORS's
preflights included; only what passes the guard is counted in the metrics; the guard's refusals
carry CORS's headers; HEAD, media-type and query refusals are counted under their route."""

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel
from starlette.types import Message

from bilet.http import ServiceDescription, create_service_app
from bilet.http.frame import ServiceFrame
from bilet.http.semantics import Gzip
from bilet.logs import bind_log_context
from bilet.settings import PlatformSettings

from .conftest import ServeRouter

ORIGIN = "https://pupil.example"


class Note(BaseModel):
    text: str


def notes_router() -> APIRouter:
    router = APIRouter()

    @router.get("/notes/{number}")
    async def read_note(number: int) -> Note:
        return Note(text="note")

    @router.post("/notes", status_code=201)
    async def write_note(note: Note) -> Note:
        return note

    @router.get("/boom")
    async def boom() -> Note:
        raise RuntimeError("fails before it answers")

    return router


@pytest.fixture
def access_log() -> Iterator[io.StringIO]:
    """The access lines (`method route status`) written during the test."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    access = logging.getLogger("bilet.http.access")
    level = access.level
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        access.removeHandler(handler)
        access.setLevel(level)
        bind_log_context()  # the test's task served the requests: leave no ids behind


def _counted(metrics: str) -> dict[tuple[str, str, str], float]:
    found = re.findall(
        r'bvb_http_requests_total\{method="(\w+)",route="([^"]+)",service="frame",'
        r'status="(\d+)"\} (\S+)',
        metrics,
    )
    return {(method, route, status): float(n) for method, route, status, n in found}


def test_the_frame_is_one_layer_around_gzip(tmp_path: Path) -> None:
    app = create_service_app(
        ServiceDescription(name="frame", title="Frame", summary="For tests."),
        [notes_router()],
        settings=PlatformSettings(var_dir=tmp_path),
    )
    layers: list[object] = [m.cls for m in app.user_middleware]
    assert layers == [ServiceFrame, Gzip]


async def test_guard_refusals_and_preflights_are_logged_not_counted_and_carry_cors(
    serve_router: ServeRouter, access_log: io.StringIO
) -> None:
    async with serve_router(notes_router(), "frame", cors_origins=ORIGIN) as client:
        hostile = await client.get("/frame/notes/1%00", headers={"origin": ORIGIN})
        too_large = await client.post(
            "/frame/notes",
            content=json.dumps({"text": "x" * (2 << 20)}),
            headers={"content-type": "application/json", "origin": ORIGIN},
        )
        preflight = await client.options(
            "/frame/notes",
            headers={"origin": ORIGIN, "access-control-request-method": "POST"},
        )
        read = await client.get("/frame/notes/1", headers={"origin": ORIGIN})
        metrics = (await client.get("/frame/metrics")).text
    assert (hostile.status_code, hostile.json()["code"]) == (400, "invalid_text")
    assert (too_large.status_code, too_large.json()["code"]) == (413, "payload_too_large")
    assert preflight.status_code == read.status_code == 200
    for answer in (hostile, too_large, preflight, read):
        assert answer.headers["access-control-allow-origin"] == ORIGIN
    assert access_log.getvalue().splitlines() == [
        "GET unmatched 400",
        "POST unmatched 413",
        "OPTIONS unmatched 200",
        "GET /frame/notes/{number} 200",
    ]
    # Only the read passed the guard (and the scrape, counted once its answer starts).
    assert _counted(metrics) == {("GET", "/frame/notes/{number}", "200"): 1.0}


async def test_head_and_the_frames_refusals_are_counted_under_their_route(
    serve_router: ServeRouter,
) -> None:
    async with serve_router(notes_router(), "frame") as client:
        head = await client.head("/frame/notes/1")
        not_json = await client.post(
            "/frame/notes", content=b"text=x", headers={"content-type": "text/plain"}
        )
        unknown = await client.get("/frame/notes/1", params={"colour": "red"})
        metrics = (await client.get("/frame/metrics")).text
    assert (head.status_code, head.content) == (200, b"")
    assert (not_json.status_code, not_json.json()["code"]) == (415, "unsupported_media_type")
    assert (unknown.status_code, unknown.json()["code"]) == (400, "unknown_query_parameter")
    assert _counted(metrics) == {
        ("HEAD", "/frame/notes/{number}", "200"): 1.0,
        ("POST", "unmatched", "415"): 1.0,
        ("GET", "/frame/notes/{number}", "400"): 1.0,
    }


async def test_a_head_whose_route_fails_before_answering_is_named_by_its_route(
    serve_router: ServeRouter, access_log: io.StringIO
) -> None:
    async with serve_router(notes_router(), "frame", raise_app_exceptions=False) as client:
        got = await client.get("/frame/boom")
        head = await client.head("/frame/boom")
        metrics = (await client.get("/frame/metrics")).text
    assert got.status_code == head.status_code == 500
    assert access_log.getvalue().splitlines() == ["GET /frame/boom 500", "HEAD /frame/boom 500"]
    assert _counted(metrics) == {
        ("GET", "/frame/boom", "500"): 1.0,
        ("HEAD", "/frame/boom", "500"): 1.0,
    }


async def test_a_scope_that_arrives_marked_counted_does_not_count_a_guard_refusal(
    tmp_path: Path,
) -> None:
    # A frame within a frame, or a scope a test reuses, may carry the marker of an earlier pass.
    app = create_service_app(
        ServiceDescription(name="frame", title="Frame", summary="For tests."),
        [notes_router()],
        settings=PlatformSettings(var_dir=tmp_path),
    )
    answers: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        answers.append(message)

    await app(
        {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/frame/notes/1\x00",
            "raw_path": b"/frame/notes/1%00",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"test")],
            "server": ("test", 80),
            "client": ("test", 1),
            "bilet.counted_since": 0.0,
        },
        receive,
        send,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        metrics = (await client.get("/frame/metrics")).text
    assert answers[0]["status"] == 400  # the guard's refusal: invalid_text
    assert _counted(metrics) == {}
