"""Group commit for the SQLite event store: appends that wait for the writer share one commit.

At `synchronous=FULL` every commit ends in an fsync of the WAL (milliseconds on our disks), and
SQLite lets one writer commit at a time, so N concurrent appenders committing one by one pay N
fsyncs. Here an append is queued and the queue is committed on the next turn of the event loop:
every append that arrived meanwhile (other tasks of the same loop) goes into the same transaction,
yet each still succeeds or fails alone — a wrong expected version or an event id already stored
refuses that append only — and all of them are durable when the one COMMIT returns. No caller
hears of its append before that COMMIT (docs/adr/0055).

The appends of a shared commit are written together (docs/adr/0110): one lookup of all their
streams' versions, each append decided in order against the versions left by those before it (a
wrong expected version refuses it before anything is written), one prepared `INSERT` stepped for
every event of the others. A refusal only the `INSERT` can find (an event id stored already, a
retry perhaps) rolls that attempt back, and the commit is made again append by append, as below.

A lone append commits at once, in its caller's step (docs/adr/0105): when nothing else is ready
on the event loop and no commit is under way, no other append could join its batch nor be queued
before it, so the committer's task, the future and the turn of the loop (~15 µs of CPU of a
~100 µs append) buy nothing. Should another connection hold the write lock it is queued, as
before; and a caller appending in a loop alone takes the committer's turn now and then
(`HOLD_LOOP`), so that the loop still looks at its sockets and timers.

A batch of one runs without a savepoint (its refusal rolls the transaction back). Append by
append (a shared commit made again after a refusal found while writing), each append runs in a
savepoint, unless it is one event to one stream and no position floor is set (docs/adr/0092):
its write is one single-row `INSERT`, which SQLite undoes by itself when it fails. Only an
append to a deleted stream writes after it (the stream's undeletion); should that fail, the
append would be half written, so the commit is rolled back and made again with a savepoint for
every append (`_HalfWritten`): the others still commit, that append alone fails (docs/adr/0100).
Whether a position floor is set (`FloorSet`: a purge removed the newest events) is asked once
per commit, not once per append: nothing but a purge sets it, and no purge runs inside a commit
of appends.

A refusal by the events' unique index on event ids is the append's `EventIdsConflict` (perhaps a
retry, which the store then resolves); any other constraint's refusal is SQLite's
`IntegrityError`, that append's failure alone.
"""

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Final, Literal, TypeVar

from bilet.eventstore.errors import EventIdsConflict, WrongExpectedVersion
from bilet.eventstore.model import AppendResult, StreamAppend
from bilet.eventstore.sqlite_append import event_id_taken, results_of

_log = logging.getLogger(__name__)

T = TypeVar("T")
RunOnWriter = Callable[[Callable[[sqlite3.Connection], T]], Awaitable[T]]
# The same work on the writer's connection at once, its busy errors raised (see `busy`).
RunNow = Callable[[Callable[[sqlite3.Connection], T]], T]


# The statements of a batch's appends (`sqlite_append.append_together`): the flag says whether a
# position floor may be set (see `FloorSet`).
AppendTogether = Callable[
    [sqlite3.Connection, Sequence[Sequence[StreamAppend]], bool],
    list[list[AppendResult] | WrongExpectedVersion],
]


# Whether a purge left a position floor that the next append must start above.
FloorSet = Callable[[sqlite3.Connection], bool]
Outcome = list[AppendResult] | Exception
_Way = Literal["together", "each", "savepoints"]
_Queued = tuple[Sequence[StreamAppend], "asyncio.Future[list[AppendResult]]"]

# How long appends committed at once (`GroupCommit.append`) may follow one another without a
# turn of the event loop: a caller appending in a loop, alone on the loop, takes the queue's
# turn (which lets the loop look at its sockets and timers) once this has passed since the first
# of them committed. The loop then goes without looking at most this plus two commits.
HOLD_LOOP: Final = 0.002


# How long a writer waits, in all, while another connection holds the file's write lock, before
# its append fails (seconds): the store's writer, and any writer of the file that waits as it does.
BUSY_WAIT_LIMIT: Final = 10.0


def busy(error: sqlite3.OperationalError) -> bool:
    """Whether SQLite refused for a lock held elsewhere: every kind of busy (its primary code),
    also SQLITE_BUSY_RECOVERY (another connection recovering the WAL) and SQLITE_BUSY_SNAPSHOT
    (a read transaction's snapshot that another connection's commit outdated)."""
    return error.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY


