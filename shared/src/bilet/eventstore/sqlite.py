"""SQLite event store: the embedded default, one file per service.

SQLite lets one writer commit at a time, so the order positions are assigned in is the order
commits become visible: a reader can never see position p+1 before p, and the global order is
gap-safe by construction. Appends run on the event loop's thread (see `_LoopConnection`: handing
a microsecond write to a thread costs more than the write). So do reads while they are short
(docs/adr/0103): a stream, the head, a stream's metadata, a page of all events near the head or
through a filter's index (a view catching up: a few rows), each on the writer's connection with
SQLite told to stop it after `INLINE_READ_STEPS` of its virtual machine's instructions (about
0.1 ms); a read stopped there, and every long one (a page of all events far from the head), runs
on a thread of their own, a connection that may take milliseconds.

Purging (`purge_stream`, docs/adr/0016) deletes rows on a connection with `secure_delete=ON`
(every connection has it, so no earlier update or page split left stale copies in free space),
then truncates the WAL, which holds older images of the pages. A purge of the newest events
records the highest position given out (`position_floor`), so it is never given out again.

Durability: WAL journal; `synchronous=FULL` by default, so a committed append survives a power
loss. `synchronous="NORMAL"` survives a crash of the process but may lose the last commits on power
loss, never corrupting the file.

Wake-ups: an append wakes the live subscriptions of every store open on the same file in this
process, not only its own (`_OPEN_ON`). In embedded mode each service opens the stores it follows as
stores of their own (consent follows identity's file through an instance of its own), so without
this a participant registered a moment ago reached consent's read model only on the next poll.
Another process's appends are still found by the poll.
"""

import asyncio
import contextlib
import logging
import sqlite3
import threading
import weakref
from collections.abc import Callable, Collection, Hashable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Final, Literal, TypeVar

from bilet.eventstore.errors import EventIdsConflict, WrongExpectedVersion
from bilet.eventstore.model import (
    START,
    AppendResult,
    ExpectedVersion,
    RecordedEvent,
    StreamAppend,
    StreamMetadata,
    bare_uuid,
    category_of,
)
from bilet.eventstore.port import EventStore
from bilet.eventstore.rules import (
    StoredId,
    check_append,
    check_expected_version,
    resolve_retries,
)
from bilet.eventstore.sqlite_append import (
    append_together,
    last_version,
    position_after_floor,
    stored_versions,
)
from bilet.eventstore.sqlite_commits import BUSY_WAIT_LIMIT, GroupCommit, busy

_log = logging.getLogger(__name__)

T = TypeVar("T")
Synchronous = Literal["FULL", "NORMAL"]

# Made by step 1 too: files written before purges existed (docs/adr/0016) lack it.
_POSITION_FLOOR: Final = """CREATE TABLE IF NOT EXISTS position_floor (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    position INTEGER NOT NULL
)"""

# The schema of a new file, made as it is at `SCHEMA_VERSION`: an older file gets only the steps
# it misses (`_MIGRATIONS`), never this, whose statements may name what those steps add.
SCHEMA = f"""
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
-- A stream's metadata, for the streams that have some: its version is its last event's
-- (`sqlite_append.stored_versions`), and no append writes here (docs/adr/0100).
CREATE TABLE IF NOT EXISTS streams (
    stream_id       TEXT    PRIMARY KEY,
    truncate_before INTEGER NOT NULL DEFAULT 0,
    deleted         INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
-- Set only when a purge removed the newest events: SQLite would otherwise give their positions
-- (rowids) out again. The next append starts above it and clears it.
{_POSITION_FLOOR};
"""

# The schema's version (`PRAGMA user_version`) and the steps that bring an older file to it, all
# in the one transaction of the migration: 0 -> 1 (docs/adr/0100) makes `position_floor` if the
# file predates it, drops `streams.version`, which every append used to write, and the rows that
# held nothing else (a stream's version is its last event's).
SCHEMA_VERSION: Final = 1
_MIGRATIONS: Final = {
    1: (
        _POSITION_FLOOR,
        "DELETE FROM streams WHERE truncate_before = 0 AND NOT deleted",
        "ALTER TABLE streams DROP COLUMN version",
    ),
}


class NewerSchemaError(RuntimeError):
    """The file was migrated by newer code than this: its schema is one this code cannot read
    or write, and no step leads back (docs/adr/0100)."""


