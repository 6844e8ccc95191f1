"""The database is a real PostgreSQL 15 server: commits persist, rollbacks leave nothing."""

import uuid

import asyncpg
import pytest

pytestmark = pytest.mark.integration


async def test_a_committed_row_reads_back_and_a_rolled_back_one_does_not(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    table = f"smoke_{uuid.uuid4().hex[:12]}"
    try:
        version = await connection.fetchval("SHOW server_version_num")
        assert int(version) >= 150000
        await connection.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, name text NOT NULL)")
        async with connection.transaction():
            await connection.execute(f"INSERT INTO {table} VALUES ($1, $2)", 1, "Луга")  # noqa: S608
        rolled_back = connection.transaction()
        await rolled_back.start()
        await connection.execute(f"INSERT INTO {table} VALUES (2, 'x')")  # noqa: S608
        await rolled_back.rollback()
        rows = await connection.fetch(f"SELECT id, name FROM {table} ORDER BY id")  # noqa: S608
        assert [tuple(r) for r in rows] == [(1, "Луга")]
    finally:
        await connection.execute(f"DROP TABLE IF EXISTS {table}")
        await connection.close()


async def test_every_service_has_its_database(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        names = {r["datname"] for r in await connection.fetch("SELECT datname FROM pg_database")}
    finally:
        await connection.close()
    from bilet.services import SERVICE_NAMES

    assert {f"bvb_{name}" for name in SERVICE_NAMES} <= names