def _refused(error: sqlite3.IntegrityError | WrongExpectedVersion) -> Exception:
    """A refused append's outcome: an event id stored already is `EventIdsConflict`; a wrong
    expected version, or any other constraint's refusal, is itself."""
    if isinstance(error, sqlite3.IntegrityError) and event_id_taken(error):
        conflict = EventIdsConflict("event ids of this append are already stored")
        conflict.__cause__ = error
        return conflict
    return error


class _HalfWritten(Exception):
    """An append without a savepoint was refused after it had written: the commit is made
    again, every append in a savepoint."""


class _NotTogether(Exception):
    """The appends of a batch written together hit a refusal SQLite found only while writing (an
    event id stored already, a deleted stream's undeletion refused): the commit is made again
    append by append."""


class GroupCommit:
    """The queue of appends waiting for the writer, and the task committing it."""

    def __init__(
        self,
        run: RunOnWriter[list[Outcome]],
        run_now: RunNow[list[Outcome]],
        append_together: AppendTogether,
        floor_set: FloorSet,
        committed: Callable[[], None],
    ) -> None:
        self._run = run
        self._run_now = run_now
        self._append_together = append_together
        self._floor_set = floor_set
        # Called after each COMMIT of appends (the store wakes its subscribers): once per commit.
        self._committed = committed
        self._queue: list[_Queued] = []
        self._committer: asyncio.Task[None] | None = None
        # The timer that says the loop turned (`_hold`), due when the first of the appends
        # committed at once since the loop last turned was committed (None: none since).
        self._turn: asyncio.TimerHandle | None = None

    async def append(self, appends: Sequence[StreamAppend]) -> list[AppendResult]:
        """Commit `appends` (all or nothing) together with whatever else is queued; at once,
        without the committer's turn, when nothing could join it (see `_commit_now`)."""
        loop = asyncio.get_running_loop()
        # Never past appends still queued (a committer cancelled at the loop's end leaves some).
        if not self._queue and self._committer is None and self._nothing_else_ready(loop):
            turn = self._turn
            if turn is None or loop.time() - turn.when() < HOLD_LOOP:
                outcome = self._commit_now(appends)
                if outcome is not None:
                    if turn is None:
                        self._hold(loop)
                    if isinstance(outcome, Exception):
                        raise outcome
                    return outcome
        future: asyncio.Future[list[AppendResult]] = loop.create_future()
        # A copy: the caller's list may change while the append waits for its turn.
        self._queue.append((list(appends), future))
        if self._committer is None:
            # The task's first step runs after the tasks already ready on the loop: those that
            # append meanwhile join this batch.
            self._committer = asyncio.create_task(self._commit_queued())
        return await future

    def _nothing_else_ready(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Whether no callback or task but the running one is ready on `loop` (this group's own
        timer of the loop's turn aside): then no other task can append before a committer task
        would run, so committing at once loses no batch. Asked of asyncio's own loops (their
        `_ready` queue); any other loop is assumed busy."""
        ready = getattr(loop, "_ready", None)
        if ready is None:
            return False
        return not ready or (len(ready) == 1 and ready[0] is self._turn)

    def _hold(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start counting `HOLD_LOOP` from now, until the loop turns: a timer due at once runs
        on the loop's next turn (never in this step), so appends spaced by other work (a request
        awaited between them) each commit at once, and only a caller appending without letting
        the loop turn is sent to the queue's turn."""
        self._turn = loop.call_later(0, self._loop_turned)

    def _loop_turned(self) -> None:
        self._turn = None

    def _commit_now(self, appends: Sequence[StreamAppend]) -> Outcome | None:
        """A lone append committed in its caller's step: no committer task, no future, no turn
        of the event loop. Only while nothing else is ready on the loop and no commit is under
        way, so no append could have joined its commit nor been queued before it: the same
        commits in the same order as through the queue. None when another connection holds the
        write lock: nothing was written, and the append is queued, whose committer waits."""
        try:
            return self._run_now(partial(self._commit, batch=(appends,)))[0]
        except sqlite3.OperationalError as error:
            if busy(error):
                return None
            raise

    async def drain(self) -> None:
        """Wait until every queued append is committed (before the writer closes)."""
        if self._committer is not None:
            await asyncio.shield(self._committer)

    async def _commit_queued(self) -> None:
        if self._turn is not None:  # the loop turned before this step
            self._turn.cancel()
            self._loop_turned()
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                try:
                    outcomes = await self._run(
                        partial(self._commit, batch=[appends for appends, _ in batch])
                    )
                except BaseException as error:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(
                                error if isinstance(error, Exception) else RuntimeError(error)
                            )
                    if not isinstance(error, Exception):
                        raise
                    continue
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():
                        continue  # its caller was cancelled; the append is committed anyway
                    if isinstance(outcome, Exception):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
        finally:
            self._committer = None

    def _commit(
        self,
        db: sqlite3.Connection,
        batch: Sequence[Sequence[StreamAppend]],
        way: "_Way" = "together",
    ) -> list[Outcome]:
        """The batch in one transaction, its appends written `way`: all together (one lookup of
        versions, one `INSERT` for every event), else append by append (`each`), in a savepoint
        each when one could be half written (`savepoints`: every append in one)."""
        # IMMEDIATE takes the write lock at BEGIN, so what is read below cannot change under us,
        # even with another process on the same file.
        try:
            db.execute("BEGIN IMMEDIATE")
            floor = self._floor_set(db)
            if len(batch) == 1:
                outcomes = [self._alone(db, batch[0], floor)]
            elif way == "together":
                outcomes = self._together(db, batch, floor)
            else:
                savepoints = way == "savepoints"
                outcomes = [self._one_of_many(db, appends, floor, savepoints) for appends in batch]
            refused = all(isinstance(outcome, Exception) for outcome in outcomes)
            db.execute("ROLLBACK" if refused else "COMMIT")
        except (_NotTogether, _HalfWritten) as again:
            # As below: SQLite may have rolled back by itself (a trigger's RAISE(ROLLBACK), a
            # full disk); the commit is made again, the next way, either way.
            if db.in_transaction:
                db.execute("ROLLBACK")
            return self._commit(
                db, batch, "each" if isinstance(again, _NotTogether) else "savepoints"
            )
        except BaseException:
            # SQLite may have rolled back by itself already (a full disk, an I/O error).
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        if not refused:
            # The batch is committed: a failure of what follows must not fail its appends (their
            # callers would retry or give up on appends that are stored), so it is only logged.
            try:
                self._committed()
            except Exception:
                _log.exception("after a commit of appends, waking subscribers failed")
        return outcomes

    def _together(
        self, db: sqlite3.Connection, batch: Sequence[Sequence[StreamAppend]], floor: bool
    ) -> list[Outcome]:
        """A shared commit's appends written together (docs/adr/0110): a wrong expected version
        is refused before anything is written, so only that append fails; any refusal found
        while writing (an event id stored already, a deleted stream's undeletion refused after
        the `INSERT`) sends the commit to be made again append by append (`_NotTogether`)."""
        try:
            return list(self._append_together(db, batch, floor))
        except sqlite3.IntegrityError as error:
            raise _NotTogether from error

    def _append_locked(
        self, db: sqlite3.Connection, appends: Sequence[StreamAppend], floor: bool
    ) -> list[AppendResult]:
        """One append's statements (`append_locked`'s, the floor asked once per commit); raises
        its `WrongExpectedVersion`, SQLite's refusals."""
        return results_of(self._append_together(db, (appends,), floor)[0])

    def _alone(
        self, db: sqlite3.Connection, appends: Sequence[StreamAppend], floor: bool
    ) -> Outcome:
        try:
            return self._append_locked(db, appends, floor)
        except (sqlite3.IntegrityError, WrongExpectedVersion) as error:
            return _refused(error)  # its writes, if any, go with the rollback of the commit

    def _one_of_many(
        self,
        db: sqlite3.Connection,
        appends: Sequence[StreamAppend],
        floor: bool,
        savepoints: bool,
    ) -> Outcome:
        """One append of a shared commit, failing alone: in a savepoint, unless it is one event,
        no floor is set and `savepoints` is not asked (see the module's docstring). Then a
        refused append has written nothing, as SQLite's count of changed rows confirms, unless
        its stream's undeletion was refused after its `INSERT`: then the commit is made again
        with savepoints (`_HalfWritten`) rather than any of that append being kept."""
        if savepoints or floor or len(appends) != 1 or len(appends[0].events) != 1:
            return self._in_savepoint(db, appends, floor)
        changes = db.total_changes
        try:
            return self._append_locked(db, appends, floor)
        except (sqlite3.IntegrityError, WrongExpectedVersion) as error:
            if db.total_changes != changes:
                raise _HalfWritten from error
            return _refused(error)

    def _in_savepoint(
        self, db: sqlite3.Connection, appends: Sequence[StreamAppend], floor: bool
    ) -> Outcome:
        db.execute("SAVEPOINT one_append")
        try:
            results = self._append_locked(db, appends, floor)
        except (sqlite3.IntegrityError, WrongExpectedVersion) as error:
            db.execute("ROLLBACK TO one_append")
            db.execute("RELEASE one_append")
            return _refused(error)
        db.execute("RELEASE one_append")
        return results
