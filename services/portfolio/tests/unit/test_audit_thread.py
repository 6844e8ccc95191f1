"""The audit trail committed on a thread of its own: a caller returns once its record is durable,
records of concurrent callers share a commit, a failed write or commit fails every read of its
batch and the next goes on, another writer's lock is waited for off the caller's loop, `close`
commits what is gathered, and the store is read back from the caller's loop."""

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest

from bilet.audit import AUDIT_CATEGORY, Access, AuditRecord, EventStoreAuditLog
from bilet.eventstore import EventStore, NewEvent
from bilet.eventstore.memory import InMemoryEventStore
from bilet.eventstore.sqlite import SqliteEventStore
from bilet_portfolio.adapters.audit_thread import AuditThread, open_audit_log


def read_of(subject: str) -> AuditRecord:
    return AuditRecord("navigator-1", "navigator", Access.READ, subject, "portfolio_view")


async def audit_events(store: EventStore) -> list[tuple[str, int, float]]:
    """(subject, position, commit time) of each audit event, in store order."""
    events = await store.read_all(0, 1000)
    return [
        (json.loads(event.data)["subject"], event.position, event.recorded_at.timestamp())
        for event in events
        if event.stream_id.startswith(f"{AUDIT_CATEGORY}-")
    ]


async def subjects(store: EventStore) -> list[str]:
    return [subject for subject, _, _ in await audit_events(store)]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteEventStore]:
    store = await SqliteEventStore.open(tmp_path / "portfolio.sqlite3")
    yield store
    await store.close()


async def test_records_are_durable_when_record_returns(tmp_path: Path) -> None:
    store = await SqliteEventStore.open(tmp_path / "portfolio.sqlite3")
    audit = AuditThread.open(store)
    try:
        assert audit._thread.is_alive()
        await audit.record(read_of("pupil-1"))
        assert await subjects(store) == ["pupil-1"]  # read back on this loop
        await asyncio.gather(*(audit.record(read_of(f"pupil-{n}")) for n in range(2, 10)))
        assert sorted(await subjects(store)) == sorted(f"pupil-{n}" for n in range(1, 10))
        await audit.record()  # nothing to record: nothing written
        assert len(await subjects(store)) == 9
    finally:
        await audit.close()
        await store.close()
    assert not audit._thread.is_alive()
    # Committed, not only written: another connection of the file sees every record.
    other = sqlite3.connect(tmp_path / "portfolio.sqlite3")
    try:
        (count,) = other.execute(
            "SELECT count(*) FROM events WHERE category = ?", [AUDIT_CATEGORY]
        ).fetchone()
        assert count == 9
    finally:
        other.close()


async def test_reads_that_record_on_the_same_turn_share_one_commit(
    store: SqliteEventStore,
) -> None:
    audit = AuditThread.open(store)
    try:
        # Twenty reads record at once: one commit (one `recorded_at`, consecutive positions),
        # each read returning only once it is durable.
        await asyncio.gather(*(audit.record(read_of(f"pupil-{n}")) for n in range(20)))
        events = await audit_events(store)
        assert sorted(subject for subject, _, _ in events) == sorted(
            f"pupil-{n}" for n in range(20)
        )
        assert len({committed for _, _, committed in events}) == 1
        positions = [position for _, position, _ in events]
        assert positions == list(range(positions[0], positions[0] + 20))
    finally:
        await audit.close()


