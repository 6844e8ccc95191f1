"""The audit trail's SQLite commits on a plain thread of their own (ADR 0025, ADR 0106).

Every read of a portfolio is audited, and its answer leaves only once its record is durable. A
SQLite commit ends in a WAL fsync; on the API's loop that fsync stopped every other request
while it ran, so nothing could join the next commit and each read paid one of its own. On a
thread of its own the fsync stops only the audit: the API goes on serving, and the records of the
reads it serves meanwhile gather into the next commit.

Only the `COMMIT` goes to the thread (ADR 0106). The records gathered on a turn of the API's loop
are written there, inline, into a transaction of the audit's own connection (`BEGIN IMMEDIATE`,
`sqlite_append.append_locked`: the store's own statements, tens of microseconds); the thread
commits it — SQLite's fsync, as `synchronous` says — and tells the batch's reads with one call
into their loop. The next batch gathers meanwhile and is written when that call comes. A thread
that ran every statement itself took the interpreter's lock once a statement while the API's loop
held it, and each such hand-over cost more CPU than the statement; an event loop on the thread
(the store's own append path, ADR 0065) cost more again. A failed write or commit fails every
read of its batch; the next batch goes on. Should the thread itself stop (an error no batch
expects), every read waiting is failed and every later one refused: none waits for ever.

Should another connection hold the file's write lock (another process), the inline `BEGIN`
does not wait on the API's loop: the batch goes to the thread whole, which waits for the lock
there as the store's writer would.

The store itself stays open on the API's loop for reading the trail back; this connection only
writes its audit events, which the store's readers see as any other connection's commits.
"""

import asyncio
import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence

from bilet.audit import (
    AuditEvents,
    AuditLog,
    AuditRecord,
    EventStoreAuditLog,
    appends_of,
    audit_events,
    settle,
)
from bilet.eventstore import EventStore
from bilet.eventstore.sqlite import SqliteEventStore, connect
from bilet.eventstore.sqlite_append import append_locked, position_after_floor
from bilet.eventstore.sqlite_commits import BUSY_WAIT_LIMIT, busy

_Waiting = tuple[AuditEvents, "asyncio.Future[None]"]


# A batch for the thread and whether it is begun: written in an open transaction to commit, or
# else to write and commit whole, waiting for the write lock. None, put by `close` once nothing
# is in flight: the thread ends.
_Commit = tuple[list[_Waiting], bool] | None


@contextlib.asynccontextmanager
async def open_audit_log(store: EventStore) -> AsyncIterator[AuditLog]:
    """The audit log of the portfolio's reads, into `store` (opened; closed after this): on
    SQLite committed on a thread of its own (`AuditThread`, closed on leaving with what is
    gathered committed), on any other store by `EventStoreAuditLog`. The app and the bench
    open it here, so that they cannot choose differently."""
    if not isinstance(store, SqliteEventStore):
        yield EventStoreAuditLog(store)
        return
    audit = AuditThread.open(store)
    try:
        yield audit
    finally:
        await audit.close()


