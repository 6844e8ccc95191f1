"""The SQLite store's schema (docs/adr/0100): a stream's version is its last event's, so appends
write no `streams` row; files made before that open, are migrated once, and keep working. Also
how constraint failures of appends are told apart: an event id stored already is
`EventIdsConflict`, any other constraint's refusal is SQLite's own error, and either fails only
its own append of a shared commit."""

import asyncio
import sqlite3
from pathlib import Path
from uuid import uuid4

import pytest

from bilet.eventstore import (
    NO_STREAM,
    AppendResult,
    EventIdsConflict,
    NewEvent,
    StreamMetadata,
    WrongExpectedVersion,
)
from bilet.eventstore import sqlite as sqlite_module
from bilet.eventstore.sqlite import (
    SCHEMA_VERSION,
    NewerSchemaError,
    SqliteEventStore,
    _LoopConnection,
)

# The schema as files made before docs/adr/0100 have it: `streams.version`, written by every
# append, and no `user_version`.
_SCHEMA_0 = """
CREATE TABLE events (
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
CREATE INDEX events_by_category ON events (category, position);
CREATE INDEX events_by_type ON events (type, position);
CREATE TABLE streams (
    stream_id       TEXT    PRIMARY KEY,
    version         INTEGER,
    truncate_before INTEGER NOT NULL DEFAULT 0,
    deleted         INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE position_floor (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    position INTEGER NOT NULL
);
"""


