"""Relay positions in the service's SQLite file, next to its event store.

One connection on a thread of its own (a save waits for an fsync; the event loop must not). The
write lock is held for one short statement, so the service's appends, which retry while another
connection writes, wait at most that long.
"""

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from bilet.eventstore import START
from bilet.relay.positions import COUNT_LIMIT, PositionStore

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS relay_positions (
    relay      TEXT    PRIMARY KEY,
    position   INTEGER NOT NULL,
    updated_at REAL    NOT NULL
) WITHOUT ROWID;
"""


class SqlitePositionStore(PositionStore):
    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="relay-positions")
        self._db: sqlite3.Connection | None = None

    @classmethod
    async def open(cls, path: Path) -> "SqlitePositionStore":
        path.parent.mkdir(parents=True, exist_ok=True)
        positions = cls(path)
        await positions._run(lambda db: db.executescript(SCHEMA))
        return positions

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            if self._db is None:
                db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
                # The store's durability: a stored position must not outlive the events before it.
                db.execute("PRAGMA synchronous=FULL")
                db.execute("PRAGMA busy_timeout=10000")
                self._db = db
            return work(self._db)

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def load(self, relay: str) -> int:
        row = await self._run(
            lambda db: db.execute(
                "SELECT position FROM relay_positions WHERE relay = ?", (relay,)
            ).fetchone()
        )
        return START if row is None else int(row[0])

    async def save(self, relay: str, position: int) -> None:
        await self._run(
            lambda db: db.execute(
                "INSERT INTO relay_positions (relay, position, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (relay) DO UPDATE SET "
                "position = MAX(relay_positions.position, excluded.position), "
                "updated_at = excluded.updated_at",
                (relay, position, time.time()),
            )
        )

    async def count_after(self, position: int) -> int | None:
        # Reads the event store's own table: this adapter lives in the store's file on purpose.
        row = await self._run(
            lambda db: db.execute(
                "SELECT count(*) FROM (SELECT 1 FROM events WHERE position > ? LIMIT ?)",
                (position, COUNT_LIMIT),
            ).fetchone()
        )
        return int(row[0])

    async def close(self) -> None:
        def close() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await asyncio.get_running_loop().run_in_executor(self._executor, close)
        self._executor.shutdown(wait=True)
