"""Server-sent updates over a real HTTP server (uvicorn): an event per change (woken by the
commit, not a poll), a clean end when the client goes away, when access ends, and when the server
is asked to stop (SIGTERM)."""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import uvicorn

from bilet.contracts import EventMetadata, encode
from bilet.crypto import FieldCipher
from bilet.http import Role
from bilet.http.devkeys import ensure_development_keys
from bilet.stores import open_key_store, open_source_stores
from bilet_portfolio.app import create_app
from bilet_portfolio.settings import SOURCES, PortfolioSettings

if TYPE_CHECKING:
    from services.portfolio.tests.conftest import Ids, SecondApi, Service


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def events(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    kind, data = "", ""
    async for line in lines:
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
        elif line == "" and kind:
            yield kind, json.loads(data)
            kind, data = "", ""


async def until(condition: Any, what: str) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never: {what}")


async def test_changes_are_streamed_and_a_disconnect_ends_the_stream(
    make_settings: Any, catalogue: Any, ids: "Ids"
) -> None:
    settings: PortfolioSettings = make_settings()
    stores = await open_source_stores(settings, SOURCES)
    keys = await open_key_store(settings)
    catalogue.cipher = FieldCipher(keys)
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    server.install_signal_handlers = False  # type: ignore[attr-defined]
    serving = asyncio.create_task(server.serve())
    try:
        await until(lambda: server.started, "the server started")
        pid, cid = ids.pupil("sse"), ids.uid("consent:sse")

        async def append(event: Any) -> None:
            await stores[event.service].append(
                event.stream_id, [encode(event, EventMetadata(actor="t"))]
            )

        for event in (
            await catalogue.registered(pid),
            await catalogue.submitted(pid, cid, valid_until=date(2100, 1, 1)),
            catalogue.verified(pid, cid, valid_until=date(2100, 1, 1)),
        ):
            await append(event)
        signer = ensure_development_keys(settings.var_dir)
        headers = {"Authorization": f"Bearer {signer.mint(Role.PUPIL, participant=str(pid))}"}
        streams = app.state.update_streams
        # Fed in-process, a stream sleeps until its participant's commit: were it polling, no
        # change would reach it within the test.
        assert streams.signalled
        streams.poll = streams.keepalive = 3600.0
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            token = {"BVB-Position": f"consent:{await stores['consent'].head_position()}"}
            async with client.stream(
                "GET",
                f"/portfolio/v1/participants/{pid}/updates",
                headers={**headers, **token},
            ) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                received = events(response.aiter_lines())
                kind, first = await anext(received)
                assert kind == "portfolio"
                assert first["participant_id"] == str(pid)
                await append(await catalogue.corrected(pid, grade=8))
                kind, second = await anext(received)
                assert kind == "portfolio"
                assert second["version"] == first["version"] + 1
                assert second["etag"] != first["etag"]
                assert streams.open == 1
            await until(lambda: streams.open == 0, "the stream ended after the client left")
            # A withdrawn consent ends the stream with the refusal's code.
            async with client.stream(
                "GET", f"/portfolio/v1/participants/{pid}/updates", headers=headers
            ) as response:
                received = events(response.aiter_lines())
                await anext(received)
                await append(catalogue.withdrawn(pid, cid))
                kind, closed = await anext(received)
                assert (kind, closed) == ("closed", {"code": "consent_required"})
            refused = await client.get(
                f"/portfolio/v1/participants/{ids.pupil('other')}/updates", headers=headers
            )
            assert refused.status_code == 404
    finally:
        server.should_exit = True
        await serving
        await keys.close()
        for opened in stores.values():
            await opened.close()


async def seed_pupil(settings: PortfolioSettings, catalogue: Any, pid: Any, cid: Any) -> None:
    """A pupil with a verified consent valid for long, in the stores under `settings.var_dir`."""
    stores = await open_source_stores(settings, SOURCES)
    keys = await open_key_store(settings)
    try:
        catalogue.cipher = FieldCipher(keys)
        for event in (
            await catalogue.registered(pid),
            await catalogue.submitted(pid, cid, valid_until=date(2100, 1, 1)),
            catalogue.verified(pid, cid, valid_until=date(2100, 1, 1)),
        ):
            await stores[event.service].append(
                event.stream_id, [encode(event, EventMetadata(actor="t"))]
            )
    finally:
        await keys.close()
        for store in stores.values():
            await store.close()


@pytest.mark.timeout(120)
def test_sigterm_ends_open_streams_before_the_graceful_timeout(
    tmp_path: Path, catalogue: Any, ids: "Ids"
) -> None:
    """uvicorn waits for open responses before it runs the lifespan's end; the chained SIGTERM
    handler closes the streams first, so uvicorn never has to cancel them."""
    var = tmp_path / "var"
    pid, cid = ids.pupil("sigterm"), ids.uid("consent:sigterm")
    asyncio.run(seed_pupil(PortfolioSettings(var_dir=var), catalogue, pid, cid))
    signer = ensure_development_keys(var)
    port = free_port()
    env = {
        **os.environ,
        "BVB_VAR_DIR": str(var),
        "BVB_PORTFOLIO_EMBEDDED_FEED": "true",
        "BVB_PORTFOLIO_SSE_MAX_SECONDS": "3600",
    }
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bilet_portfolio.app:create_app",
            "--factory",
            "--port",
            str(port),
            "--timeout-graceful-shutdown",
            "60",
        ],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}/portfolio"
    headers = {"Authorization": f"Bearer {signer.mint(Role.PUPIL, participant=str(pid))}"}
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        with (
            httpx.Client(timeout=90) as client,
            client.stream(
                "GET", f"{base}/v1/participants/{pid}/updates", headers=headers
            ) as response,
        ):
            assert response.status_code == 200
            lines = response.iter_lines()
            assert any(line == "event: portfolio" for line in lines)
            server.send_signal(signal.SIGTERM)
            rest = list(lines)  # the server ends the stream: the body completes
        assert all(not line.startswith("event: portfolio") for line in rest)
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=90)
    # uvicorn re-raises the signal it shut down on, once it is done.
    assert server.returncode in (0, -signal.SIGTERM), stderr
    assert "Application shutdown complete" in stderr
    assert "timeout graceful shutdown exceeded" not in stderr


