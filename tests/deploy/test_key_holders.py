"""The manifests' key holders are the services whose distributed API needs the keys.

Each service's API is started as a cluster starts it (`BVB_ENVIRONMENT=production`, its embedded
feed off, no `BVB_MASTER_KEY`), on SQLite stores in a temporary `var/`: a key holder must refuse
to start with `MasterKeyError` (it opens the suite's key store at start, ADR 0046), any other API
must start and answer readiness. So `KEY_HOLDERS`, which test_k8s_manifests.py holds the render
to, cannot list a service that runs without keys, nor miss one that would crash-loop without.
"""

import importlib
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from bilet.crypto import MasterKeyError
from bilet.http.devkeys import ensure_development_keys
from bilet.http.testing import app_lifespan
from bilet.services import SERVICE_NAMES
from tests.deploy.test_k8s_manifests import KEY_HOLDERS

# Variables the suite's infrastructure file may have exported (PostgreSQL, a master key): the
# start below must see SQLite stores and no key.
INHERITED = (
    "BVB_MASTER_KEY",
    "BVB_KEY_STORE",
    "BVB_KEY_STORE_URL",
    "BVB_DATABASE_URL",
    "BVB_READ_MODEL",
    "BVB_KAFKA_BOOTSTRAP",
)


def distributed_app(service: str, var_dir: Path, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    """The service's API as configured in a cluster (base/kustomization.yaml's `bilet-config`),
    without the keys; the application builds its settings from the environment, as there."""
    for variable in INHERITED:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("BVB_ENVIRONMENT", "production")
    monkeypatch.setenv("BVB_VAR_DIR", str(var_dir))
    monkeypatch.setenv("BVB_EVENT_STORE", "sqlite")
    monkeypatch.setenv("BVB_JWKS_FILE", str(ensure_development_keys(var_dir).jwks_path))
    monkeypatch.setenv("BVB_JWT_ISSUER", "https://idp.test")
    for name in SERVICE_NAMES:
        monkeypatch.setenv(f"BVB_{name.upper()}_EMBEDDED_FEED", "false")
    app: FastAPI = importlib.import_module(f"bilet_{service}.app").create_app()
    return app


@pytest.mark.parametrize("service", SERVICE_NAMES)
async def test_an_api_starts_without_keys_exactly_when_it_holds_none(
    service: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = distributed_app(service, tmp_path / "var", monkeypatch)
    if service in KEY_HOLDERS:
        with pytest.raises(MasterKeyError, match="BVB_MASTER_KEY is not set"):
            async with app_lifespan(app):
                pass
        return
    async with app_lifespan(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            ready = await client.get(f"/{service}/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ready"
