"""The frame's HTTP semantics (bilet.http.semantics): HEAD wherever GET is, 415 for a JSON route
called with another content type, CORS only for the origins a deployment names, gzip for large
answers but never for an event stream."""

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from bilet.http import ServiceDescription, create_service_app
from bilet.http.problems import PROBLEM_JSON, problem_responses
from bilet.http.semantics import cors_origins_from
from bilet.settings import PlatformSettings

from .conftest import ServeRouter


class Note(BaseModel):
    text: str


def notes_router() -> APIRouter:
    router = APIRouter()

    @router.get("/notes/{number}", responses=problem_responses(404))
    async def read_note(number: int) -> Note:
        """A note."""
        return Note(text="заметка " * number)

    @router.post("/notes", status_code=201, responses=problem_responses())
    async def write_note(note: Note) -> Note:
        """Writes a note."""
        return note

    @router.get("/stream")
    async def stream() -> StreamingResponse:
        """An endless event stream."""

        async def events() -> AsyncIterator[str]:
            while True:
                yield "data: " + "x" * 2048 + "\n\n"
                await asyncio.sleep(0.01)

        return StreamingResponse(events(), media_type="text/event-stream")

    @router.get("/few-events")
    async def few_events() -> StreamingResponse:
        """A short event stream of large events."""
        return StreamingResponse(
            iter(["data: " + "x" * 2048 + "\n\n"] * 3), media_type="text/event-stream"
        )

    return router


async def test_head_answers_where_get_does_with_the_same_headers_and_no_body(
    serve_router: ServeRouter,
) -> None:
    async with serve_router(notes_router(), "notes") as client:
        got = await client.get("/notes/notes/3")
        head = await client.head("/notes/notes/3")
    assert head.status_code == got.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == got.headers["content-length"]
    assert head.headers["content-type"] == got.headers["content-type"]


async def test_head_is_counted_as_head_of_its_route(serve_router: ServeRouter) -> None:
    async with serve_router(notes_router(), "notes") as client:
        await client.get("/notes/notes/3")
        await client.head("/notes/notes/3")
        metrics = (await client.get("/notes/metrics")).text
    counted = set(re.findall(r'bvb_http_requests_total\{method="(\w+)",route="([^"]+)"', metrics))
    note_routes = {route for _, route in counted if "{number}" in route}
    assert len(note_routes) == 1
    assert {(method, route) for method, route in counted if route in note_routes} == {
        ("GET", *note_routes),
        ("HEAD", *note_routes),
    }


async def test_head_of_an_event_stream_ends_with_the_headers(serve_router: ServeRouter) -> None:
    async with serve_router(notes_router(), "notes") as client:
        # Bounded: were the stream run on for nobody, the answer would never end.
        head = await asyncio.wait_for(client.head("/notes/stream"), timeout=30)
    assert head.status_code == 200
    assert head.headers["content-type"].startswith("text/event-stream")
    assert head.content == b""


async def test_head_is_named_among_the_allowed_methods(serve_router: ServeRouter) -> None:
    async with serve_router(notes_router(), "notes") as client:
        response = await client.delete("/notes/notes/3")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


async def test_a_json_route_refuses_another_content_type_with_415(
    serve_router: ServeRouter,
) -> None:
    async with serve_router(notes_router(), "notes") as client:
        refused = await client.post(
            "/notes/notes", content=b"text=hi", headers={"content-type": "text/plain"}
        )
        unnamed = await client.post("/notes/notes", content=b'{"text": "hi"}')
        accepted = await client.post("/notes/notes", json={"text": "hi"})
        vendor_json = await client.post(
            "/notes/notes",
            content=b'{"text": "hi"}',
            headers={"content-type": "application/vnd.bilet+json; charset=utf-8"},
        )
    assert refused.status_code == 415
    assert unnamed.status_code == 415
    assert refused.headers["content-type"] == PROBLEM_JSON
    assert refused.json()["code"] == "unsupported_media_type"
    assert accepted.status_code == vendor_json.status_code == 201


def test_json_routes_list_415_and_others_do_not(tmp_path: Path) -> None:
    app = create_service_app(
        ServiceDescription(name="notes", title="Notes", summary="For tests."),
        [notes_router()],
        settings=PlatformSettings(var_dir=tmp_path),
    )
    paths = app.openapi()["paths"]
    refusal = paths["/notes/notes"]["post"]["responses"]["415"]
    assert refusal["content"][PROBLEM_JSON]["schema"] == {
        "$ref": "#/components/schemas/ProblemDocument"
    }
    assert "415" not in paths["/notes/notes/{number}"]["get"]["responses"]


