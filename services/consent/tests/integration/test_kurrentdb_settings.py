"""Consent with its events in KurrentDB (ADR 0058): what it keeps elsewhere follows the read
model, and its destruction job still runs in one replica only, behind the lease in the service's
PostgreSQL (the job's lease was taken only with `BVB_EVENT_STORE=postgres` before: on KurrentDB
every replica ran it)."""

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from bilet_consent.app import ErasureMetrics, _destruction_job
from bilet_consent.settings import ConsentSettings

if TYPE_CHECKING:
    from services.consent.tests.conftest import Api

pytestmark = pytest.mark.integration

URL = "kurrentdb://kurrentdb.bilet.invalid:2113?tls=false"
# Bounds a wait that would otherwise hang.
WAIT_SECONDS = 30


def on_kurrentdb(
    make_settings: Callable[..., ConsentSettings], **overrides: str
) -> ConsentSettings:
    return make_settings(
        event_store="kurrentdb", kurrentdb_url=URL, key_store="postgres", **overrides
    )


def test_documents_go_where_the_read_model_goes(
    make_settings: Callable[..., ConsentSettings],
) -> None:
    assert on_kurrentdb(make_settings, read_model="postgres").document_store_kind == "postgres"
    assert on_kurrentdb(make_settings, read_model="sqlite").document_store_kind == "disk"


async def _lease_holders(database_url: str, key: str) -> list[int]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            """
            SELECT l.pid FROM pg_locks l
            WHERE l.locktype = 'advisory' AND l.granted
              AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended($1, 0)
            """,
            key,
        )
        return [row["pid"] for row in rows]
    finally:
        await connection.close()


async def test_the_destruction_job_runs_in_one_replica_behind_the_postgresql_lease(
    api: "Api", make_settings: Callable[..., ConsentSettings], database_url: str
) -> None:
    schema = f"t_consent_kdb_{uuid.uuid4().hex[:10]}"
    settings = on_kurrentdb(
        make_settings,
        read_model="postgres",
        database_url=database_url,
        consent_store_schema=schema,
    )
    replicas = [ErasureMetrics(CollectorRegistry()) for _ in range(2)]
    jobs = [
        asyncio.create_task(_destruction_job(settings, api.service, metrics))
        for metrics in replicas
    ]

    def leaders() -> list[int]:
        return [n for n, metrics in enumerate(replicas) if metrics.leader._value.get() == 1]

    key = f"bilet.consent.destruction:{schema}"
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            while not leaders():  # noqa: ASYNC110 - two jobs' gauges, polled; no event
                await asyncio.sleep(0.05)
            [leader] = leaders()
            [holder] = await _lease_holders(database_url, key)
            # The leader's session ends (a dead pod): the other replica takes the job over.
            admin = await asyncpg.connect(database_url)
            try:
                await admin.execute("SELECT pg_terminate_backend($1)", holder)
            finally:
                await admin.close()
            while leaders() != [1 - leader]:  # noqa: ASYNC110 - as above
                await asyncio.sleep(0.05)
    finally:
        for job in jobs:
            job.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await job
