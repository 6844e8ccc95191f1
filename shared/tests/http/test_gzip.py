"""The frame's gzip (`bilet.http.semantics.Gzip`) answers as Starlette's `GZipMiddleware` does,
byte for byte: its lean path for clients that do not accept gzip adds `Vary: Accept-Encoding`
where Starlette does and leaves every body as it was sent."""

from typing import Any

import pytest
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import Message, Receive, Scope, Send

from bilet.http.semantics import GZIP_MINIMUM_BYTES, Gzip

LARGE = b"x" * GZIP_MINIMUM_BYTES
SMALL = b"x" * (GZIP_MINIMUM_BYTES - 1)

# (status, headers, bodies: each (chunk, more_body))
ANSWERS: dict[str, tuple[int, list[tuple[bytes, bytes]], list[tuple[bytes, bool]]]] = {
    "not modified": (304, [(b"etag", b'W/"1"')], [(b"", False)]),
    "small json": (200, [(b"content-type", b"application/json")], [(SMALL, False)]),
    "large json": (200, [(b"content-type", b"application/json")], [(LARGE, False)]),
    "large, already varying": (
        200,
        [(b"content-type", b"application/json"), (b"vary", b"Authorization")],
        [(LARGE, False)],
    ),
    "stream": (200, [(b"content-type", b"text/plain")], [(b"a", True), (b"b", True), (b"", False)]),
    "event stream": (
        200,
        [(b"content-type", b"text/event-stream; charset=utf-8")],
        [(LARGE, True), (b"", False)],
    ),
    "excluded type, by its family": (200, [(b"content-type", b"image/png")], [(LARGE, False)]),
    "already encoded": (
        200,
        [(b"content-type", b"application/json"), (b"content-encoding", b"br")],
        [(LARGE, False)],
    ),
    "partial": (206, [(b"content-type", b"application/json")], [(LARGE, False)]),
    "no headers": (200, [], [(LARGE, False)]),
}


def _route(name: str) -> Any:
    status, headers, bodies = ANSWERS[name]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": status, "headers": list(headers)})
        for chunk, more in bodies:
            await send({"type": "http.response.body", "body": chunk, "more_body": more})

    return app


async def _answer(middleware: type[GZipMiddleware], name: str, accept: bytes | None) -> list[Any]:
    app = middleware(_route(name), minimum_size=GZIP_MINIMUM_BYTES)
    headers = [(b"host", b"test")] + ([(b"accept-encoding", accept)] if accept else [])
    scope = {"type": "http", "method": "GET", "path": "/", "headers": headers}
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return [
        (m["type"], m.get("status"), list(m.get("headers", [])), m.get("body"), m.get("more_body"))
        for m in sent
    ]


@pytest.mark.parametrize("name", sorted(ANSWERS))
@pytest.mark.parametrize("accept", [None, b"br", b"identity", b"gzip, deflate"])
async def test_every_answer_is_starlettes(name: str, accept: bytes | None) -> None:
    ours = await _answer(Gzip, name, accept)
    starlettes = await _answer(GZipMiddleware, name, accept)

    assert ours == starlettes


async def test_a_large_answer_to_a_client_without_gzip_says_it_varies() -> None:
    (start, body) = await _answer(Gzip, "large json", None)

    assert (b"vary", b"Accept-Encoding") in start[2]
    assert body[3] == LARGE