async def test_a_stream_ends_when_the_callers_token_expires(service: "Service") -> None:
    """Access ends with the token: the stream says so and ends, long before its own limit."""
    pid = await service.pupil_with_consent("sse-expiry")
    service.app.state.update_streams.max_seconds = 60
    # `exp` is in whole seconds, so a 1 s token may be due as soon as it is minted: on a busy
    # machine the stream then began past it and sent `closed` without its first event.
    short = {
        "Authorization": "Bearer "
        + service.signer.mint(Role.PUPIL, participant=str(pid), ttl_seconds=3)
    }
    response = await service.client.get(
        f"/portfolio/v1/participants/{pid}/updates", headers=short, timeout=120
    )
    assert response.status_code == 200
    received = [item async for item in events(_lines(response.text))]
    assert [kind for kind, _ in received] == ["portfolio", "closed"]
    assert received[-1][1] == {"code": "token_expired"}


async def _lines(text: str) -> AsyncIterator[str]:
    for line in text.split("\n"):
        yield line


async def test_without_a_signal_a_stream_polls_the_read_model_another_process_feeds(
    service: "Service", second_api: "SecondApi"
) -> None:
    """An API whose SQLite read model another process feeds hears no commit: its streams look
    every `portfolio_sse_poll_seconds`, and still see the change (ADR 0059)."""
    pid = await service.pupil_with_consent("sse-poll")
    async with second_api(portfolio_sse_poll_seconds=0.05) as (api, client):
        streams = api.state.update_streams
        assert not streams.signalled
        streams.max_seconds = 5.0  # the ASGI transport answers once the stream has ended
        reading = asyncio.create_task(
            client.get(
                f"/portfolio/v1/participants/{pid}/updates",
                headers=service.token(Role.PUPIL, participant=str(pid)),
                timeout=60,
            )
        )
        await until(lambda: streams.open == 1 or reading.done(), "the stream started")
        assert not reading.done(), (await reading).text
        await service.append(await service.catalogue.corrected(pid, grade=8))
        await service.settle()  # applied by the other app's feed, into the same file
        response = await reading
    received = [item async for item in events(_lines(response.text))]
    assert [kind for kind, _ in received] == ["portfolio", "portfolio"]
    assert received[1][1]["version"] == received[0][1]["version"] + 1