def _old_file(path: Path, *, position_floor: bool = True) -> None:
    """A file as the store wrote it before docs/adr/0100: a plain stream of two events, one
    truncated before its second event, one deleted after its one event, and one with metadata
    but no event yet; every stream with events has its version in `streams`. Without
    `position_floor`: as written before purges existed (docs/adr/0016)."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(_SCHEMA_0)
        if not position_floor:
            db.execute("DROP TABLE position_floor")
        events = [
            ("participant-plain", 0),
            ("participant-plain", 1),
            ("participant-truncated", 0),
            ("participant-truncated", 1),
            ("participant-deleted", 0),
        ]
        for stream_id, version in events:
            db.execute(
                "INSERT INTO events (stream_id, category, version, event_id, type, data, "
                "metadata, recorded_at) VALUES (?, 'participant', ?, ?, 'Happened', ?, x'', 0)",
                (stream_id, version, uuid4().bytes, b'{"n": %d}' % version),
            )
        db.executemany(
            "INSERT INTO streams (stream_id, version, truncate_before, deleted) "
            "VALUES (?, ?, ?, ?)",
            [
                ("participant-plain", 1, 0, 0),
                ("participant-truncated", 1, 1, 0),
                ("participant-deleted", 0, 1, 1),
                ("participant-announced", None, 3, 0),
            ],
        )
    finally:
        db.close()


def _write_lock_held(path: Path) -> sqlite3.Connection:
    """Another connection (as another process's long load would) holding the file's write lock
    until it rolls back."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def _on_disk(path: Path, query: str) -> list[tuple[object, ...]]:
    db = sqlite3.connect(path)
    try:
        return db.execute(query).fetchall()
    finally:
        db.close()


async def test_a_file_made_before_the_versions_left_the_streams_table_opens_and_keeps_working(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.sqlite3"
    _old_file(path)
    store = await SqliteEventStore.open(path)
    try:
        assert _on_disk(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
        assert "version" not in {row[1] for row in _on_disk(path, "PRAGMA table_info(streams)")}
        # Only the rows that carry metadata are left.
        assert sorted(_on_disk(path, "SELECT * FROM streams")) == [
            ("participant-announced", 3, 0),
            ("participant-deleted", 1, 1),
            ("participant-truncated", 1, 0),
        ]
        assert await store.stream_version("participant-plain") == 1
        assert await store.stream_version("participant-truncated") == 1
        assert await store.stream_version("participant-deleted") is None
        assert await store.stream_version("participant-announced") is None
        assert [e.version for e in await store.read_stream("participant-plain")] == [0, 1]
        assert [e.version for e in await store.read_stream("participant-truncated")] == [1]
        assert await store.read_stream("participant-deleted") == []
        assert await store.get_stream_metadata("participant-announced") == StreamMetadata(3)

        # Appends continue each stream's versions, expected versions are checked against them.
        with pytest.raises(WrongExpectedVersion):
            await store.append("participant-plain", [NewEvent("Happened", b"{}")], 0)
        plain = await store.append("participant-plain", [NewEvent("Happened", b"{}")], 1)
        assert (plain.version, plain.position) == (2, 6)
        again = await store.append("participant-deleted", [NewEvent("Happened", b"{}")])
        assert again.version == 1  # the deleted stream exists again, truncated where it was
        assert [e.version for e in await store.read_stream("participant-deleted")] == [1]
        assert await store.get_stream_metadata("participant-deleted") == StreamMetadata(1)
    finally:
        await store.close()
    # A second opening finds the file migrated and changes nothing.
    reopened = await SqliteEventStore.open(path)
    try:
        assert await reopened.stream_version("participant-plain") == 2
        assert [e.position for e in await reopened.read_all()] == [1, 2, 3, 4, 5, 6, 7]
    finally:
        await reopened.close()


async def test_an_append_to_a_new_stream_writes_no_row_of_the_streams_table(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.sqlite3"
    store = await SqliteEventStore.open(path)
    try:
        await store.append("participant-1", [NewEvent("Happened", b"{}")], NO_STREAM)
        await store.append(
            "participant-1", [NewEvent("Happened", b"{}"), NewEvent("Happened", b"{}")], 0
        )
        assert _on_disk(path, "SELECT * FROM streams") == []
        assert await store.stream_version("participant-1") == 2
        await store.delete_stream("participant-1")
        assert _on_disk(path, "SELECT * FROM streams") == [("participant-1", 3, 1)]
        assert await store.stream_version("participant-1") is None
        with pytest.raises(WrongExpectedVersion):
            await store.append("participant-1", [NewEvent("Happened", b"{}")], 2)
        result = await store.append("participant-1", [NewEvent("Happened", b"{}")], NO_STREAM)
        assert result.version == 3
        assert _on_disk(path, "SELECT * FROM streams") == [("participant-1", 3, 0)]
    finally:
        await store.close()


def _refuse(path: Path, trigger: str) -> None:
    """A constraint of the kind no schema of the store has (SQLite's RAISE in a trigger), to
    refuse one append in a way that is not an event id stored already."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute(trigger)
    finally:
        db.close()


async def test_a_constraint_other_than_the_event_ids_is_not_reported_as_an_ids_conflict(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.sqlite3"
    store = await SqliteEventStore.open(path)
    _refuse(
        path,
        "CREATE TRIGGER refused BEFORE INSERT ON events WHEN NEW.type = 'Refused' "
        "BEGIN SELECT RAISE(ABORT, 'refused by a constraint'); END",
    )
    try:
        taken = NewEvent("Happened", b"{}")
        await store.append("participant-taken", [taken], NO_STREAM)
        # Alone in its commit.
        with pytest.raises(sqlite3.IntegrityError, match="refused by a constraint") as alone:
            await store.append("participant-1", [NewEvent("Refused", b"{}")], NO_STREAM)
        assert not isinstance(alone.value, EventIdsConflict)
        # In a shared commit, as one event and as two (with a savepoint): each fails alone.
        outcomes = await asyncio.gather(
            store.append("participant-2", [NewEvent("Happened", b"{}")], NO_STREAM),
            store.append("participant-3", [NewEvent("Refused", b"{}")], NO_STREAM),
            store.append("participant-4", [taken], NO_STREAM),
            store.append(
                "participant-5", [NewEvent("Happened", b"{}"), NewEvent("Refused", b"{}")]
            ),
            store.append("participant-6", [NewEvent("Happened", b"{}")], NO_STREAM),
            return_exceptions=True,
        )
        assert isinstance(outcomes[0], AppendResult)
        assert type(outcomes[1]) is sqlite3.IntegrityError
        assert isinstance(outcomes[2], EventIdsConflict)  # the event id stored already
        assert type(outcomes[3]) is sqlite3.IntegrityError
        assert isinstance(outcomes[4], AppendResult)
        assert [e.stream_id for e in await store.read_all()] == [
            "participant-taken",
            "participant-2",
            "participant-6",
        ]
    finally:
        await store.close()


async def test_a_refused_undeletion_after_its_insert_fails_only_its_own_append_of_a_commit(
    tmp_path: Path,
) -> None:
    """An append of one event runs without a savepoint in a shared commit (docs/adr/0092); an
    append to a deleted stream also undeletes it after its INSERT. Should that write be refused,
    the append would be half written: the commit is made again with savepoints, so the others
    commit and the refused one leaves nothing behind."""
    path = tmp_path / "events.sqlite3"
    store = await SqliteEventStore.open(path)
    try:
        await store.append("participant-deleted", [NewEvent("Happened", b"{}")], NO_STREAM)
        await store.delete_stream("participant-deleted")
        _refuse(
            path,
            "CREATE TRIGGER refused BEFORE UPDATE ON streams "
            "BEGIN SELECT RAISE(ABORT, 'refused by a constraint'); END",
        )
        statements: list[str] = []
        store._writer._db.set_trace_callback(statements.append)
        outcomes = await asyncio.gather(
            store.append("participant-1", [NewEvent("Happened", b"{}")], NO_STREAM),
            store.append("participant-deleted", [NewEvent("Happened", b"{}")], NO_STREAM),
            store.append("participant-2", [NewEvent("Happened", b"{}")], NO_STREAM),
            return_exceptions=True,
        )
        # Together, then append by append, then with savepoints (the refused one half written).
        assert statements.count("BEGIN IMMEDIATE") == 3
        assert [r.stream_id for r in outcomes if isinstance(r, AppendResult)] == [
            "participant-1",
            "participant-2",
        ]
        assert type(outcomes[1]) is sqlite3.IntegrityError
        assert [e.stream_id for e in await store.read_all()] == [
            "participant-deleted",
            "participant-1",
            "participant-2",
        ]
        assert (await store.get_stream_metadata("participant-deleted")).deleted
    finally:
        await store.close()


async def test_a_migrated_file_opens_at_once_while_another_connection_holds_the_write_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening a file at the current version takes no lock: it opens without waiting even
    once for the writer, which the store is told not to wait for at all here (a busy write lock
    then fails at once instead of after ten seconds)."""
    monkeypatch.setattr(_LoopConnection, "BUSY_WAIT_LIMIT", 0.0)
    path = tmp_path / "events.sqlite3"
    store = await SqliteEventStore.open(path)
    await store.append("participant-1", [NewEvent("Happened", b"{}")], NO_STREAM)
    await store.close()
    holder = _write_lock_held(path)
    try:
        reopened = await SqliteEventStore.open(path)
        try:
            assert await reopened.stream_version("participant-1") == 0
        finally:
            await reopened.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()


async def test_an_open_that_fails_closes_the_store_it_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An old file must be migrated under the write lock; with the lock held elsewhere and no
    wait allowed, the open fails, and the store it made is closed, not left open."""
    monkeypatch.setattr(_LoopConnection, "BUSY_WAIT_LIMIT", 0.0)
    closed: list[SqliteEventStore] = []
    close = SqliteEventStore.close

    async def recorded_close(store: SqliteEventStore) -> None:
        closed.append(store)
        await close(store)

    monkeypatch.setattr(SqliteEventStore, "close", recorded_close)
    path = tmp_path / "events.sqlite3"
    _old_file(path)
    holder = _write_lock_held(path)
    try:
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            await SqliteEventStore.open(path)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert [store.path for store in closed] == [path]
    assert _on_disk(path, "PRAGMA user_version") == [(0,)]  # to be migrated by the next open


async def test_a_file_migrated_by_newer_code_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    """No step leads back: this code would misread a newer schema, so it does not open it."""
    path = tmp_path / "events.sqlite3"
    store = await SqliteEventStore.open(path)
    await store.append("participant-1", [NewEvent("Happened", b"{}")], NO_STREAM)
    await store.close()
    newer = SCHEMA_VERSION + 1
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute(f"PRAGMA user_version = {newer}")
    finally:
        db.close()
    with pytest.raises(NewerSchemaError) as refused:
        await SqliteEventStore.open(path)
    assert str(path) in str(refused.value)
    assert f"schema version {newer}, newer than this code's {SCHEMA_VERSION}" in str(refused.value)
    assert _on_disk(path, "PRAGMA user_version") == [(newer,)]
    assert _on_disk(path, "SELECT stream_id, version FROM events") == [("participant-1", 0)]


async def test_a_file_made_before_purges_existed_is_given_the_position_floor_by_its_migration(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.sqlite3"
    _old_file(path, position_floor=False)
    store = await SqliteEventStore.open(path)
    try:
        assert _on_disk(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
        # A purge of the newest events sets the floor, which the next append starts above.
        store.allow_purging({"participant"})
        assert await store.purge_stream("participant-deleted")
        result = await store.append("participant-new", [NewEvent("Happened", b"{}")], NO_STREAM)
        assert result.position == 6
    finally:
        await store.close()


async def test_an_older_file_takes_only_the_steps_it_misses_not_the_schema_of_a_new_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A later version that adds a column and indexes it: the new file's schema names the
    column, which an older file has only after its step. Running that schema on the older file
    first would fail on the index."""
    schema = sqlite_module.SCHEMA.replace(
        "recorded_at REAL    NOT NULL,", "recorded_at REAL    NOT NULL,\n    tenant TEXT,"
    )
    index = "CREATE INDEX IF NOT EXISTS events_by_tenant ON events (tenant, position)"
    monkeypatch.setattr(sqlite_module, "SCHEMA", f"{schema}{index};")
    monkeypatch.setattr(sqlite_module, "SCHEMA_VERSION", 2)
    steps = {**sqlite_module._MIGRATIONS, 2: ("ALTER TABLE events ADD COLUMN tenant TEXT", index)}
    monkeypatch.setattr(sqlite_module, "_MIGRATIONS", steps)
    path = tmp_path / "events.sqlite3"
    _old_file(path)
    store = await SqliteEventStore.open(path)
    try:
        assert _on_disk(path, "PRAGMA user_version") == [(2,)]
        assert _on_disk(path, "SELECT name FROM sqlite_schema WHERE name = 'events_by_tenant'")
        assert "version" not in {row[1] for row in _on_disk(path, "PRAGMA table_info(streams)")}
        assert await store.stream_version("participant-plain") == 1
    finally:
        await store.close()


async def test_a_streams_version_is_found_whatever_other_columns_its_tables_have(
    tmp_path: Path,
) -> None:
    """The lookups of versions name the stream asked for by its table's name (`asked.id`): a
    column called `id` in `events` or `streams`, which a later step could add, is not taken
    for it."""
    path = tmp_path / "events.sqlite3"
    store = await SqliteEventStore.open(path)
    await store.append(
        "participant-1", [NewEvent("Happened", b"{}"), NewEvent("Happened", b"{}")], NO_STREAM
    )
    await store.append("participant-2", [NewEvent("Happened", b"{}")], NO_STREAM)
    await store.delete_stream("participant-2")
    await store.close()
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("ALTER TABLE events ADD COLUMN id TEXT")
        db.execute("ALTER TABLE streams ADD COLUMN id TEXT")
    finally:
        db.close()
    store = await SqliteEventStore.open(path)
    try:
        assert await store.stream_version("participant-1") == 1
        assert await store.stream_version("participant-2") is None  # deleted
        assert (await store.append("participant-1", [NewEvent("Happened", b"{}")], 1)).version == 2
        undeleted = await store.append("participant-2", [NewEvent("Happened", b"{}")], NO_STREAM)
        assert undeleted.version == 1
        assert not (await store.get_stream_metadata("participant-2")).deleted
    finally:
        await store.close()


async def test_the_writer_tries_again_after_any_kind_of_busy_not_only_the_plain_one(
    tmp_path: Path,
) -> None:
    """SQLITE_BUSY_SNAPSHOT (517, an extended code of SQLITE_BUSY): a transaction that read,
    then finds another connection committed before it could write. The writer tries the work
    again, as for a plain SQLITE_BUSY."""
    path = tmp_path / "events.sqlite3"
    writer = _LoopConnection(path, "FULL")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("CREATE TABLE counted (n INTEGER)")
    errors: list[int] = []

    def read_then_write(db: sqlite3.Connection) -> int:
        db.execute("BEGIN")
        try:
            (count,) = db.execute("SELECT count(*) FROM counted").fetchone()
            if not errors:
                other.execute("INSERT INTO counted VALUES (0)")  # commits between read and write
            db.execute("INSERT INTO counted VALUES (?)", (count + 1,))
            db.execute("COMMIT")
        except sqlite3.OperationalError as error:
            errors.append(error.sqlite_errorcode)
            raise
        finally:
            if db.in_transaction:
                db.execute("ROLLBACK")
        return int(count)

    try:
        assert await writer.run(read_then_write) == 1
        assert errors == [sqlite3.SQLITE_BUSY_SNAPSHOT]
        assert other.execute("SELECT n FROM counted ORDER BY n").fetchall() == [(0,), (2,)]
    finally:
        writer.close()
        other.close()


async def test_a_half_written_append_whose_transaction_sqlite_rolled_back_fails_no_commit(
    tmp_path: Path,
) -> None:
    """An append to a deleted stream, one event in a shared commit, whose undeletion SQLite
    refused by rolling the whole transaction back (a trigger's RAISE(ROLLBACK), as a full disk
    would), written together and then alone: the commit is made again append by append, then
    with savepoints, not failed by a ROLLBACK of nothing."""
    path = tmp_path / "events.sqlite3"
    store = await SqliteEventStore.open(path)
    try:
        await store.append("participant-deleted", [NewEvent("Happened", b"{}")], NO_STREAM)
        await store.delete_stream("participant-deleted")
        refusals = [True, True]  # the first two undeletions only
        writer = store._writer._db
        writer.create_function("refuse_once", 0, lambda: refusals.pop() if refusals else False)
        writer.execute(
            "CREATE TEMP TRIGGER refused BEFORE UPDATE ON streams WHEN refuse_once() "
            "BEGIN SELECT RAISE(ROLLBACK, 'refused, transaction rolled back'); END"
        )
        statements: list[str] = []
        writer.set_trace_callback(statements.append)
        outcomes = await asyncio.gather(
            store.append("participant-1", [NewEvent("Happened", b"{}")], NO_STREAM),
            store.append("participant-deleted", [NewEvent("Happened", b"{}")], NO_STREAM),
            store.append("participant-2", [NewEvent("Happened", b"{}")], NO_STREAM),
            return_exceptions=True,
        )
        # Together, then append by append, then with savepoints (the refused one half written).
        assert statements.count("BEGIN IMMEDIATE") == 3
        assert [type(outcome) for outcome in outcomes] == [AppendResult] * 3
        assert [e.stream_id for e in await store.read_all()] == [
            "participant-deleted",
            "participant-1",
            "participant-deleted",
            "participant-2",
        ]
        assert not (await store.get_stream_metadata("participant-deleted")).deleted
    finally:
        await store.close()


async def test_a_migration_step_that_fails_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    """The steps run in one transaction: one failing (here SQLite refuses to drop a column that
    a view of the operator's reads) undoes those before it, the file stays at version 0 with
    its rows, and once the cause is gone the next open migrates it."""
    path = tmp_path / "events.sqlite3"
    _old_file(path, position_floor=False)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("CREATE VIEW stream_versions AS SELECT stream_id, version FROM streams")
    finally:
        db.close()
    streams = _on_disk(path, "SELECT * FROM streams ORDER BY stream_id")
    with pytest.raises(sqlite3.OperationalError, match="stream_versions"):
        await SqliteEventStore.open(path)
    assert _on_disk(path, "PRAGMA user_version") == [(0,)]
    assert _on_disk(path, "SELECT * FROM streams ORDER BY stream_id") == streams  # 4 rows
    assert "version" in {row[1] for row in _on_disk(path, "PRAGMA table_info(streams)")}
    assert not _on_disk(path, "SELECT 1 FROM sqlite_schema WHERE name = 'position_floor'")

    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("DROP VIEW stream_versions")
    finally:
        db.close()
    store = await SqliteEventStore.open(path)
    try:
        assert _on_disk(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
        assert len(_on_disk(path, "SELECT * FROM streams")) == 3  # the version-only row dropped
        assert await store.stream_version("participant-plain") == 1
    finally:
        await store.close()
