"""Slow clients against a real server on 127.0.0.1, over raw TCP: half-sent headers and trickled
bodies are answered 408 and their connections closed; a silent connection is closed; ordinary
clients, slow ones above the minimum rate included, are served as before."""

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import APIRouter
from pydantic import BaseModel

from bilet.http import ServiceDescription, create_service_app
from bilet.http.deadlines import http_protocol
from bilet.settings import PlatformSettings

# Short deadlines so the tests are quick; every wait below is bounded far above them.
HEADERS_SECONDS = 0.5
BODY_SECONDS = 0.5
MIN_RATE = 100  # bytes per second
BOUND = 10.0  # how long a test waits for the server at most

router = APIRouter()


class Note(BaseModel):
    text: str


@router.post("/v1/echo", name="echo")
async def echo(note: Note) -> Note:
    return note


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def base(tmp_path: Path) -> AsyncIterator[tuple[str, int]]:
    settings = PlatformSettings(
        var_dir=tmp_path,
        request_headers_seconds=HEADERS_SECONDS,
        request_body_seconds=BODY_SECONDS,
        request_body_min_rate=MIN_RATE,
    )
    app = create_service_app(
        ServiceDescription("probe", "Probe", "For tests."), [router], settings=settings
    )
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            http=http_protocol(settings),
            log_level="warning",
            lifespan="off",
        )
    )
    server.install_signal_handlers = False  # type: ignore[attr-defined]
    serving = asyncio.create_task(server.serve())
    try:
        for _ in range(int(BOUND / 0.01)):
            if server.started:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the server did not start")
        yield "127.0.0.1", port
    finally:
        server.should_exit = True
        await serving


async def until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection (bounded)."""
    async with asyncio.timeout(BOUND):
        return await reader.read()


async def one_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    async with asyncio.timeout(BOUND):
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        return head, await reader.readexactly(length)


@contextlib.asynccontextmanager
async def trickling(
    writer: asyncio.StreamWriter, data: bytes, *, pause: float
) -> AsyncIterator["asyncio.Task[None]"]:
    """Sends `data` a byte every `pause` seconds while the block runs."""

    async def trickle() -> None:
        for byte in data:
            writer.write(bytes([byte]))
            await asyncio.sleep(pause)

    task = asyncio.create_task(trickle())
    try:
        yield task
    finally:
        task.cancel()
        writer.close()


async def cut_off(reader: asyncio.StreamReader) -> None:
    """The server answers 408 and closes. Bytes a trickling client still sends after the close
    are answered with a reset, which may overtake the 408: either way the connection is cut."""
    with contextlib.suppress(ConnectionResetError):
        assert_request_timeout(await until_closed(reader))


def assert_request_timeout(answer: bytes) -> None:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer
    assert json.loads(body)["code"] == "request_timeout"


async def test_half_sent_headers_are_answered_408_and_the_connection_closed(
    base: tuple[str, int],
) -> None:
    reader, writer = await asyncio.open_connection(*base)
    writer.write(b"GET /probe/healthz HTTP/1.1\r\nHost: probe\r\nX-Slow: ")
    await writer.drain()
    assert_request_timeout(await until_closed(reader))
    writer.close()


async def test_headers_trickled_a_byte_at_a_time_are_cut_off_at_the_deadline(
    base: tuple[str, int],
) -> None:
    reader, writer = await asyncio.open_connection(*base)
    headers = b"GET /probe/healthz HTTP/1.1\r\nHost: probe\r\nX-Slow: " + b"a" * 1000
    async with trickling(writer, headers, pause=0.02) as trickle:
        await cut_off(reader)
        assert not trickle.done()  # the headers were never complete


async def test_a_connection_that_sends_nothing_is_closed(base: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*base)
    assert await until_closed(reader) == b""
    writer.close()


async def test_half_sent_headers_of_a_second_request_on_a_kept_connection_are_cut_off(
    base: tuple[str, int],
) -> None:
    reader, writer = await asyncio.open_connection(*base)
    writer.write(b"GET /probe/healthz HTTP/1.1\r\nHost: probe\r\n\r\n")
    head, body = await one_response(reader)
    assert head.startswith(b"HTTP/1.1 200")
    assert json.loads(body)["status"] == "ok"
    writer.write(b"GET /probe/healthz HTTP/1.1\r\nHo")
    assert_request_timeout(await until_closed(reader))
    writer.close()


async def test_a_trickled_body_is_answered_408_and_the_connection_closed(
    base: tuple[str, int],
) -> None:
    reader, writer = await asyncio.open_connection(*base)
    body = json.dumps({"text": "x" * 300}).encode()
    writer.write(
        b"POST /probe/v1/echo HTTP/1.1\r\nHost: probe\r\ncontent-type: application/json\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    async with trickling(writer, body, pause=0.05) as trickle:  # 20 bytes a second
        await cut_off(reader)
        assert not trickle.done()  # the body was never complete


async def test_a_stalled_body_is_answered_408_and_the_connection_closed(
    base: tuple[str, int],
) -> None:
    reader, writer = await asyncio.open_connection(*base)
    writer.write(
        b"POST /probe/v1/echo HTTP/1.1\r\nHost: probe\r\ncontent-type: application/json\r\n"
        b'content-length: 100\r\n\r\n{"text": "'
    )
    await writer.drain()
    assert_request_timeout(await until_closed(reader))
    writer.close()


async def test_ordinary_and_slow_but_steady_clients_are_served(base: tuple[str, int]) -> None:
    host, port = base
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=BOUND) as client:
        for _ in range(2):  # one kept-alive connection, two requests
            assert (await client.get("/probe/healthz")).status_code == 200
        large = {"text": "я" * 200_000}
        echoed = await client.post("/probe/v1/echo", json=large)
        assert echoed.status_code == 200
        assert echoed.json() == large
    # A body in pieces with pauses, at well above the minimum rate: served.
    reader, writer = await asyncio.open_connection(host, port)
    body = json.dumps({"text": "z" * 400}).encode()
    writer.write(
        b"POST /probe/v1/echo HTTP/1.1\r\nHost: probe\r\ncontent-type: application/json\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    for start in range(0, len(body), 100):
        writer.write(body[start : start + 100])
        await writer.drain()
        await asyncio.sleep(0.1)  # 1,000 bytes a second
    head, answer = await one_response(reader)
    assert head.startswith(b"HTTP/1.1 200"), head
    assert json.loads(answer) == {"text": "z" * 400}
    writer.close()
