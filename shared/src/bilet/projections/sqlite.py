"""SQLite read models: the embedded default, one file (or several) per service.

Statements run on the event loop's thread, as the SQLite event store's appends do: a read-model
statement takes microseconds, less than handing it to a thread. Writes go through one connection,
one transaction at a time (`BEGIN IMMEDIATE`, waiting on the loop, never inside SQLite, while
another process holds the write lock); queries use a second connection, so in WAL mode they never
wait for a writer and never see an uncommitted change.

Durability: WAL with `synchronous=NORMAL`. A crash of the process loses nothing committed; a
power loss may lose the last commits, and then their checkpoints with them, so the feed simply
applies those events again.
"""

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from bilet.projections.port import ReadModelTx, Row, SqlRenderer
from bilet.projections.readmodel import Layout, ReadModel

Synchronous = Literal["FULL", "NORMAL"]


def _connect(path: Path, synchronous: Synchronous) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, cached_statements=512)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute("PRAGMA busy_timeout=0")
    return db


class SqliteTx(ReadModelTx):
    dialect = "sqlite"

    def __init__(self, db: sqlite3.Connection, renderer: SqlRenderer) -> None:
        super().__init__(renderer)
        self._db = db

    async def execute(self, sql: str, *args: Any) -> None:
        self._db.execute(self.sql(sql), args)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._db.executemany(self.sql(sql), rows)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        rows: list[Row] = self._db.execute(self.sql(sql), args).fetchall()
        return rows


class SqliteReadModel(ReadModel):
    dialect = "sqlite"
    BUSY_WAIT_LIMIT = 30.0

    def __init__(self, path: Path, synchronous: Synchronous = "NORMAL") -> None:
        super().__init__()
        self.path = path
        self._writer = _connect(path, synchronous)
        self._reader = _connect(path, synchronous)
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path, synchronous: Synchronous = "NORMAL") -> "SqliteReadModel":
        path.parent.mkdir(parents=True, exist_ok=True)
        store = cls(path, synchronous)
        await store._install_bookkeeping()
        return store

    async def _begin(self) -> None:
        waited, pause = 0.0, 0.001
        while True:
            try:
                self._writer.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if error.sqlite_errorcode != sqlite3.SQLITE_BUSY or waited >= self.BUSY_WAIT_LIMIT:
                    raise
            await asyncio.sleep(pause)
            waited += pause
            pause = min(pause * 2, 0.05)

    def _write_tx(self, renderer: SqlRenderer) -> SqliteTx:
        """The transaction object a write transaction hands out (a fold's says it is one)."""
        return SqliteTx(self._writer, renderer)

    @asynccontextmanager
    async def transaction(self, renderer: SqlRenderer) -> AsyncIterator[ReadModelTx]:
        async with self._write_lock:
            await self._begin()
            try:
                tx = self._write_tx(renderer)
                yield tx
                await tx.settle()
                self._writer.execute("COMMIT")
            except BaseException:
                if self._writer.in_transaction:
                    self._writer.execute("ROLLBACK")
                raise

    @asynccontextmanager
    async def reader(self, renderer: SqlRenderer) -> AsyncIterator[ReadModelTx]:
        yield SqliteTx(self._reader, renderer)

    def is_transient(self, error: BaseException) -> bool:
        return isinstance(error, sqlite3.OperationalError) and error.sqlite_errorcode in (
            sqlite3.SQLITE_BUSY,
            sqlite3.SQLITE_LOCKED,
            sqlite3.SQLITE_IOERR,
        )

    def is_missing_table(self, error: BaseException) -> bool:
        return isinstance(error, sqlite3.OperationalError) and "no such table" in str(error)

    async def load_versions(
        self, tx: ReadModelTx, layout: Layout, source: str, stream_ids: Collection[str]
    ) -> dict[str, int]:
        rows = await tx.fetch(
            "SELECT stream_id, version FROM {bvb_applied} "
            "WHERE source = $1 AND stream_id IN (SELECT value FROM json_each($2))",
            source,
            json.dumps(list(stream_ids)),
        )
        return dict(rows)

    async def save_versions(
        self, tx: ReadModelTx, layout: Layout, source: str, rows: Sequence[tuple[str, int, int]]
    ) -> None:
        await tx.executemany(
            "INSERT INTO {bvb_applied} (source, stream_id, version, position) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (source, stream_id) DO UPDATE "
            "SET version = excluded.version, position = excluded.position",
            [(source, *row) for row in rows],
        )

    async def _rename_index(
        self, tx: ReadModelTx, old: str, new: str, table: str, columns: str
    ) -> None:
        # SQLite cannot rename an index: build it again under the live name.
        await tx.execute(f"DROP INDEX IF EXISTS {old}")
        await tx.execute(f"CREATE INDEX IF NOT EXISTS {new} ON {table} ({columns})")

    async def close(self) -> None:
        await self._close_waiters()
        self._writer.close()
        self._reader.close()
