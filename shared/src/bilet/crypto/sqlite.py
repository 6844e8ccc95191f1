"""The key store in its own SQLite file (`var/keys.sqlite3`): the embedded adapter of the port,
with keys wrapped by the master key and erased keys removed from the files, not just unreferenced.
"""

import asyncio
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Final, TypeVar

from bilet.crypto.keystore import (
    ERASURES_IN_PROCESS,
    DataKey,
    ErasuresSince,
    KeyStoreError,
    SubjectErased,
    _check_subject,
    _utc_now,
)
from bilet.crypto.master import MasterKey

_log = logging.getLogger(__name__)
_T = TypeVar("_T")


_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS data_keys (
    subject    TEXT PRIMARY KEY,
    key_id     TEXT NOT NULL UNIQUE,
    wrapped    BLOB NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS erasures (
    subject   TEXT PRIMARY KEY,
    erased_at TEXT NOT NULL
);
"""


# Bulk lookups bind at most this many subjects per statement (SQLite's limit is 32766).
_IN_CHUNK: Final = 500
_KEYS_OF: Final = "SELECT subject, key_id, wrapped FROM data_keys WHERE subject IN ({marks})"
_ERASURES_OF: Final = "SELECT subject, erased_at FROM erasures WHERE subject IN ({marks})"


def _select_in(connection: sqlite3.Connection, query: str, subjects: list[str]) -> list[Any]:
    found: list[Any] = []
    for start in range(0, len(subjects), _IN_CHUNK):
        part = subjects[start : start + _IN_CHUNK]
        # Only placeholders are formatted in; the subjects are bound parameters.
        statement = query.format(marks=",".join("?" * len(part)))
        found += connection.execute(statement, part).fetchall()
    return found


@contextmanager
def _write_transaction(connection: sqlite3.Connection) -> Iterator[None]:
    # IMMEDIATE takes the write lock up front, so the erasure check and the insert of
    # get_or_create are one step even against other processes sharing the file.
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


class SqliteKeyStore:
    """Data keys in their own SQLite file (e.g. `var/keys.sqlite3`), never beside the events.

    Keys are stored wrapped by the master key. Deleted rows are overwritten (`secure_delete`) and
    the write-ahead log is truncated after every erasure, so an erased key is gone from the files,
    not merely unreferenced. All SQLite work runs on one dedicated thread, off the event loop.
    """

    def __init__(
        self,
        path: Path,
        master_key: MasterKey,
        *,
        clock: Callable[[], datetime] = _utc_now,
        busy_timeout: float = 5.0,
    ) -> None:
        self._path = Path(path)
        self._master_key = master_key
        self._clock = clock
        self._busy_timeout = busy_timeout
        # One thread owns the connection: sqlite3 objects never cross threads, and calls of this
        # process are serialised without a lock of our own.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bilet-keystore")
        self._connection: sqlite3.Connection | None = None
        self._closed = False

    @property
    def path(self) -> Path:
        return self._path

    async def __aenter__(self) -> "SqliteKeyStore":
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def _run(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        if self._closed:
            raise KeyStoreError("the key store is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._on_thread, work)

    def _on_thread(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        if self._connection is None:
            self._connection = self._open()
        return work(self._connection)

    def _open(self) -> sqlite3.Connection:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        # Created owner-only before SQLite opens it; SQLite gives -wal and -shm the same mode.
        os.close(os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600))
        connection = sqlite3.connect(self._path, isolation_level=None, timeout=self._busy_timeout)
        try:
            connection.execute("PRAGMA secure_delete = ON")
            (secure_delete,) = connection.execute("PRAGMA secure_delete").fetchone()
            journal_mode = self._into_wal(connection)
            if secure_delete != 1 or journal_mode != "wal":
                raise KeyStoreError(
                    f"{self._path}: SQLite refused secure_delete or WAL, erasure would leave keys"
                )
            # A lost commit would be a lost key, and a lost key is lost data: sync every commit.
            connection.execute("PRAGMA synchronous = FULL")
            connection.executescript(_SCHEMA)
        except BaseException:
            connection.close()
            raise
        return connection

    def _into_wal(self, connection: sqlite3.Connection) -> str:
        """Switch the file to WAL. Two processes opening a new file at once both try, and the
        switch takes an exclusive lock that SQLite's busy handler does not wait for: the loser
        sees "database is locked" at once. Try again within the busy timeout."""
        deadline = time.monotonic() + self._busy_timeout
        pause = 0.005
        while True:
            try:
                (mode,) = connection.execute("PRAGMA journal_mode = WAL").fetchone()
                return str(mode)
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() >= deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.1)

    async def get_or_create(self, subject: str) -> DataKey:
        _check_subject(subject)

        def work(connection: sqlite3.Connection) -> DataKey:
            # The common case reads without the write lock; a key and an erasure record of one
            # subject never coexist, because erase removes the one as it writes the other.
            row = connection.execute(
                "SELECT key_id, wrapped FROM data_keys WHERE subject = ?", (subject,)
            ).fetchone()
            if row is None:
                fresh = DataKey.generate()
                with _write_transaction(connection):
                    erased = connection.execute(
                        "SELECT erased_at FROM erasures WHERE subject = ?", (subject,)
                    ).fetchone()
                    if erased is not None:
                        raise SubjectErased(subject, datetime.fromisoformat(erased[0]))
                    connection.execute(
                        "INSERT OR IGNORE INTO data_keys (subject, key_id, wrapped, created_at)"
                        " VALUES (?, ?, ?, ?)",
                        (
                            subject,
                            fresh.key_id,
                            self._master_key.wrap(subject, fresh),
                            self._clock().isoformat(),
                        ),
                    )
                    row = connection.execute(
                        "SELECT key_id, wrapped FROM data_keys WHERE subject = ?", (subject,)
                    ).fetchone()
            key_id, wrapped = row
            return self._master_key.unwrap(subject, key_id, wrapped)

        return await self._run(work)

    async def get_or_create_many(self, subjects: Collection[str]) -> dict[str, DataKey]:
        wanted = list(dict.fromkeys(subjects))
        for subject in wanted:
            _check_subject(subject)

        def work(connection: sqlite3.Connection) -> dict[str, DataKey]:
            stored = {row[0]: row for row in _select_in(connection, _KEYS_OF, wanted)}
            missing = [subject for subject in wanted if subject not in stored]
            if missing:
                # One transaction (one sync) for all new keys, with the same erasure check as
                # get_or_create; a key made meanwhile by another process wins (INSERT OR IGNORE).
                with _write_transaction(connection):
                    if erased := _select_in(connection, _ERASURES_OF, missing):
                        subject, erased_at = erased[0]
                        raise SubjectErased(subject, datetime.fromisoformat(erased_at))
                    now = self._clock().isoformat()
                    fresh = {subject: DataKey.generate() for subject in missing}
                    connection.executemany(
                        "INSERT OR IGNORE INTO data_keys (subject, key_id, wrapped, created_at)"
                        " VALUES (?, ?, ?, ?)",
                        [
                            (subject, key.key_id, self._master_key.wrap(subject, key), now)
                            for subject, key in fresh.items()
                        ],
                    )
                    stored.update(
                        {row[0]: row for row in _select_in(connection, _KEYS_OF, missing)}
                    )
            return {
                subject: self._master_key.unwrap(subject, stored[subject][1], stored[subject][2])
                for subject in wanted
            }

        return await self._run(work)

    async def get(self, subject: str) -> DataKey | None:
        _check_subject(subject)

        def work(connection: sqlite3.Connection) -> DataKey | None:
            row = connection.execute(
                "SELECT key_id, wrapped FROM data_keys WHERE subject = ?", (subject,)
            ).fetchone()
            return None if row is None else self._master_key.unwrap(subject, row[0], row[1])

        return await self._run(work)

    async def erase(self, subject: str) -> bool:
        _check_subject(subject)

        def work(connection: sqlite3.Connection) -> bool:
            with _write_transaction(connection):
                recorded = connection.execute(
                    "INSERT OR IGNORE INTO erasures (subject, erased_at) VALUES (?, ?)",
                    (subject, self._clock().isoformat()),
                ).rowcount
                connection.execute("DELETE FROM data_keys WHERE subject = ?", (subject,))
            self._truncate_log(connection)
            return recorded == 1

        try:
            return await self._run(work)
        finally:
            ERASURES_IN_PROCESS.announce()

    async def erasures_since(self, position: int | None) -> ErasuresSince:
        # The rowid orders the erasure records: writers hold the file's one write lock, so rows
        # commit in rowid order, and an erasure record is never deleted (no rowid is reused).
        def work(connection: sqlite3.Connection) -> ErasuresSince:
            if position is None:
                (end,) = connection.execute(
                    "SELECT coalesce(max(rowid), 0) FROM erasures"
                ).fetchone()
                return ErasuresSince(end)
            rows = connection.execute(
                "SELECT rowid, subject FROM erasures WHERE rowid > ? ORDER BY rowid", (position,)
            ).fetchall()
            return ErasuresSince(rows[-1][0] if rows else position, tuple(r[1] for r in rows))

        return await self._run(work)

    def _truncate_log(self, connection: sqlite3.Connection) -> None:
        # The deleted row is zeroed in the new page image, but older images of the page (holding
        # the wrapped key) sit in the write-ahead log until it is checkpointed and truncated.
        (busy, _, _) = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            # Another connection kept reading past the busy timeout. The erasure itself is
            # committed; the old page images go at the next erase or close.
            _log.warning(
                "%s: the write-ahead log could not be truncated yet (a reader is active); "
                "erased keys leave the files at the next checkpoint",
                self._path,
            )

    async def close(self) -> None:
        """Truncate the log and close. Work already queued runs first; new work is refused."""
        if self._closed:
            return
        self._closed = True

        def work() -> None:
            if self._connection is not None:
                try:
                    self._truncate_log(self._connection)
                finally:
                    self._connection.close()
                    self._connection = None

        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, work)
        finally:
            self._executor.shutdown(wait=False)
