"""Fixtures shared by every test folder: where the real servers of `scripts/infra/infra.sh` are.

A test that needs a server fails (never skips) when the server is not configured: `make test` starts
them, and a green run must mean they were really exercised.
"""

import os
import shlex
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent
INFRA_ENV = REPO / "var" / "infra.env"


def _infra_setting(name: str) -> str:
    """`BVB_*` from the environment, else from the `var/infra.env` that `make infra-up` writes."""
    if value := os.environ.get(name):
        return value
    if INFRA_ENV.exists():
        for line in INFRA_ENV.read_text(encoding="utf-8").splitlines():
            words = shlex.split(line.removeprefix("export "))
            if words and words[0].startswith(f"{name}="):
                return words[0].split("=", 1)[1]
    pytest.fail(
        f"{name} is not set and {INFRA_ENV} does not name it: run `make infra-up` "
        "(or point the variable at an existing server)",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    return _infra_setting("BVB_KAFKA_BOOTSTRAP")


@pytest.fixture(scope="session")
def database_url() -> str:
    return _infra_setting("BVB_DATABASE_URL")
