"""What a service image installs: the runtime closure of its package in uv.lock, and nothing that
only builds or compiles (see the `exclude-dependencies` note in the root pyproject.toml).

The image runs `uv sync --locked --no-dev --package bilet-<service>`, so the closure read here from
the lock (dependencies and the extras they name, no dependency groups) is what the image holds.
"""

import socket
import tomllib
from pathlib import Path
from typing import Any

import pytest
from kurrentdbclient.exceptions import ServiceUnavailableError

from bilet.eventstore.kurrentdb import KurrentDbEventStore
from bilet.services import SERVICE_NAMES

REPO = Path(__file__).resolve().parents[2]
# Tools that build or compile packages, never needed by a running service.
BUILD_TOOLS = frozenset({"grpcio-tools", "setuptools", "pip", "wheel", "hatchling", "cython"})


def _locked_packages() -> dict[str, dict[str, Any]]:
    lock = tomllib.loads((REPO / "uv.lock").read_text(encoding="utf-8"))
    return {package["name"]: package for package in lock["package"]}


def runtime_closure(root: str, packages: dict[str, dict[str, Any]]) -> set[str]:
    """Every package `root` needs at run time: its dependencies, transitively, with the optional
    dependencies of each extra a requirement names (markers are ignored: the closure is the
    widest any platform gets)."""
    seen: set[str] = set()
    pending: list[tuple[str, tuple[str, ...]]] = [(root, ())]
    while pending:
        name, extras = pending.pop()
        key = name if not extras else f"{name}[{','.join(sorted(extras))}]"
        if key in seen:
            continue
        seen.add(key)
        package = packages[name]
        requirements = list(package.get("dependencies", []))
        for extra in extras:
            requirements += package.get("optional-dependencies", {}).get(extra, [])
        for requirement in requirements:
            pending.append((requirement["name"], tuple(requirement.get("extra", ()))))
    return {key.partition("[")[0] for key in seen}


def test_the_closure_follows_extras() -> None:
    packages: dict[str, dict[str, Any]] = {
        "app": {"name": "app", "dependencies": [{"name": "lib", "extra": ["fast"]}]},
        "lib": {
            "name": "lib",
            "dependencies": [{"name": "base"}],
            "optional-dependencies": {"fast": [{"name": "speedup"}], "slow": [{"name": "x"}]},
        },
        "base": {"name": "base"},
        "speedup": {"name": "speedup"},
        "x": {"name": "x"},
    }
    assert runtime_closure("app", packages) == {"app", "lib", "base", "speedup"}


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_a_service_installs_no_build_tools(service: str) -> None:
    closure = runtime_closure(f"bilet-{service}", _locked_packages())
    assert "kurrentdbclient" in closure  # the closure really reaches the gRPC stack
    assert closure & BUILD_TOOLS == set()


def test_development_tools_stay_out_of_the_runtime_closure() -> None:
    closure = runtime_closure("bilet-identity", _locked_packages())
    assert {"pytest", "mypy", "ruff", "schemathesis"} & closure == set()


async def test_the_kurrentdb_adapter_reaches_the_network_without_the_protoc_compiler() -> None:
    # The gRPC stack is used (channel, request messages, status mapping), not only imported: a
    # store on a port nobody listens on fails with the client's own error, not an ImportError.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = await KurrentDbEventStore.open(f"kurrentdb://127.0.0.1:{port}?tls=false")
    try:
        with pytest.raises(ServiceUnavailableError):
            await store.read_stream("participant-1")
    finally:
        await store.close()
