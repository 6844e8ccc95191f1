"""The key-store adapters the contract suite runs over, and a side door into each durable one.

Every test that takes `keystore` runs once per adapter (in-memory, SQLite, PostgreSQL); every test
that takes `backend` once per durable adapter. A backend opens stores on one fresh backing store (a
file, a PostgreSQL schema dropped afterwards), so a test can open several, as several processes of
the suite do, and it reads what the adapter really keeps: the raw files, or PostgreSQL's relation
files read through the server after a CHECKPOINT.
"""

import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

import asyncpg
import pytest

from bilet.crypto import InMemoryKeyStore, KeyStore, MasterKey, SqliteKeyStore
from bilet.crypto.postgres import PostgresKeyStore
from bilet.pgschema import drop_schema

# Long enough that a test's erasure is not left pending by a short transaction of a test running
# in parallel on the same server; the adapter's tests of pending rewrites set their own.
PURGE_WAIT = 60.0


class Backend(Protocol):
    name: str

    async def open(self, master_key: MasterKey) -> KeyStore:
        """A store on this backend's storage (another one stands for another process)."""
        ...

    async def wrapped(self, subject: str) -> bytes:
        """The stored (wrapped) key of a subject, read past the adapter."""
        ...

    async def replace_wrapped(self, subject: str, wrapped: bytes) -> None: ...

    async def files(self) -> list[bytes]:
        """The content of every file the storage has (or had) on disk."""
        ...

    async def close(self) -> None: ...


class SqliteBackend:
    name = "sqlite"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / "keys.sqlite3"
        self._stores: list[KeyStore] = []

    async def open(self, master_key: MasterKey) -> KeyStore:
        store = SqliteKeyStore(self.path, master_key)
        self._stores.append(store)
        return store

    async def wrapped(self, subject: str) -> bytes:
        # Read-only and closed at once, so it holds no snapshot of its own.
        connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            (wrapped,) = connection.execute(
                "SELECT wrapped FROM data_keys WHERE subject = ?", (subject,)
            ).fetchone()
        finally:
            connection.close()
        assert isinstance(wrapped, bytes)
        return wrapped

    async def replace_wrapped(self, subject: str, wrapped: bytes) -> None:
        connection = sqlite3.connect(self.path)
        try:
            with connection:
                connection.execute(
                    "UPDATE data_keys SET wrapped = ? WHERE subject = ?", (wrapped, subject)
                )
        finally:
            connection.close()

    async def files(self) -> list[bytes]:
        return [path.read_bytes() for path in self.directory.rglob("*") if path.is_file()]

    async def close(self) -> None:
        for store in self._stores:
            await store.close()


class PostgresBackend:
    name = "postgres"

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.schema = f"t_keys_{uuid.uuid4().hex[:16]}"
        self._stores: list[KeyStore] = []
        # Every relation file ever seen: a rewrite leaves the old one behind (truncated, we claim).
        self._files: set[str] = set()

    async def open(self, master_key: MasterKey, *, purge_wait: float = PURGE_WAIT) -> KeyStore:
        store = await PostgresKeyStore.open(
            self.database_url, master_key, schema=self.schema, purge_wait=purge_wait
        )
        self._stores.append(store)
        return store

    async def _connection(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.database_url)

    async def wrapped(self, subject: str) -> bytes:
        connection = await self._connection()
        try:
            wrapped = await connection.fetchval(
                f"SELECT wrapped FROM {self.schema}.data_keys WHERE subject = $1",  # noqa: S608
                subject,
            )
        finally:
            await connection.close()
        assert isinstance(wrapped, bytes)
        return wrapped

    async def replace_wrapped(self, subject: str, wrapped: bytes) -> None:
        connection = await self._connection()
        try:
            await connection.execute(
                f"UPDATE {self.schema}.data_keys SET wrapped = $1 WHERE subject = $2",  # noqa: S608
                wrapped,
                subject,
            )
        finally:
            await connection.close()

    async def partition_of(self, subject: str) -> str:
        connection = await self._connection()
        try:
            partition = await connection.fetchval(
                f"SELECT tableoid::regclass::text FROM {self.schema}.data_keys "  # noqa: S608
                "WHERE subject = $1",
                subject,
            )
        finally:
            await connection.close()
        assert isinstance(partition, str)
        return partition

    async def files(self) -> list[bytes]:
        """The main files of every table, index and TOAST table of the schema, and every file
        any of them had before (a rewrite leaves the old one behind), as on disk after a
        CHECKPOINT."""
        connection = await self._connection()
        try:
            await connection.execute("CHECKPOINT")
            rows = await connection.fetch(
                "SELECT pg_relation_filepath(c.oid) FROM pg_class c "
                "WHERE c.relnamespace = $1::regnamespace "
                "AND pg_relation_filepath(c.oid) IS NOT NULL "
                "UNION SELECT pg_relation_filepath(c.reltoastrelid) FROM pg_class c "
                "WHERE c.relnamespace = $1::regnamespace AND c.reltoastrelid <> 0",
                self.schema,
            )
            self._files.update(row[0] for row in rows)
            contents = []
            for path in sorted(self._files):
                content = await connection.fetchval(
                    "SELECT pg_read_binary_file($1, 0, f.size, true) "
                    "FROM pg_stat_file($1, true) AS f WHERE f.size IS NOT NULL",
                    path,
                )
                if content is not None:
                    contents.append(content)
            return contents
        finally:
            await connection.close()

    async def close(self) -> None:
        for store in self._stores:
            await store.close()
        await drop_schema(self.database_url, self.schema)


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.integration)]
ADAPTERS = ["memory", *BACKENDS]


async def _backend(request: pytest.FixtureRequest, name: str, directory: Path) -> Backend:
    if name == "sqlite":
        return SqliteBackend(directory)
    return PostgresBackend(request.getfixturevalue("database_url"))


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    opened = await _backend(request, request.param, tmp_path / "keys")
    yield opened
    await opened.close()


@pytest.fixture(params=ADAPTERS)
async def keystore(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[KeyStore]:
    if request.param == "memory":
        memory = InMemoryKeyStore()
        yield memory
        await memory.close()
        return
    opened = await _backend(request, request.param, tmp_path / "keys")
    try:
        yield await opened.open(MasterKey.generate())
    finally:
        await opened.close()


@pytest.fixture
async def postgres_backend(database_url: str) -> AsyncIterator[PostgresBackend]:
    opened = PostgresBackend(database_url)
    yield opened
    await opened.close()
