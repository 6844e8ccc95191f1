"""`bvb run`, the embedded platform, logs as every service's own process does: one JSON object per
line on stderr (uvicorn's lines, the services' and their access lines), a request's ids on its
lines, no query string; the banner and the demo tokens stay human text on stdout.
"""

import json
import signal
import subprocess
from pathlib import Path

import httpx

from bilet_host.testing import start_bvb_run

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_the_embedded_platform_logs_json_lines_with_the_request_ids(tmp_path: Path) -> None:
    process, port = start_bvb_run(tmp_path, stderr=subprocess.PIPE)
    assert process.stderr is not None
    started: list[str] = []
    try:
        # Started once uvicorn says it runs (the demo data loads first); each line is kept.
        while not started or "Uvicorn running on" not in started[-1]:
            line = process.stderr.readline()
            assert line, f"bvb run stopped: {started}"
            started.append(line)
        answer = httpx.get(
            f"http://127.0.0.1:{port}/identity/v1/regions?name=Иванова",
            headers={"X-Correlation-Id": "req-embedded", "traceparent": TRACEPARENT},
        )
        # A parameter the route does not take, holding a name: refused (before the missing
        # token, as every refusal of the request's form is) and logged without its query.
        assert answer.status_code == 400
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C, as a person at the terminal stops it
        stdout, rest = process.communicate(timeout=60)
    stderr = "".join(started) + rest
    assert process.returncode == 0, stderr
    assert stdout.startswith("Bilet is starting embedded at")
    lines = [json.loads(line) for line in stderr.splitlines()]  # each line JSON, or this fails
    assert any(line["message"].startswith("Uvicorn running on") for line in lines)
    assert any(line["logger"] == "bilet_identity.demo" for line in lines)
    (access,) = [line for line in lines if line.get("correlation_id") == "req-embedded"]
    assert access["logger"] == "bilet.http.access"
    assert (access["route"], access["status"]) == ("/identity/v1/regions", 400)
    assert access["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert "Иванова" not in stderr
    assert "name=" not in stderr
