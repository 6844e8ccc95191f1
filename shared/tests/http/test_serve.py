"""`python -m bilet.http.serve`, the service images' entry point, as a real uvicorn process: every
line it writes is JSON (uvicorn's own included), the lines of a request carry its ids, and
neither the client's address nor the query string is logged.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from bilet.http.serve import main

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PERSONAL = "Иванова"

PROBE_APP = '''
"""A service with a route that logs and one that fails, for the serving tests."""

import logging

from fastapi import APIRouter, FastAPI

from bilet.http import ServiceDescription, create_service_app

router = APIRouter()


@router.get("/v1/work")
async def work(q: str | None = None) -> dict[str, str]:
    logging.getLogger("probe").info("work done")
    return {"done": "yes"}


@router.get("/v1/broken")
async def broken() -> None:
    raise RuntimeError("the handler failed")


def create_app() -> FastAPI:
    return create_service_app(ServiceDescription("probe", "Probe", "For tests."), [router])
'''


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(arguments: list[str], tmp_path: Path, **env: str) -> Iterator[tuple[str, list[str]]]:
    """Runs `python <arguments>` until the block ends, then stops it with SIGTERM as Kubernetes
    does; yields its base URL and, once stopped, the lines it wrote to stderr."""
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, *[part.replace("{port}", str(port)) for part in arguments]],
        cwd=tmp_path,
        env={**os.environ, "BVB_VAR_DIR": str(tmp_path / "var"), "PYTHONPATH": str(tmp_path)} | env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    try:
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                httpx.get(f"{base_url}/", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        yield base_url, lines
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        lines.extend(stderr.splitlines())
    # uvicorn stops gracefully, then re-raises the signal it caught: exit status -SIGTERM.
    assert process.returncode in (0, -signal.SIGTERM), stderr
    assert json.loads(lines[-1])["message"].startswith("Finished server process")


def _parsed(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines]  # a line that is not JSON fails here


def test_a_request_under_uvicorn_logs_json_with_its_ids_and_no_query(tmp_path: Path) -> None:
    (tmp_path / "probe_app.py").write_text(textwrap.dedent(PROBE_APP))
    serve = "from bilet.http.serve import serve_api; "
    serve += "serve_api('probe_app:create_app', host='127.0.0.1', port={port})"
    with serving(["-c", serve], tmp_path) as (base_url, lines):
        ids = {"X-Correlation-Id": "req-7", "traceparent": TRACEPARENT}
        worked = httpx.get(f"{base_url}/probe/v1/work", params={"q": PERSONAL}, headers=ids)
        assert worked.status_code == 200
        failed = httpx.get(f"{base_url}/probe/v1/broken", headers={"X-Correlation-Id": "req-500"})
        assert failed.status_code == 500
    logged = _parsed(lines)
    messages = [line["message"] for line in logged if line["logger"] == "uvicorn.error"]
    assert any(message.startswith("Uvicorn running on") for message in messages)
    assert "Shutting down" in messages
    request = [line for line in logged if line.get("correlation_id") == "req-7"]
    assert [line["message"] for line in request] == ["work done", "GET /probe/v1/work 200"]
    assert all(line["trace_id"] == TRACE_ID for line in request)
    failure = [line for line in logged if line.get("correlation_id") == "req-500"]
    # The server's own line about the failure carries the request's id and the traceback.
    (traceback,) = [line for line in failure if line["logger"] == "uvicorn.error"]
    assert "RuntimeError: the handler failed" in traceback["exception"]
    assert "GET /probe/v1/broken 500" in [line["message"] for line in failure]
    text = "\n".join(lines)
    for kept_out in (PERSONAL, "q=", "127.0.0.1:", "HTTP/1.1"):
        assert kept_out not in text.replace(f"Uvicorn running on {base_url}", "")


def test_the_image_entry_point_serves_the_service_named_by_bvb_service(tmp_path: Path) -> None:
    arguments = ["-m", "bilet.http.serve", "--host", "127.0.0.1", "--port", "{port}"]
    with serving(arguments, tmp_path, BVB_SERVICE="diagnostics") as (base_url, lines):
        health = httpx.get(f"{base_url}/diagnostics/healthz")
        assert health.json()["service"] == "diagnostics"
        missing = httpx.get(
            f"{base_url}/diagnostics/v1/nothing?name={PERSONAL}",
            headers={"X-Correlation-Id": "req-404"},
        )
        assert missing.status_code == 404
    logged = _parsed(lines)
    (access,) = [line for line in logged if line.get("correlation_id") == "req-404"]
    assert (access["logger"], access["route"], access["status"]) == (
        "bilet.http.access",
        "unmatched",
        404,
    )
    assert PERSONAL not in "\n".join(lines)


def test_the_entry_point_refuses_to_guess_the_service(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("BVB_SERVICE", raising=False)
    assert main([]) == 2
    assert main(["--service", "billing"]) == 2
    assert "one of identity, consent" in capsys.readouterr().err
