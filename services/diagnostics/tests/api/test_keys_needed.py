"""Diagnostics seals each pupil's answers with their key, so its API holds the keys even when
distributed (docs/adr/0046): started as a cluster starts it (production, embedded feed off) it
refuses to start without `BVB_MASTER_KEY`, and starts and is ready with one."""

import base64
import secrets
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from bilet.crypto import MasterKeyError
from bilet.http.devkeys import ensure_development_keys
from bilet.http.testing import app_lifespan
from bilet.settings import Environment
from bilet_diagnostics.app import create_app
from bilet_diagnostics.settings import DiagnosticsSettings


def distributed(var_dir: Path, master_key: SecretStr | None) -> DiagnosticsSettings:
    return DiagnosticsSettings(
        environment=Environment.PRODUCTION,
        var_dir=var_dir,
        jwks_file=ensure_development_keys(var_dir).jwks_path,
        jwt_issuer="https://idp.test",
        diagnostics_embedded_feed=False,
        master_key=master_key,
    )


async def test_without_the_master_key_it_refuses_to_start(tmp_path: Path) -> None:
    app = create_app(distributed(tmp_path / "var", master_key=None))
    with pytest.raises(MasterKeyError, match="BVB_MASTER_KEY is not set"):
        async with app_lifespan(app):
            pass


async def test_with_the_master_key_it_starts_and_is_ready(tmp_path: Path) -> None:
    key = SecretStr(base64.b64encode(secrets.token_bytes(32)).decode("ascii"))
    app = create_app(distributed(tmp_path / "var", master_key=key))
    async with app_lifespan(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://diagnostics") as client:
            ready = await client.get("/diagnostics/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ready"
