"""`bvb run` prints the development tokens only once every service answers its readiness: read
the moment they appear, every service is ready and a printed token is accepted."""

import signal
import subprocess
from pathlib import Path

import httpx

from bilet.services import SERVICE_NAMES
from bilet_host.testing import start_bvb_run


def test_the_tokens_are_printed_once_every_service_is_ready(tmp_path: Path) -> None:
    process, port = start_bvb_run(tmp_path, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    printed: list[str] = []
    try:
        while not printed or not printed[-1].lstrip().startswith("registrar "):
            line = process.stdout.readline()
            assert line, f"bvb run stopped before printing the tokens: {printed}"
            printed.append(line)
        # Asked only now that the token lines are out: they must already be ready.
        base = f"http://127.0.0.1:{port}"
        for service in SERVICE_NAMES:
            answer = httpx.get(f"{base}/{service}/readyz")
            assert answer.status_code == 200, (service, answer.text)
        registrar = printed[-1].split()[-1]
        school = httpx.get(
            f"{base}/identity/v1/regions", headers={"Authorization": f"Bearer {registrar}"}
        )
        assert school.status_code != 401, school.text
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)
    assert process.returncode == 0
    assert any(line.startswith("Every service is ready.") for line in printed)