def _schema_version(db: sqlite3.Connection, path: Path) -> int:
    """The file's schema version; refused when it is newer than this code's."""
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version > SCHEMA_VERSION:
        raise NewerSchemaError(
            f"{path} has schema version {version}, newer than this code's {SCHEMA_VERSION}: "
            "it was migrated by newer code, and migrations are one way (open it with that code, "
            "or restore the copy made before upgrading; docs/adr/0100)"
        )
    return int(version)


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring the file to `SCHEMA_VERSION`: a new file's tables are made as they are now; an older
    file's go through the steps it misses; a newer file is refused (`NewerSchemaError`). A file
    already at it is left without taking the write lock (a file's version only grows), so
    opening it never waits for another writer, such as a long load in another process.
    Otherwise under the write lock, and the version is read again there: of several processes
    opening the file at once one migrates, the others find it done."""
    if _schema_version(db, path) == SCHEMA_VERSION:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        version = _schema_version(db, path)
        if version < SCHEMA_VERSION:
            if db.execute("SELECT 1 FROM sqlite_schema WHERE name = 'events'").fetchone() is None:
                # No `;` but between statements, none in comments.
                statements = [s for s in SCHEMA.split(";") if s.strip()]
            else:
                steps = range(version + 1, SCHEMA_VERSION + 1)
                statements = [statement for step in steps for statement in _MIGRATIONS[step]]
            for statement in statements:
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


# In the order of `RecordedEvent`'s fields: `_recorded` builds each event from its row as is.
COLUMNS = "stream_id, version, position, event_id, type, data, metadata, recorded_at"


Row = tuple[str, int, int, bytes, str, bytes, bytes, float]

# How many rows a read of all events near the head (or through a filter) reads inline on the
# event loop before the rest of its page goes to the reader thread.
INLINE_READ_ROWS: Final = 64
# How many instructions of SQLite's virtual machine an inline read runs before SQLite is let stop
# it (at most twice that, see `read_short`) and it is made again on the reader thread: ~12 a row
# read, 12-16 a microsecond with the rows' fetching on this machine, so ~0.1-0.2 ms of the event
# loop at most, while a stream of a few events, the head or an index seek that finds nothing
# takes 10-700 (ADR 0103).
INLINE_READ_STEPS: Final = 1_000


# A stored event id is read back as a `bare_uuid`: `UUID.__init__`'s checks of its arguments cost
# more than the rest of a recorded event (~0.3 of ~1 µs a row), and the blob is the 16 bytes of
# `event_id.bytes` this module wrote.
_int_from_bytes = int.from_bytes
# A row is a recorded event's fields in its order (`COLUMNS`), so the named tuple is built as a
# plain tuple of its type, without the Python-level `__new__` of a NamedTuple.
_new_tuple = tuple.__new__


def _recorded(rows: Iterable[Row]) -> list[RecordedEvent]:
    """Rows as recorded events. The events of one commit share their `recorded_at`, and building
    an aware datetime costs more than the rest of the event: it is built once per commit."""
    events: list[RecordedEvent] = []
    append = events.append
    last_seconds: float | None = None
    last_time = datetime.fromtimestamp(0, UTC)
    for stream_id, version, position, event_id, type_, data, metadata, recorded_at in rows:
        if recorded_at != last_seconds:
            last_seconds, last_time = recorded_at, datetime.fromtimestamp(recorded_at, UTC)
        append(
            _new_tuple(
                RecordedEvent,
                (
                    stream_id,
                    version,
                    position,
                    bare_uuid(_int_from_bytes(event_id)),
                    type_,
                    data,
                    metadata,
                    last_time,
                ),
            )
        )
    return events


# The version after a stream's last event (NULL: it has none), for statements naming it `:id`.
_NEXT_VERSION: Final = f"({last_version(':id')} + 1)"


def _version(db: sqlite3.Connection, stream_id: str) -> int | None:
    """A stream's version as an expected version sees it: None when it has no event or is
    deleted."""
    version, deleted = stored_versions(db, [stream_id]).get(stream_id, (None, False))
    return None if deleted else version


def _in(column: str, values: Collection[str] | None, params: list[object]) -> str:
    if values is None:
        return ""
    params.extend(values)
    return f" AND {column} IN ({', '.join('?' * len(values))})"


def connect(path: Path, synchronous: Synchronous, busy_timeout_ms: int) -> sqlite3.Connection:
    """A connection to an event store's file with the store's own settings: WAL, `synchronous`,
    `secure_delete`, autocommit (transactions begun explicitly), usable from any one thread at a
    time; `busy_timeout_ms` 0 on an event loop (never wait for a lock there)."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
    # Freed cells and pages are zeroed: a purge (or any update) leaves no old bytes behind.
    db.execute("PRAGMA secure_delete=ON")
    return db


class _ThreadConnection:
    """A sqlite3 connection confined to one thread, for reads that may take milliseconds."""

    def __init__(self, path: Path, synchronous: Synchronous, name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._path = path
        self._synchronous = synchronous
        self._db: sqlite3.Connection | None = None

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            if self._db is None:
                self._db = connect(self._path, self._synchronous, busy_timeout_ms=10_000)
            return work(self._db)

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def close(self) -> None:
        def close() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await asyncio.get_running_loop().run_in_executor(self._executor, close)
        self._executor.shutdown(wait=True)


class _Stopped:
    """What a read on the writer's connection gives when it was stopped (see `read_short`)."""


_STOPPED: Final = _Stopped()


class _LoopConnection:
    """The writer's connection, used on the event loop's own thread.

    An append is a few statements of microseconds plus, with synchronous=FULL, one WAL fsync;
    handing it to a thread and back costs more than that (about 130 µs measured on our two-core
    machines, against 90 µs for the append itself). So writes run inline, never waiting for a lock
    inline: SQLite is asked not to wait (busy_timeout 0), and while another process holds the
    write lock the append sleeps on the loop and tries again.
    """

    BUSY_WAIT_LIMIT = BUSY_WAIT_LIMIT

    def __init__(self, path: Path, synchronous: Synchronous) -> None:
        self._db = connect(path, synchronous, busy_timeout_ms=0)
        # The thread of the loop that writes: only it reads inline (`read_short`).
        self._thread = threading.get_ident()
        self._progress_calls = 0  # of SQLite's progress handler in the current `read_short`
        self._on_progress = self._progress  # bound once: one per read would cost its making

    def _progress(self) -> bool:
        """SQLite's progress handler: true (SQLITE_INTERRUPT) stops the statement."""
        self._progress_calls += 1
        return self._progress_calls > 1

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        waited = 0.0
        pause = 0.001
        while True:
            try:
                return work(self._db)
            except sqlite3.OperationalError as error:
                if not busy(error) or waited >= self.BUSY_WAIT_LIMIT:
                    raise
            await asyncio.sleep(pause)
            waited += pause
            pause = min(pause * 2, 0.1)

    def run_now(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work` at once, on the loop's thread; raises SQLite's busy error rather than waiting
        (`run` waits it out)."""
        return work(self._db)

    def read_short(self, work: Callable[[sqlite3.Connection], T], steps: int) -> T | _Stopped:
        """`work`, reads only, at once on this connection, unless it takes long: SQLite stops it
        after `steps` to twice that many instructions of its virtual machine (`_STOPPED` then),
        and `_STOPPED` also when the file is busy (another connection recovering the WAL), which
        the reader thread's connection waits out. No transaction is open on this connection
        between the loop's steps (every write opens and ends its own inside one `run`), so each
        statement reads the last commit, as the reader's would; a stopped read changed nothing.

        SQLite calls the handler whenever a statement's count of instructions, kept over all its
        executions (the statement cache reuses it), passes a multiple of `steps`: the first call
        can come at any point of the first `steps`, so the read is stopped at the second (in a
        read of several statements the calls of all count: stopped sooner, never wrongly)."""
        db = self._db
        if threading.get_ident() != self._thread or db.in_transaction:
            # A read from another thread (a store written on a loop of its own, read from the
            # API's: the portfolio's audit trail) goes to the reader: the progress handler is
            # the connection's, and set from here it could stop that thread's write, or both
            # threads could wait on each other (SQLite's connection lock, the GIL). And never
            # inside a transaction (none is open between the loop's steps: checked, not assumed).
            return _STOPPED
        self._progress_calls = 0
        db.set_progress_handler(self._on_progress, steps)
        try:
            return work(db)
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_INTERRUPT, sqlite3.SQLITE_BUSY):
                return _STOPPED
            raise
        finally:
            db.set_progress_handler(None, 0)  # never left to stop a write

    def close(self) -> None:
        self._db.close()


def _may_be_a_retry(error: Exception) -> bool:
    return isinstance(error, WrongExpectedVersion | EventIdsConflict)


# The SQLite stores open in this process, per file, so that an append wakes the subscribers of
# the others open on the same file; an append to a file no other store has open looks at no other
# store (ADR 0092). Weak: a store dropped without `close` leaves no trace; one closing leaves at
# once, and its appends still in flight then wake every store left on the file.
_OPEN_ON: "dict[Path, weakref.WeakSet[SqliteEventStore]]" = {}


class SqliteEventStore(EventStore):
    one_writer_at_a_time = True  # SQLite's write lock: commits follow one another

    def __init__(self, path: Path, synchronous: Synchronous = "FULL") -> None:
        super().__init__()
        self.path = path
        self.synchronous = synchronous
        self._file = path.resolve()
        # The loop this store's subscriptions wait on (set when one starts): a peer appending
        # from another loop (another thread) must hand the wake-up to it.
        self._subscribers_loop: asyncio.AbstractEventLoop | None = None
        self._peers = _OPEN_ON.setdefault(self._file, weakref.WeakSet())
        self._peers.add(self)
        self._writer = _LoopConnection(path, synchronous)
        self._reader = _ThreadConnection(path, synchronous, "sqlite-reader")
        self._commits = GroupCommit(
            self._writer.run,
            self._writer.run_now,
            self._append_together,
            self._floor_set,
            self._wake_peers,
        )
        # The highest position this store wrote or read: a hint (other processes append too) of
        # whether a read of all events starts near the head (`read_all`).
        self._head_seen = START
        # How many times this store's writer wrote each category (`change_marks`): its own
        # commits, which SQLite's data_version does not count.
        self._written: dict[str, int] = {}

    @classmethod
    async def open(cls, path: Path, synchronous: Synchronous = "FULL") -> "SqliteEventStore":
        path.parent.mkdir(parents=True, exist_ok=True)
        store = cls(path, synchronous)
        try:
            await store._writer.run(partial(_migrate, path=path))
        except BaseException:
            await store.close()  # its connections, its reader's thread, its place in `_OPEN_ON`
            raise
        return store

    # -------------------------------------------------------------- writing

    async def append_many(self, appends: Sequence[StreamAppend]) -> list[AppendResult]:
        check_append(appends)
        # `append_resolving_retries`, inlined: one coroutine less to suspend and resume per append
        attempt = self._commits.append
        try:
            results = await attempt(appends)
        except Exception as error:
            if not _may_be_a_retry(error):
                raise
            results = await resolve_retries(
                appends, error, attempt, self._find_stored, _may_be_a_retry
            )
        head = self._head_seen
        for result in results:
            if result.position > head:
                head = result.position
        self._head_seen = head
        return results

    async def _prepare_wakeups(self) -> None:
        self._subscribers_loop = asyncio.get_running_loop()

    def _wake_peers(self) -> None:
        """Wake this store's subscriptions and those of every store open on the same file in this
        process (see the module's docstring): once per commit of appends, not per append."""
        self._wake_subscribers()
        peers = self._peers
        if not peers or (len(peers) == 1 and self in peers):
            return  # no other store open on the file
        current = asyncio.get_running_loop()
        for peer in list(peers):
            loop = peer._subscribers_loop
            if peer is self or loop is None or loop.is_closed():
                continue
            if loop is current:
                peer._wake_subscribers()
            else:
                # The loop may close meanwhile: its subscriptions are gone then, nothing to wake.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(peer._wake_subscribers)

    async def _find_stored(self, appends: Sequence[StreamAppend]) -> list[list[StoredId | None]]:
        return await self._read(lambda db: [self._stored_ids(db, a) for a in appends])

    def _append_together(
        self,
        db: sqlite3.Connection,
        batch: Sequence[Sequence[StreamAppend]],
        floor_set: bool,
    ) -> list[list[AppendResult] | WrongExpectedVersion]:
        """The statements of a batch's appends (`append_together`), inside a transaction that
        holds the write lock; `floor_set`: whether a position floor was set when the transaction
        began (`_floor_set`)."""
        self._wrote(append.stream_id for appends in batch for append in appends)
        first = position_after_floor(db) if floor_set else None
        return append_together(db, batch, first)

    def _wrote(self, stream_ids: Iterable[str]) -> None:
        """Count a write of these streams' categories by this store's writer, in the same step
        of the event loop as the write itself (so no look at the marks falls between them);
        counting one that then fails only costs a kept fold a look at its version."""
        written = self._written
        for stream_id in stream_ids:  # a category twice in one write only counts it twice
            category = category_of(stream_id)
            written[category] = written.get(category, 0) + 1

    async def change_marks(self) -> Callable[[str], Hashable]:
        """SQLite's `data_version` of the writer's connection, which changes when any other
        connection (another store on the file, another process) commits, with this store's own
        writes of the category: one pragma per call, however many categories are asked."""
        (others,) = await self._writer.run(lambda db: db.execute("PRAGMA data_version").fetchone())
        written = dict(self._written)  # as they are now: the marks must not move by themselves
        return lambda category: (others, written.get(category, 0))

    @staticmethod
    def _floor_set(db: sqlite3.Connection) -> bool:
        """Whether a purge left a position floor: asked once per commit of appends, since only a
        purge sets one, and it runs in a transaction of its own."""
        return db.execute("SELECT 1 FROM position_floor").fetchone() is not None

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
            self._wrote((stream_id,))  # in the write's own step: no turn of the loop between
            db.execute(
                "INSERT INTO streams (stream_id, truncate_before, deleted) "
                "VALUES (?, ?, ?) ON CONFLICT (stream_id) DO UPDATE SET "
                "truncate_before = excluded.truncate_before, deleted = excluded.deleted",
                (stream_id, metadata.truncate_before, int(metadata.deleted)),
            )

        await self._writer.run(write)

    async def delete_stream(self, stream_id: str) -> None:
        # One statement on the writer, so no append can slip in between reading and deleting.
        def delete(db: sqlite3.Connection) -> None:
            self._wrote((stream_id,))
            # Truncated after its last event, if it has any (else as its metadata said).
            db.execute(
                "INSERT INTO streams (stream_id, truncate_before, deleted) "
                "VALUES (:id, COALESCE(" + _NEXT_VERSION + ", 0), 1) "
                "ON CONFLICT (stream_id) DO UPDATE SET deleted = 1, "
                "truncate_before = COALESCE(" + _NEXT_VERSION + ", streams.truncate_before)",
                {"id": stream_id},
            )

        await self._writer.run(delete)

    async def _purge(self, stream_id: str, expected_version: ExpectedVersion) -> bool:
        def purge(db: sqlite3.Connection) -> bool:
            self._wrote((stream_id,))
            return self._purge_in_transaction(db, stream_id, expected_version)

        return await self._writer.run(purge)

    async def _after_purge(self) -> None:
        # After the caller was told (`purge_stream(then=...)`): this may wait for readers.
        await self._truncate_wal()

    @staticmethod
    def _purge_in_transaction(
        db: sqlite3.Connection, stream_id: str, expected_version: ExpectedVersion
    ) -> bool:
        db.execute("BEGIN IMMEDIATE")
        try:
            check_expected_version(stream_id, expected_version, _version(db, stream_id))
            (top,) = db.execute("SELECT MAX(position) FROM events").fetchone()
            removed = db.execute("DELETE FROM events WHERE stream_id = ?", (stream_id,)).rowcount
            removed += db.execute("DELETE FROM streams WHERE stream_id = ?", (stream_id,)).rowcount
            (new_top,) = db.execute("SELECT MAX(position) FROM events").fetchone()
            if top is not None and (new_top is None or new_top < top):
                db.execute(
                    "INSERT INTO position_floor (id, position) VALUES (1, ?) "
                    "ON CONFLICT (id) DO UPDATE SET position = MAX(position, excluded.position)",
                    (top,),
                )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return removed > 0

    async def _truncate_wal(self) -> None:
        """Checkpoint and empty the WAL, whose frames still hold the pages as they were before
        the purge. A reader of another connection may hold it back for a moment; past
        `BUSY_WAIT_LIMIT` the WAL is left to the next purge or checkpoint, and that is logged."""
        waited, pause = 0.0, 0.001
        while True:
            busy, _, _ = await self._writer.run(
                lambda db: db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            )
            if not busy:
                return
            if waited >= self._writer.BUSY_WAIT_LIMIT:
                _log.warning("%s: the WAL could not be emptied after a purge (readers)", self.path)
                return
            await asyncio.sleep(pause)
            waited += pause
            pause = min(pause * 2, 0.1)

    # -------------------------------------------------------------- reading

    async def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """A read inline on the writer's connection while it is short, else on the reader thread
        (the module's docstring): the hand-off to the thread and back costs ~40 µs of CPU alone,
        more than most reads (ADR 0103)."""
        done = self._writer.read_short(work, INLINE_READ_STEPS)
        if isinstance(done, _Stopped):
            return await self._reader.run(work)
        return done

    async def get_stream_metadata(self, stream_id: str) -> StreamMetadata:
        row = await self._read(
            lambda db: db.execute(
                "SELECT truncate_before, deleted FROM streams WHERE stream_id = ?", (stream_id,)
            ).fetchone()
        )
        return StreamMetadata() if row is None else StreamMetadata(row[0], bool(row[1]))

    async def stream_version(self, stream_id: str) -> int | None:
        return await self._read(lambda db: _version(db, stream_id))

    async def read_stream(
        self,
        stream_id: str,
        from_version: int | None = None,
        *,
        backwards: bool = False,
        limit: int | None = None,
    ) -> list[RecordedEvent]:
        # One statement, so the stream's metadata and its events come from one snapshot; the
        # metadata's subqueries are evaluated once (a stream without metadata has no row).
        if backwards:
            bound, order = "(:from IS NULL OR version <= :from)", "DESC"
        else:
            bound, order = "version >= COALESCE(:from, 0)", "ASC"
        query = (
            f"SELECT {COLUMNS} FROM events WHERE stream_id = :id "  # noqa: S608
            "AND NOT EXISTS (SELECT 1 FROM streams WHERE stream_id = :id AND deleted) "
            "AND version >= COALESCE("
            "(SELECT truncate_before FROM streams WHERE stream_id = :id), 0) "
            f"AND {bound} ORDER BY version {order} LIMIT :limit"
        )
        params = {"id": stream_id, "from": from_version, "limit": -1 if limit is None else limit}

        def read(db: sqlite3.Connection) -> list[RecordedEvent]:
            return _recorded(db.execute(query, params))

        return await self._read(read)

    async def read_all(
        self,
        after_position: int = START,
        limit: int = 1000,
        *,
        categories: Collection[str] | None = None,
        event_types: Collection[str] | None = None,
    ) -> list[RecordedEvent]:
        filters: list[object] = []
        where = _in("category", categories, filters) + _in("type", event_types, filters)
        query = (
            f"SELECT {COLUMNS} FROM events WHERE position > ?{where} "  # noqa: S608
            "ORDER BY position LIMIT ?"
        )

        def page(after: int, rows: int) -> Callable[[sqlite3.Connection], list[Row]]:
            return lambda db: db.execute(query, [after, *filters, rows]).fetchall()

        rows: list[Row] = []
        if filters or after_position >= self._head_seen - INLINE_READ_ROWS:
            # Near the head (a view catching up with the commit just made): a few rows; or
            # through a filter's index, which often finds few or none however far the head is (a
            # view of a rare category). Tried inline, where SQLite stops a read that takes long
            # (a multi-valued filter sorts every match before its limit).
            inline = INLINE_READ_ROWS if limit < 0 else min(limit, INLINE_READ_ROWS)
            first = self._writer.read_short(page(after_position, inline), INLINE_READ_STEPS)
            if not isinstance(first, _Stopped):
                if len(first) < inline or len(first) == limit:
                    return self._seen(_recorded(first))
                rows = first
                after_position = rows[-1][2]  # the rest, after the rows read: positions only grow
        rows += await self._reader.run(page(after_position, limit - len(rows)))
        return self._seen(_recorded(rows))

    def _seen(self, events: list[RecordedEvent]) -> list[RecordedEvent]:
        if events:
            self._head_seen = max(self._head_seen, events[-1].position)
        return events

    async def head_position(self) -> int:
        row = await self._read(lambda db: db.execute("SELECT MAX(position) FROM events").fetchone())
        return START if row[0] is None else int(row[0])

    async def last_position(
        self, event_types: Collection[str], after_position: int, up_to: int
    ) -> int | None:
        # One query instead of the port's read of every event of the types (ADR 0114). No
        # horizon here: a committed event is visible to `read_all` at once.
        filters: list[object] = [after_position, up_to]
        query = (
            "SELECT MAX(position) FROM events "  # noqa: S608
            f"WHERE position > ? AND position <= ?{_in('type', event_types, filters)}"
        )
        row = await self._read(lambda db: db.execute(query, filters).fetchone())
        return None if row[0] is None else int(row[0])

    async def close(self) -> None:
        self._peers.discard(self)
        await self._commits.drain()
        self._writer.close()
        await self._reader.close()
