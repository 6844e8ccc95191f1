"""SQLite event store: the embedded default, one file per service.

SQLite lets one writer commit at a time, so the order positions are assigned in is the order
commits become visible: a reader can never see position p+1 before p, and the global order is
gap-safe by construction. Each connection lives on a thread of its own (a writer and a reader), so
the event loop never blocks on disk.

Durability: WAL journal; `synchronous=FULL` by default, so a committed append survives a power
loss. `synchronous="NORMAL"` survives a crash of the process but may lose the last commits on power
loss, never corrupting the file.
"""

import asyncio
import sqlite3
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TypeVar
from uuid import UUID

from bilet.eventstore.model import (
    START,
    AppendResult,
    RecordedEvent,
    StreamAppend,
    StreamMetadata,
    category_of,
)
from bilet.eventstore.port import EventStore
from bilet.eventstore.rules import (
    StoredId,
    check_append,
    check_expected_version,
    is_identical_retry,
)

T = TypeVar("T")
Synchronous = Literal["FULL", "NORMAL"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    position    INTEGER PRIMARY KEY,
    stream_id   TEXT    NOT NULL,
    category    TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    event_id    BLOB    NOT NULL UNIQUE,
    type        TEXT    NOT NULL,
    data        BLOB    NOT NULL,
    metadata    BLOB    NOT NULL,
    recorded_at REAL    NOT NULL,
    UNIQUE (stream_id, version)
);
CREATE INDEX IF NOT EXISTS events_by_category ON events (category, position);
CREATE INDEX IF NOT EXISTS events_by_type ON events (type, position);
CREATE TABLE IF NOT EXISTS streams (
    stream_id       TEXT    PRIMARY KEY,
    version         INTEGER,
    truncate_before INTEGER NOT NULL DEFAULT 0,
    deleted         INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
"""

COLUMNS = "stream_id, version, position, event_id, type, data, metadata, recorded_at"


def _recorded(row: tuple[str, int, int, bytes, str, bytes, bytes, float]) -> RecordedEvent:
    stream_id, version, position, event_id, type_, data, metadata, recorded_at = row
    return RecordedEvent(
        stream_id=stream_id,
        version=version,
        position=position,
        event_id=UUID(bytes=event_id),
        type=type_,
        data=data,
        metadata=metadata,
        recorded_at=datetime.fromtimestamp(recorded_at, UTC),
    )


def _in(column: str, values: Collection[str] | None, params: list[object]) -> str:
    if values is None:
        return ""
    params.extend(values)
    return f" AND {column} IN ({', '.join('?' * len(values))})"


class _Connection:
    """A sqlite3 connection confined to one thread, called from the event loop."""

    def __init__(self, path: Path, synchronous: Synchronous, name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._path = path
        self._synchronous = synchronous
        self._db: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self._synchronous}")
        db.execute("PRAGMA busy_timeout=10000")
        return db

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            if self._db is None:
                self._db = self._connect()
            return work(self._db)

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def close(self) -> None:
        def close() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await asyncio.get_running_loop().run_in_executor(self._executor, close)
        self._executor.shutdown(wait=True)


class SqliteEventStore(EventStore):
    def __init__(self, path: Path, synchronous: Synchronous = "FULL") -> None:
        super().__init__()
        self.path = path
        self._writer = _Connection(path, synchronous, "sqlite-writer")
        self._reader = _Connection(path, synchronous, "sqlite-reader")

    @classmethod
    async def open(cls, path: Path, synchronous: Synchronous = "FULL") -> "SqliteEventStore":
        path.parent.mkdir(parents=True, exist_ok=True)
        store = cls(path, synchronous)
        await store._writer.run(lambda db: db.executescript(SCHEMA))
        return store

    # -------------------------------------------------------------- writing

    async def append_many(self, appends: Sequence[StreamAppend]) -> list[AppendResult]:
        check_append(appends)
        results = await self._writer.run(lambda db: self._append_in_transaction(db, appends))
        self._wake_subscribers()
        return results

    def _append_in_transaction(
        self, db: sqlite3.Connection, appends: Sequence[StreamAppend]
    ) -> list[AppendResult]:
        # IMMEDIATE takes the write lock at BEGIN, so what we read below cannot change under us,
        # even with another process on the same file.
        db.execute("BEGIN IMMEDIATE")
        try:
            results = self._append_locked(db, appends)
            db.execute("COMMIT")
        except BaseException:
            # SQLite may have rolled back by itself already (a full disk, an I/O error).
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return results

    def _append_locked(
        self, db: sqlite3.Connection, appends: Sequence[StreamAppend]
    ) -> list[AppendResult]:
        retries = [is_identical_retry(a, self._stored_ids(db, a)) for a in appends]
        streams = {}
        for append, retry in zip(appends, retries, strict=True):
            row = db.execute(
                "SELECT version, deleted FROM streams WHERE stream_id = ?", (append.stream_id,)
            ).fetchone()
            streams[append.stream_id] = row
            if not retry:
                actual = None if row is None or row[1] else row[0]
                check_expected_version(append.stream_id, append.expected_version, actual)
        now = time.time()
        results = []
        for append, retry in zip(appends, retries, strict=True):
            if retry:
                last = self._stored_ids(db, append)[-1]
                assert last is not None
                results.append(AppendResult(append.stream_id, last.version, last.position))
                continue
            row = streams[append.stream_id]
            first = 0 if row is None or row[0] is None else row[0] + 1
            category = category_of(append.stream_id)
            db.executemany(
                "INSERT INTO events (stream_id, version, event_id, type, data, metadata, "
                "recorded_at, category) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        append.stream_id,
                        first + i,
                        event.event_id.bytes,
                        event.type,
                        event.data,
                        event.metadata,
                        now,
                        category,
                    )
                    for i, event in enumerate(append.events)
                ],
            )
            version = first + len(append.events) - 1
            db.execute(
                "INSERT INTO streams (stream_id, version) VALUES (?, ?) "
                "ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, deleted = 0",
                (append.stream_id, version),
            )
            (position,) = db.execute("SELECT last_insert_rowid()").fetchone()
            results.append(AppendResult(append.stream_id, version, position))
        return results

    def _stored_ids(self, db: sqlite3.Connection, append: StreamAppend) -> list[StoredId | None]:
        ids = [event.event_id.bytes for event in append.events]
        rows = db.execute(
            f"SELECT event_id, stream_id, version, position FROM events "  # noqa: S608
            f"WHERE event_id IN ({', '.join('?' * len(ids))})",
            ids,
        ).fetchall()
        found = {row[0]: StoredId(row[1], row[2], row[3]) for row in rows}
        return [found.get(event_id) for event_id in ids]

    async def set_stream_metadata(self, stream_id: str, metadata: StreamMetadata) -> None:
        def write(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO streams (stream_id, version, truncate_before, deleted) "
                "VALUES (?, NULL, ?, ?) ON CONFLICT (stream_id) DO UPDATE SET "
                "truncate_before = excluded.truncate_before, deleted = excluded.deleted",
                (stream_id, metadata.truncate_before, int(metadata.deleted)),
            )

        await self._writer.run(write)

    async def delete_stream(self, stream_id: str) -> None:
        # One statement on the writer, so no append can slip in between reading and deleting.
        await self._writer.run(
            lambda db: db.execute(
                "INSERT INTO streams (stream_id, version, truncate_before, deleted) "
                "VALUES (?, NULL, 0, 1) ON CONFLICT (stream_id) DO UPDATE SET deleted = 1, "
                "truncate_before = COALESCE(streams.version + 1, streams.truncate_before)",
                (stream_id,),
            )
        )

    # -------------------------------------------------------------- reading

    async def get_stream_metadata(self, stream_id: str) -> StreamMetadata:
        row = await self._reader.run(
            lambda db: db.execute(
                "SELECT truncate_before, deleted FROM streams WHERE stream_id = ?", (stream_id,)
            ).fetchone()
        )
        return StreamMetadata() if row is None else StreamMetadata(row[0], bool(row[1]))

    async def stream_version(self, stream_id: str) -> int | None:
        row = await self._reader.run(
            lambda db: db.execute(
                "SELECT version, deleted FROM streams WHERE stream_id = ?", (stream_id,)
            ).fetchone()
        )
        return None if row is None or row[1] else row[0]

    async def read_stream(
        self,
        stream_id: str,
        from_version: int | None = None,
        *,
        backwards: bool = False,
        limit: int | None = None,
    ) -> list[RecordedEvent]:
        def read(db: sqlite3.Connection) -> list[RecordedEvent]:
            db.execute("BEGIN")  # one snapshot for the metadata and the events
            try:
                meta = db.execute(
                    "SELECT truncate_before, deleted FROM streams WHERE stream_id = ?",
                    (stream_id,),
                ).fetchone()
                if meta is None or meta[1]:
                    return []
                first_visible = meta[0]
                if backwards:
                    bound = "version <= ?" if from_version is not None else "? IS NULL"
                    order = "DESC"
                else:
                    bound = "version >= ?"
                    order = "ASC"
                start = from_version if from_version is not None or backwards else 0
                rows = db.execute(
                    f"SELECT {COLUMNS} FROM events WHERE stream_id = ? AND version >= ? "  # noqa: S608
                    f"AND {bound} ORDER BY version {order} LIMIT ?",
                    (stream_id, first_visible, start, -1 if limit is None else limit),
                ).fetchall()
                return [_recorded(row) for row in rows]
            finally:
                db.execute("COMMIT")

        return await self._reader.run(read)

    async def read_all(
        self,
        after_position: int = START,
        limit: int = 1000,
        *,
        categories: Collection[str] | None = None,
        event_types: Collection[str] | None = None,
    ) -> list[RecordedEvent]:
        params: list[object] = [after_position]
        where = _in("category", categories, params) + _in("type", event_types, params)
        params.append(limit)
        query = (
            f"SELECT {COLUMNS} FROM events WHERE position > ?{where} "  # noqa: S608
            "ORDER BY position LIMIT ?"
        )
        rows = await self._reader.run(lambda db: db.execute(query, params).fetchall())
        return [_recorded(row) for row in rows]

    async def head_position(self) -> int:
        row = await self._reader.run(
            lambda db: db.execute("SELECT MAX(position) FROM events").fetchone()
        )
        return START if row[0] is None else int(row[0])

    async def close(self) -> None:
        await self._writer.close()
        await self._reader.close()
