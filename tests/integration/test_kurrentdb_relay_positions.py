"""A KurrentDB store's relay keeps its checkpoint and lease in PostgreSQL (ADR 0058), in the
schema named as the store's namespace, at `BVB_RELAY_STORE`; `bvb migrate` makes that table
when a service runs on KurrentDB. Real PostgreSQL; the KurrentDB client connects at its first
call, so no KurrentDB server is needed here (the end-to-end test with one is identity's
`test_kurrentdb.py`, gated on `BVB_KURRENTDB_URL`)."""

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from bilet.eventstore.kurrentdb import KurrentDbEventStore
from bilet.migrate import migrate_stores
from bilet.projections.sqlite import SqliteReadModel
from bilet.relay.app import held_lease, open_store
from bilet.relay.lease import RelayLease
from bilet.relay.settings import RelaySettings

pytestmark = pytest.mark.integration

URL = "kurrentdb://kurrentdb.bilet.invalid:2113?tls=false"


@pytest.fixture
async def schema(database_url: str) -> AsyncIterator[str]:
    name = f"kdb_{uuid.uuid4().hex[:12]}"
    yield name
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
    finally:
        await connection.close()


async def tables_of(database_url: str, schema: str) -> set[str]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
        )
    finally:
        await connection.close()
    return {row["table_name"] for row in rows}


async def test_the_checkpoint_and_lease_live_in_postgresql_beside_no_events(
    database_url: str, schema: str
) -> None:
    settings = RelaySettings(
        relay_service="identity",
        relay_store=database_url,
        relay_schema=schema,
        kafka_bootstrap="kafka:9092",
        event_store="kurrentdb",
        kurrentdb_url=URL,
        read_model="postgres",
        key_store="postgres",
        schema_mode="migrate",
    )
    location = settings.store_location()
    async with (
        held_lease(location) as lost,
        open_store(settings.store_location(), 0.2, settings) as opened,
    ):
        store, positions, _ = opened
        assert lost is not None  # held: a second relay of this store waits
        rival = RelayLease(database_url, schema)
        try:
            assert not await rival.try_acquire()
        finally:
            await rival.release()
        assert isinstance(store, KurrentDbEventStore)
        assert store.namespace == schema
        await positions.save("bilet.identity", 1 << 40)  # commit positions are byte offsets
        assert await positions.load("bilet.identity") == 1 << 40
        assert await positions.count_after(0) is None
    assert await tables_of(database_url, schema) == {"relay_positions"}


async def test_migrate_makes_the_relay_positions_of_a_kurrentdb_service(
    database_url: str, schema: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in list(os.environ):
        if name.startswith("BVB_"):
            monkeypatch.delenv(name)
    for name, value in {
        "EVENT_STORE": "kurrentdb",
        "KURRENTDB_URL": URL,
        "DATABASE_URL": database_url,
        "READ_MODEL": "postgres",
        "KEY_STORE": "postgres",
    }.items():
        monkeypatch.setenv(f"BVB_{name}", value)

    async def open_read_model() -> SqliteReadModel:
        return await SqliteReadModel.open(tmp_path / "readmodel.sqlite3")

    await migrate_stores(
        lambda: KurrentDbEventStore.open(URL, namespace=schema), open_read_model, lambda _: []
    )
    assert await tables_of(database_url, schema) == {"relay_positions"}