class AuditThread:
    """An `AuditLog` that commits on a thread of its own into the file of a store, for the reads
    of one event loop. Open with `open`, close with `close` (before the store); the trail is read
    back through the store."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        # Records of reads waiting for the next batch; the batch being committed, if one is.
        self._gathering: list[_Waiting] = []
        self._in_flight: list[_Waiting] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the reads', which the thread tells
        # Why the thread stopped, should it have without `close`: set on the thread.
        self._stopped: BaseException | None = None
        self._idle: asyncio.Future[None] | None = None  # what `close` waits on
        self._closed = False
        self._queue: queue.SimpleQueue[_Commit] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="portfolio-audit", daemon=True)

    @classmethod
    def open(cls, store: SqliteEventStore) -> "AuditThread":
        """Start writing into `store`'s file (opened, so its schema is there) with the
        durability the store has (its `synchronous`)."""
        # Never waits for a lock on its own (busy_timeout 0): not on the API's loop.
        audit = cls(connect(store.path, store.synchronous, busy_timeout_ms=0))
        audit._thread.start()
        return audit

    async def record(self, *records: AuditRecord) -> None:
        if not records:
            return
        if self._closed:
            raise RuntimeError("the audit trail is closed")
        if self._stopped is not None:
            raise self._stopped_error()
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            # The thread tells one loop; another's reads would wait on futures it never settles.
            raise RuntimeError("an AuditThread serves the reads of one event loop")
        # Encoded here: a record that cannot be fails its caller alone, not the batch.
        events = audit_events(records)
        durable = loop.create_future()
        self._gathering.append((events, durable))
        if len(self._gathering) == 1 and self._in_flight is None:
            # Written once the reads ready on this turn of the loop have recorded theirs.
            loop.call_soon(self._hand_over)
        # A cancelled read cancels its own future only: its record is written all the same.
        await durable

    async def close(self) -> None:
        """Commit what is gathered, then stop the thread and close its connection."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        if self._in_flight is not None or self._gathering:
            self._idle = loop.create_future()
            self._hand_over()
            await self._idle
        self._queue.put(None)
        await asyncio.to_thread(self._thread.join)

    def _hand_over(self) -> None:
        """On the API's loop: write the gathered records inline and hand their commit over."""
        if self._in_flight is not None or not self._gathering:
            return
        batch, self._gathering = self._gathering, []
        if self._stopped is not None:
            self._committed(batch, self._stopped_error())
            return
        self._in_flight = batch
        db = self._db
        # A ROLLBACK that failed left its transaction open, and every later BEGIN would fail in
        # it: that transaction's batch has been failed already, and none is in flight now.
        _roll_back(db)
        try:
            db.execute("BEGIN IMMEDIATE")
        except Exception as error:
            # Any error, not only SQLite's operational ones (a corrupt file raises DatabaseError,
            # no memory MemoryError): the batch is taken, and only its outcome frees the next.
            if isinstance(error, sqlite3.OperationalError) and busy(error):
                self._queue.put((batch, False))  # the thread waits for the lock
            else:
                self._committed(batch, error)
            return
        try:
            _write(db, batch)
        except Exception as error:
            _roll_back(db)
            self._committed(batch, error)
            return
        self._queue.put((batch, True))

    def _committed(self, batch: list[_Waiting], error: Exception | None) -> None:
        """On the API's loop: a batch's outcome; the next batch, if any gathered, is written."""
        self._in_flight = None
        settle([durable for _, durable in batch], error)
        if self._gathering:
            self._hand_over()
        elif self._idle is not None and not self._idle.done():
            self._idle.set_result(None)

    def _stopped_error(self) -> RuntimeError:
        error = RuntimeError("the audit thread stopped")
        error.__cause__ = self._stopped
        return error

    def _thread_stopped(self) -> None:
        """On the API's loop, once the thread has stopped without `close`: the batch in flight
        and those gathered fail (`_hand_over` refuses them), and `close` waits no more."""
        self._committed(self._in_flight or [], self._stopped_error())

    def _tell(self, callback: Callable[..., None], *args: object) -> None:
        """From the thread: `callback(*args)` on the reads' loop."""
        # Set before the first batch is queued. A loop closed meanwhile has no one left waiting.
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(callback, *args)

    def _run(self) -> None:
        """The thread: commit each batch handed over, and say so on the API's loop."""
        try:
            while (commit := self._queue.get()) is not None:
                batch, begun = commit
                error: Exception | None = None
                try:
                    if not begun:
                        self._begin_waiting()
                        _write(self._db, batch)
                    self._db.execute("COMMIT")
                except Exception as failed:
                    _roll_back(self._db)
                    error = failed
                except BaseException:
                    _roll_back(self._db)
                    raise
                self._tell(self._committed, batch, error)
        except BaseException as error:
            # The thread ends (threading drops a SystemExit silently): its reads must not wait.
            self._stopped = error
            self._tell(self._thread_stopped)
            raise
        finally:
            self._db.close()

    def _begin_waiting(self) -> None:
        """`BEGIN IMMEDIATE`, waiting (here, on the thread) while another connection writes."""
        waited, pause = 0.0, 0.001
        while True:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if not busy(error) or waited >= BUSY_WAIT_LIMIT:
                    raise
            time.sleep(pause)
            waited += pause
            pause = min(pause * 2, 0.1)


def _write(db: sqlite3.Connection, batch: Sequence[_Waiting]) -> None:
    """The batch's events, inside a transaction that holds the write lock: above the highest
    position a purge removed, should one have (the store's rule)."""
    first = position_after_floor(db)
    append_locked(db, appends_of(events for events, _ in batch), first)


def _roll_back(db: sqlite3.Connection) -> None:
    # SQLite may have rolled back by itself already (a full disk, an I/O error). A rollback that
    # fails leaves the transaction open: every later batch fails at its BEGIN (closed, not lost).
    if db.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")
