"""Schemas are made by `bvb migrate` as a DDL role; the services run as a role without DDL
rights (`BVB_SCHEMA=verify`, ADR 0057), on a fresh database of the real PostgreSQL with the
roles of `deploy/postgres/roles.sql`."""

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from bilet.http import Role
from bilet.http.devkeys import ensure_development_keys
from bilet.http.testing import app_lifespan
from bilet.pgschema import SchemaNotMigrated
from bilet_diagnostics.adapters.instruments import load_instruments
from bilet_diagnostics.app import create_app
from bilet_diagnostics.settings import DiagnosticsSettings
from bilet_diagnostics.testing import REGION, SCHOOL_3, STAGES, Clock, StaticFacts, Window

pytestmark = pytest.mark.integration

ROLES_SQL = Path(__file__).parents[2] / "deploy" / "postgres" / "roles.sql"


@dataclass(frozen=True)
class Database:
    migrator_url: str
    app_url: str


def _url(base: str, user: str, database: str) -> str:
    parts = urlsplit(base)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{user}:{user}@{host}:{parts.port or 5432}"
    return urlunsplit((parts.scheme, netloc, f"/{database}", "", ""))


@pytest.fixture
async def fresh_database(database_url: str) -> AsyncIterator[Database]:
    """A new database with roles `bilet_migrator` and `bilet_app` (suffixed) set up by the
    runbook's SQL file, the application's without any CREATE right."""
    suffix = uuid.uuid4().hex[:8]
    name, migrator, app = f"bvb_mig_{suffix}", f"bilet_migrator_{suffix}", f"bilet_app_{suffix}"
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(f"CREATE ROLE {migrator} LOGIN PASSWORD '{migrator}'")
        await admin.execute(f"CREATE ROLE {app} LOGIN PASSWORD '{app}'")
        await admin.execute(f"CREATE DATABASE {name}")
    except Exception:
        await admin.close()
        raise
    owner_url = urlunsplit(urlsplit(database_url)._replace(path=f"/{name}"))
    owner = await asyncpg.connect(owner_url)
    try:
        sql = ROLES_SQL.read_text().replace("bilet_migrator", migrator).replace("bilet_app", app)
        await owner.execute(sql)
    finally:
        await owner.close()
    try:
        yield Database(_url(database_url, migrator, name), _url(database_url, app, name))
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"DROP ROLE IF EXISTS {migrator}")
        await admin.execute(f"DROP ROLE IF EXISTS {app}")
        await admin.close()


@pytest.fixture
def verify(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BVB_SCHEMA", "verify")


def _diagnostics(database_url: str, var_dir: Path) -> tuple[object, str]:
    facts = StaticFacts()
    facts.rules[2019] = STAGES
    facts.windows.append(Window(REGION, 2019, STAGES, date(2019, 10, 11), date(2019, 10, 31)))
    pupil = uuid.uuid4()
    facts.add_pupil(pupil, SCHOOL_3, REGION)
    settings = DiagnosticsSettings(
        var_dir=var_dir,
        event_store="postgres",
        key_store="sqlite",
        database_url=database_url,
    )
    app = create_app(
        settings,
        clock=Clock(datetime(2019, 10, 15, 10, tzinfo=UTC)),
        facts=facts,
        instruments=load_instruments(),
    )
    return app, str(pupil)


def _migrate(database_url: str, service: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "BVB_DATABASE_URL": database_url,
        "BVB_EVENT_STORE": "postgres",
        "BVB_KEY_STORE": "sqlite",
        "BVB_SCHEMA": "verify",  # the command migrates whatever the deployment's setting
    }
    return subprocess.run(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "bilet.migrate", "--service", service],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_without_the_migration_a_verifying_service_refuses_to_start_naming_what_is_missing(
    fresh_database: Database, tmp_path: Path, verify: None
) -> None:
    app, _ = _diagnostics(fresh_database.app_url, tmp_path)
    with pytest.raises(SchemaNotMigrated) as refused:
        async with app_lifespan(app):  # type: ignore[arg-type]
            pass
    assert "schema bvb_diagnostics" in str(refused.value)
    assert "bvb migrate" in str(refused.value)


async def test_the_application_role_may_not_create_what_the_migration_would(
    fresh_database: Database,
) -> None:
    connection = await asyncpg.connect(fresh_database.app_url)
    try:
        with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError):
            await connection.execute("CREATE SCHEMA bvb_diagnostics")
    finally:
        await connection.close()


async def test_after_bvb_migrate_a_role_without_create_runs_the_services_commands(
    fresh_database: Database, tmp_path: Path, verify: None
) -> None:
    migrated = _migrate(fresh_database.migrator_url, "diagnostics")
    assert migrated.returncode == 0, migrated.stderr
    assert "migrated: diagnostics" in migrated.stdout

    app, pupil = _diagnostics(fresh_database.app_url, tmp_path)
    token = ensure_development_keys(tmp_path).mint(Role.PUPIL, participant=pupil)
    headers = {"Authorization": f"Bearer {token}"}
    async with app_lifespan(app) as manager:  # type: ignore[arg-type]
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://d") as http:
            started = await http.post(
                "/diagnostics/v1/attempts",
                headers=headers,
                json={"participant_id": pupil, "stage": "interests"},
            )
            assert started.status_code == 201, started.text
            attempt = started.json()
            item = attempt["items"][0]
            saved = await http.put(
                f"/diagnostics/v1/attempts/{attempt['attempt_id']}/answers/{item['item_id']}",
                headers=headers,
                json={"option_id": item["choices"][0]["option_id"]},
            )
            assert saved.status_code < 300, saved.text

    # The rows are the application's; the schema stays the migrator's.
    connection = await asyncpg.connect(fresh_database.app_url)
    try:
        owner = await connection.fetchval(
            "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'bvb_diagnostics'"
        )
        stored = await connection.fetchval("SELECT count(*) FROM bvb_diagnostics.events")
    finally:
        await connection.close()
    assert owner.startswith("bilet_migrator_")
    assert stored >= 2
