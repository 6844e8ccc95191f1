"""On the real PostgreSQL: the destruction job of two API replicas runs in one of them only (the
one holding the job's lease, ADR 0028); when the leader's lease session dies the other replica
takes over; both stay ready to serve throughout."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from bilet.http.testing import app_lifespan
from bilet.pgschema import drop_schema
from bilet_consent.app import create_app
from bilet_consent.settings import ConsentSettings

pytestmark = pytest.mark.integration

# Bounds a wait that would otherwise hang.
WAIT_SECONDS = 30
LAST_SUCCESS = "bvb_consent_erasure_job_last_success_timestamp_seconds"


def _sample(app: FastAPI, name: str) -> float:
    value = app.state.metrics_registry.get_sample_value(name)
    return 0.0 if value is None else float(value)


def _leads(app: FastAPI) -> bool:
    return _sample(app, "bvb_consent_erasure_job_leader") == 1


def _ran(app: FastAPI) -> bool:
    return _sample(app, LAST_SUCCESS) > 0


async def _until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT_SECONDS):
        while not condition():  # noqa: ASYNC110 - metrics of two apps, polled; no event
            await asyncio.sleep(0.05)


async def _ready(app: FastAPI) -> int:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://consent") as client:
        return (await client.get("/consent/readyz")).status_code


async def _terminate_lease_session(database_url: str, schema: str) -> None:
    """End the PostgreSQL session holding the job's advisory lock, as a failover or a dead pod
    would: found from pg_locks, not from the application's insides."""
    connection = await asyncpg.connect(database_url)
    try:
        pids = await connection.fetch(
            """
            SELECT l.pid FROM pg_locks l
            WHERE l.locktype = 'advisory' AND l.granted
              AND ((l.classid::bigint << 32) | l.objid::bigint)
                  = hashtextextended($1, 0)
            """,
            f"bilet.consent.destruction:{schema}",
        )
        assert len(pids) == 1, pids
        await connection.execute("SELECT pg_terminate_backend($1)", pids[0]["pid"])
    finally:
        await connection.close()


@pytest.fixture
async def replicas(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[FastAPI, FastAPI]]:
    schema = f"t_consent_leader_{uuid.uuid4().hex[:10]}"

    def settings(replica: str) -> ConsentSettings:
        return ConsentSettings(
            var_dir=tmp_path / replica,
            event_store="postgres",
            database_url=database_url,
            consent_store_schema=schema,
            read_model="sqlite",
            key_store="sqlite",
            consent_embedded_feed=False,
            consent_erasure_interval_seconds=0.05,
        )

    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(drop_schema, database_url, schema)
        first = create_app(settings("a"))
        await stack.enter_async_context(app_lifespan(first))
        await _until(lambda: _leads(first) and _ran(first))
        second = create_app(settings("b"))
        await stack.enter_async_context(app_lifespan(second))
        yield first, second


async def test_one_replica_runs_the_job_and_the_other_takes_over(
    replicas: tuple[FastAPI, FastAPI], database_url: str
) -> None:
    leader, follower = replicas
    # The leader keeps running the job (a later run than the one before the follower started)
    # while the follower waits behind the lease: it never runs the job, yet serves.
    ran_before = _sample(leader, LAST_SUCCESS)
    await _until(lambda: _sample(leader, LAST_SUCCESS) > ran_before)
    assert not _leads(follower)
    assert not _ran(follower)
    assert await _ready(leader) == 200
    assert await _ready(follower) == 200

    await _terminate_lease_session(
        database_url, follower.state.runtime.settings.consent_store_schema
    )

    await _until(lambda: _leads(follower) and _ran(follower))
    await _until(lambda: not _leads(leader))  # it noticed: it waits now, not both at once
    assert await _ready(leader) == 200
    assert await _ready(follower) == 200
