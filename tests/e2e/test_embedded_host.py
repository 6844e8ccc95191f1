"""The embedded host serves every service under its own prefix, as a Kubernetes ingress would."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import jwt
import pytest

from bilet.http.testing import app_lifespan
from bilet.services import SERVICE_NAMES
from bilet_consent.demo import DEMO_GUARDIAN
from bilet_host.embedded import create_embedded_host
from bilet_identity import demo as identity_demo


@pytest.fixture
async def client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("BVB_VAR_DIR", str(tmp_path / "var"))
    host = create_embedded_host()
    # Starting loads the demo data of identity, consent and the portfolio: seconds, not ms.
    async with app_lifespan(host) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bilet") as client:
            yield client


async def test_each_service_answers_health_and_serves_its_own_documents_under_its_prefix(
    client: httpx.AsyncClient,
) -> None:
    # One host start for all six services: a start loads the demo data.
    for service in SERVICE_NAMES:
        response = await client.get(f"/{service}/healthz")
        assert response.status_code == 200, service
        assert response.json() == {"status": "ok", "service": service, "version": "0.1.0"}
        document = (await client.get(f"/{service}/openapi.json")).json()
        assert document["openapi"].startswith("3."), service
        assert all(path.startswith(f"/{service}/") for path in document["paths"]), service
        operation = document["paths"][f"/{service}/healthz"]["get"]["operationId"]
        assert operation == f"{service}_healthz"
        docs = await client.get(f"/{service}/docs")
        assert docs.status_code == 200, service
        assert f"/{service}/openapi.json" in docs.text, service


async def test_the_index_lists_every_service_and_unknown_paths_are_problems(
    client: httpx.AsyncClient,
) -> None:
    index = (await client.get("/")).json()
    assert set(index["services"]) == set(SERVICE_NAMES)
    missing = await client.get("/nowhere/healthz")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["code"] == "not_found"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_bvb_run_serves_all_services_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "BVB_PORT": str(port), "BVB_VAR_DIR": str(tmp_path / "var")}
    process = subprocess.Popen(
        [sys.executable, "-m", "bilet_host.cli", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = (
            time.monotonic() + 120
        )  # a bound against a hang, not a speed check: a loaded machine starts slowly
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/identity/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, "bvb run exited before serving"
            assert time.monotonic() < deadline, "bvb run did not serve within 120 s"
            time.sleep(0.2)
        for service in SERVICE_NAMES:
            assert httpx.get(f"http://127.0.0.1:{port}/{service}/healthz").status_code == 200
            assert httpx.get(f"http://127.0.0.1:{port}/{service}/docs").status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert f"http://127.0.0.1:{port}/portfolio/docs" in output
    guardian_line = next(
        line for line in output.splitlines() if line.strip().startswith("guardian")
    )
    claims = jwt.decode(guardian_line.split()[-1], options={"verify_signature": False})
    # The demo guardian's children are identity's demo pupils whose consents the consent demo holds.
    assert claims["children"] == [str(child) for child in DEMO_GUARDIAN.participant_ids]
    assert claims["sub"] == str(DEMO_GUARDIAN.guardian_id)
    assert DEMO_GUARDIAN.participant_ids[0] == identity_demo.FIRST_PUPIL
    assert (tmp_path / "var").is_dir()


def test_bvb_dev_token_mints_a_token_the_services_accept(tmp_path: Path) -> None:
    env = {**os.environ, "BVB_VAR_DIR": str(tmp_path / "var")}
    minted = subprocess.run(
        [
            sys.executable,
            "-m",
            "bilet_host.cli",
            "dev-token",
            "--role",
            "registrar",
            "--school",
            "3f2b1c9e-8d7a-4b6c-9e1f-0a2b3c4d5e6f",
            "--hours",
            "1",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    token = minted.stdout.strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["role"], claims["school"], claims["iss"]) == (
        "registrar",
        "3f2b1c9e-8d7a-4b6c-9e1f-0a2b3c4d5e6f",
        "bilet-development",
    )
    assert claims["exp"] - claims["iat"] == 3600
    refused = subprocess.run(
        [sys.executable, "-m", "bilet_host.cli", "dev-token", "--role", "registrar"],
        env={**env, "BVB_ENVIRONMENT": "production"},
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2
    assert "only in development" in refused.stderr
    # The services refuse a token living longer than BVB_JWT_MAX_LIFETIME_SECONDS: none is minted.
    too_long = subprocess.run(
        [
            sys.executable,
            "-m",
            "bilet_host.cli",
            "dev-token",
            "--role",
            "registrar",
            "--hours",
            "13",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert too_long.returncode == 2
    assert too_long.stdout == ""
    assert "BVB_JWT_MAX_LIFETIME_SECONDS" in too_long.stderr


def test_bvb_hands_a_services_own_commands_to_it() -> None:
    helped = subprocess.run(
        [sys.executable, "-m", "bilet_host.cli", "consent", "--help"],
        capture_output=True,
        text=True,
    )
    assert helped.returncode == 0, helped.stderr
    assert "erase-due" in helped.stdout
    unknown = subprocess.run(
        [sys.executable, "-m", "bilet_host.cli", "diagnostics"],
        capture_output=True,
        text=True,
    )
    assert unknown.returncode == 2  # argparse: no such command (diagnostics has none yet)
