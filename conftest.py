"""Fixtures shared by every test folder: where the real servers of `scripts/infra/infra.sh` are.

A test that needs a server fails (never skips) when the server is not configured: `make test` starts
them, and a green run must mean they were really exercised.
"""

import os
import shlex
from pathlib import Path

import pytest
from hypothesis import settings

from bilet.kafka import KafkaConnection

# Tests assert behaviour, never timing: hypothesis's default deadline (200 ms per example) is a
# timing assertion, and it failed once parallel workers (ADR 0064) shared the cores. Every
# property test inherits this profile unless its own `settings` say otherwise.
settings.register_profile("bilet", deadline=None)
settings.load_profile("bilet")

REPO = Path(__file__).resolve().parent
INFRA_ENV = REPO / "var" / "infra.env"


def _infra_value(name: str) -> str | None:
    """`name` as the `var/infra.env` that `make infra-up` writes sets it, if it does."""
    if INFRA_ENV.exists():
        for line in INFRA_ENV.read_text(encoding="utf-8").splitlines():
            words = shlex.split(line.removeprefix("export "))
            if words and words[0].startswith(f"{name}="):
                return words[0].split("=", 1)[1]
    return None


def _infra_setting(name: str, hint: str = "") -> str:
    """`BVB_*` from the environment, else from the `var/infra.env` that `make infra-up` writes."""
    if value := os.environ.get(name) or _infra_value(name):
        return value
    pytest.fail(
        f"{name} is not set and {INFRA_ENV} does not name it: run `make infra-up` "
        f"(or point the variable at an existing server){hint}",
        pytrace=False,
    )


def pytest_configure(config: pytest.Config) -> None:
    """A parallel worker (xdist's `gwN`) talks to its own PostgreSQL server when infra.sh started
    one per worker (`BVB_PG_INSTANCES`, listed in `BVB_TEST_DATABASE_URLS`): an event store reads
    below the oldest transaction open anywhere on its server, so another worker's open
    transaction would hold back this worker's reads (ADR 0064). Set in the environment, so the
    processes a test starts inherit it."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return
    urls = os.environ.get("BVB_TEST_DATABASE_URLS") or _infra_value("BVB_TEST_DATABASE_URLS")
    if urls:
        servers = urls.split()
        os.environ["BVB_DATABASE_URL"] = servers[int(worker[2:]) % len(servers)]


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    return _infra_setting("BVB_KAFKA_BOOTSTRAP")


@pytest.fixture(scope="session")
def database_url() -> str:
    return _infra_setting("BVB_DATABASE_URL")


def _local_tls_dir() -> Path:
    return Path(_infra_setting("BVB_LOCAL_KAFKA_TLS_DIR", _SECURED_HINT))


_SECURED_HINT = (
    "; a broker infra.sh started before it had secured listeners gets them with "
    "`scripts/infra/infra.sh kafka-stop && scripts/infra/infra.sh kafka-start`"
)


@pytest.fixture(scope="session")
def scram_kafka() -> KafkaConnection:
    """The local broker's SASL_SSL listener (`infra.sh up`, ADR 0022): TLS verified against the
    local CA, SCRAM-SHA-512 with the password in a file."""
    tls = _local_tls_dir()
    return KafkaConnection(
        bootstrap_servers=_infra_setting("BVB_LOCAL_KAFKA_SASL_SSL_BOOTSTRAP", _SECURED_HINT),
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username=_infra_setting("BVB_LOCAL_KAFKA_SCRAM_USERNAME", _SECURED_HINT),
        sasl_password_file=tls / "scram.password",
        ssl_cafile=tls / "ca.pem",
    )


@pytest.fixture(scope="session")
def mtls_kafka() -> KafkaConnection:
    """The local broker's SSL listener, which wants a client certificate signed by its CA."""
    tls = _local_tls_dir()
    return KafkaConnection(
        bootstrap_servers=_infra_setting("BVB_LOCAL_KAFKA_SSL_BOOTSTRAP", _SECURED_HINT),
        security_protocol="SSL",
        ssl_cafile=tls / "ca.pem",
        ssl_certfile=tls / "client.pem",
        ssl_keyfile=tls / "client.key",
    )