def refuse_audit_rows(store: SqliteEventStore, *, at: str) -> sqlite3.Connection:
    """Make SQLite itself refuse the next audit rows, `at` their insert or at their COMMIT (a
    deferred foreign key no row satisfies), until `allow` is called; returns the connection that
    set the trap."""
    db = sqlite3.connect(store.path, isolation_level=None)
    db.execute("CREATE TABLE refuse (id INTEGER PRIMARY KEY)")
    db.execute("INSERT INTO refuse VALUES (1)")
    if at == "insert":
        db.execute(
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON events "
            "WHEN EXISTS (SELECT 1 FROM refuse) BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )
    else:
        db.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        db.execute(
            "CREATE TABLE child (parent INTEGER REFERENCES parent (id) "
            "DEFERRABLE INITIALLY DEFERRED)"
        )
        db.execute(
            "CREATE TRIGGER refuse_audit AFTER INSERT ON events "
            "WHEN EXISTS (SELECT 1 FROM refuse) BEGIN INSERT INTO child VALUES (7); END"
        )
    return db


@pytest.mark.parametrize("at", ["insert", "commit"])
async def test_a_failed_batch_fails_every_read_in_it_and_the_next_batch_goes_on(
    store: SqliteEventStore, at: str
) -> None:
    audit = AuditThread.open(store)
    if at == "commit":
        # Only a connection that checks foreign keys refuses the COMMIT: the audit's own.
        audit._db.execute("PRAGMA foreign_keys = ON")
    trap = refuse_audit_rows(store, at=at)
    try:
        outcomes = await asyncio.gather(
            *(audit.record(read_of(f"pupil-{n}")) for n in range(5)), return_exceptions=True
        )
        assert all(isinstance(outcome, sqlite3.Error) for outcome in outcomes), outcomes
        assert await subjects(store) == []  # all or nothing
        trap.execute("DELETE FROM refuse")
        await audit.record(read_of("pupil-after"))
        assert await subjects(store) == ["pupil-after"]
    finally:
        trap.close()
        await audit.close()


async def test_another_writers_lock_is_waited_for_off_the_callers_loop(
    store: SqliteEventStore,
) -> None:
    audit = AuditThread.open(store)
    other_process = sqlite3.connect(store.path, isolation_level=None)
    try:
        other_process.execute("BEGIN IMMEDIATE")  # holds the write lock
        read = asyncio.create_task(audit.record(read_of("pupil-1")))
        for _ in range(20):
            await asyncio.sleep(0)  # this loop keeps running meanwhile
        assert not read.done()  # no commit can happen while the lock is held
        other_process.execute("COMMIT")
        await asyncio.wait_for(read, 30)
        assert await subjects(store) == ["pupil-1"]
        await audit.record(read_of("pupil-2"))  # and the next batch is written inline again
        assert await subjects(store) == ["pupil-1", "pupil-2"]
    finally:
        other_process.close()
        await audit.close()


async def test_close_commits_what_is_gathered_and_then_refuses(store: SqliteEventStore) -> None:
    audit = AuditThread.open(store)
    reads = [asyncio.create_task(audit.record(read_of(f"pupil-{n}"))) for n in range(3)]
    await asyncio.sleep(0)  # recorded: gathered for the next batch
    await audit.close()
    await asyncio.gather(*reads)  # every one of them was told it is durable
    assert sorted(await subjects(store)) == ["pupil-0", "pupil-1", "pupil-2"]
    with pytest.raises(RuntimeError, match="closed"):
        await audit.record(read_of("pupil-late"))


async def test_a_cancelled_read_is_recorded_all_the_same(store: SqliteEventStore) -> None:
    audit = AuditThread.open(store)
    try:
        cancelled = asyncio.create_task(audit.record(read_of("pupil-1")))
        await asyncio.sleep(0)  # recorded, waiting for its commit
        cancelled.cancel()
        await audit.record(read_of("pupil-2"))
        with pytest.raises(asyncio.CancelledError):
            await cancelled
    finally:
        await audit.close()
    assert sorted(await subjects(store)) == ["pupil-1", "pupil-2"]


async def test_records_go_above_the_positions_a_purge_removed(store: SqliteEventStore) -> None:
    store.allow_purging(["other"])
    await store.append("other-1", [NewEvent("Noted", b"{}")])
    await store.append("other-2", [NewEvent("Noted", b"{}")])
    assert await store.purge_stream("other-2")  # the newest event: its position not given again
    audit = AuditThread.open(store)
    try:
        await audit.record(read_of("pupil-1"))
    finally:
        await audit.close()
    ((_, position, _),) = await audit_events(store)
    assert position == 3


class FailingConnection:
    """The audit's own connection, but each error put in `fail` under a statement is raised,
    once, the next time that statement runs (on the loop or on the thread)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self.fail: dict[str, BaseException] = {}

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        error = self.fail.pop(sql, None)
        if error is not None:
            raise error
        return self._db.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


def failing(audit: AuditThread) -> FailingConnection:
    connection = FailingConnection(audit._db)
    audit._db = cast(sqlite3.Connection, connection)
    return connection


# Generous: reached only when the audit is broken (a read that would wait for ever).
HANG = 60


@pytest.mark.parametrize(
    "error", [sqlite3.DatabaseError("file is not a database"), MemoryError()], ids=repr
)
async def test_any_error_at_the_inline_begin_fails_its_batch_and_the_next_goes_on(
    store: SqliteEventStore, error: Exception
) -> None:
    audit = AuditThread.open(store)
    connection = failing(audit)
    try:
        connection.fail["BEGIN IMMEDIATE"] = error
        outcomes = await asyncio.wait_for(
            asyncio.gather(
                *(audit.record(read_of(f"pupil-{n}")) for n in range(3)), return_exceptions=True
            ),
            HANG,
        )
        assert outcomes == [error] * 3
        await asyncio.wait_for(audit.record(read_of("pupil-after")), HANG)
        assert await subjects(store) == ["pupil-after"]
    finally:
        await asyncio.wait_for(audit.close(), HANG)


async def test_a_failed_rollback_does_not_break_the_batches_after_it(
    store: SqliteEventStore,
) -> None:
    audit = AuditThread.open(store)
    connection = failing(audit)
    try:
        # The COMMIT fails and so does its ROLLBACK: the batch's transaction stays open.
        connection.fail["COMMIT"] = sqlite3.OperationalError("disk I/O error")
        connection.fail["ROLLBACK"] = sqlite3.OperationalError("disk I/O error")
        with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
            await asyncio.wait_for(audit.record(read_of("pupil-failed")), HANG)
        assert audit._db.in_transaction  # the trap worked: left open
        await asyncio.wait_for(audit.record(read_of("pupil-after")), HANG)
        assert await subjects(store) == ["pupil-after"]  # the failed batch's rows rolled back
    finally:
        await asyncio.wait_for(audit.close(), HANG)


# The thread's error is re-raised, as a thread's should be: pytest reports it.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
async def test_a_thread_that_stops_fails_every_read_and_close_still_returns(
    store: SqliteEventStore,
) -> None:
    audit = AuditThread.open(store)
    connection = failing(audit)
    # Any BaseException on the thread ends it; threading drops a SystemExit without a word.
    connection.fail["COMMIT"] = SystemExit("stands for an error no batch expects")
    try:
        first = asyncio.create_task(audit.record(read_of("pupil-1")))
        await asyncio.sleep(0)  # recorded; its batch is written and handed over
        second = asyncio.create_task(audit.record(read_of("pupil-2")))  # gathered or refused
        outcomes = await asyncio.wait_for(
            asyncio.gather(first, second, return_exceptions=True), HANG
        )
        assert [type(outcome) for outcome in outcomes] == [RuntimeError] * 2, outcomes
        assert all("audit thread stopped" in str(outcome) for outcome in outcomes)
        first_error = outcomes[0]
        assert isinstance(first_error, RuntimeError)
        assert isinstance(first_error.__cause__, SystemExit)
        with pytest.raises(RuntimeError, match="audit thread stopped"):
            await asyncio.wait_for(audit.record(read_of("pupil-3")), HANG)
    finally:
        await asyncio.wait_for(audit.close(), HANG)
    assert not audit._thread.is_alive()
    assert await subjects(store) == []


async def test_the_audit_log_is_a_thread_on_sqlite_closed_on_leaving_and_the_store_elsewhere(
    store: SqliteEventStore,
) -> None:
    async with open_audit_log(store) as audit:
        assert isinstance(audit, AuditThread)
        pending = asyncio.create_task(audit.record(read_of("pupil-1")))
        await asyncio.sleep(0)  # gathered: committed by the close on leaving
    assert not audit._thread.is_alive()
    await pending
    assert await subjects(store) == ["pupil-1"]
    other = InMemoryEventStore()
    async with open_audit_log(other) as audit:
        assert isinstance(audit, EventStoreAuditLog)
        assert audit.store is other


async def test_a_read_on_another_loop_is_refused(store: SqliteEventStore) -> None:
    audit = AuditThread.open(store)
    try:
        await audit.record(read_of("pupil-1"))
        # The thread tells the first loop only: another's read would wait for ever.
        with pytest.raises(RuntimeError, match="one event loop"):
            await asyncio.to_thread(asyncio.run, audit.record(read_of("pupil-2")))
    finally:
        await audit.close()
    assert await subjects(store) == ["pupil-1"]