async def test_large_answers_are_gzipped_small_ones_and_streams_are_not(
    serve_router: ServeRouter,
) -> None:
    gzip = {"accept-encoding": "gzip"}
    async with serve_router(notes_router(), "notes") as client:
        large = await client.get("/notes/notes/500", headers=gzip)
        small = await client.get("/notes/notes/1", headers=gzip)
        async with client.stream("GET", "/notes/few-events", headers=gzip) as stream:
            stream_encoding = stream.headers.get("content-encoding")
    assert large.headers["content-encoding"] == "gzip"
    assert large.json() == {"text": "заметка " * 500}
    assert "content-encoding" not in small.headers
    assert stream_encoding is None


PUPIL = "https://pupil.example"
PREFLIGHT = {
    "access-control-request-method": "POST",
    "access-control-request-headers": "content-type",
}


async def test_cors_is_off_by_default(
    serve_router: ServeRouter,
) -> None:
    async with serve_router(notes_router(), "notes") as client:
        answer = await client.get("/notes/notes/1", headers={"origin": "https://pupil.example"})
    assert answer.status_code == 200
    assert "access-control-allow-origin" not in answer.headers


async def test_cors_answers_the_named_origins_only(
    serve_router: ServeRouter,
) -> None:
    async with serve_router(
        notes_router(), "notes", cors_origins="https://pupil.example, https://school.example:8443"
    ) as client:
        preflight = await client.options(
            "/notes/notes", headers={"origin": "https://pupil.example", **PREFLIGHT}
        )
        named = await client.get("/notes/notes/1", headers={"origin": "https://pupil.example"})
        other = await client.get("/notes/notes/1", headers={"origin": "https://evil.example"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://pupil.example"
    assert named.headers["access-control-allow-origin"] == "https://pupil.example"
    assert named.headers["access-control-allow-credentials"] == "true"
    assert "access-control-allow-origin" not in other.headers


async def test_a_page_of_a_named_origin_may_use_every_header_the_services_take_and_give(
    serve_router: ServeRouter,
) -> None:
    # A frontend on another origin reads its own writes (`BVB-Position` sent and read), makes
    # conditional reads and writes, resumes an event stream and is told when to retry.
    asked = "authorization, bvb-position, if-none-match, if-match, last-event-id, traceparent"
    async with serve_router(
        notes_router(), "notes", cors_origins="https://pupil.example"
    ) as client:
        preflight = await client.options(
            "/notes/notes",
            headers={
                "origin": "https://pupil.example",
                "access-control-request-method": "GET",
                "access-control-request-headers": asked,
            },
        )
        answer = await client.get("/notes/notes/1", headers={"origin": "https://pupil.example"})
    assert preflight.status_code == 200
    allowed = {
        h.strip().lower() for h in preflight.headers["access-control-allow-headers"].split(",")
    }
    assert {h.strip() for h in asked.split(",")} <= allowed
    exposed = {
        h.strip().lower() for h in answer.headers["access-control-expose-headers"].split(",")
    }
    assert {"bvb-position", "etag", "location", "retry-after", "x-correlation-id"} <= exposed


@pytest.mark.parametrize(
    "setting", ["*", "https://*.example", "pupil.example", "ftp://pupil.example", "https://a.b/x"]
)
def test_cors_origins_must_be_exact(setting: str) -> None:
    with pytest.raises(ValueError, match="BVB_CORS_ORIGINS"):
        cors_origins_from(setting)


def docs_urls_of_an_app(tmp_path: Path) -> tuple[str | None, str | None]:
    app = create_service_app(
        ServiceDescription(name="notes", title="Notes", summary="For tests."),
        [notes_router()],
        settings=PlatformSettings(var_dir=tmp_path),
    )
    return app.docs_url, app.redoc_url


async def test_the_docs_pages_load_their_assets_from_the_service(
    serve_router: ServeRouter, tmp_path: Path
) -> None:
    async with serve_router(notes_router(), "notes") as client:
        swagger = await client.get("/notes/docs")
        redoc = await client.get("/notes/redoc")
        assets = [
            await client.get(f"/notes/docs/assets/{name}")
            for name in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js")
        ]
    assert swagger.status_code == redoc.status_code == 200
    assert docs_urls_of_an_app(tmp_path) == ("/notes/docs", "/notes/redoc")
    for page in (swagger.text, redoc.text):
        assert "cdn." not in page
        assert "/notes/docs/assets/" in page
    assert [asset.status_code for asset in assets] == [200, 200, 200]
    assert all(len(asset.content) > 1024 for asset in assets)
