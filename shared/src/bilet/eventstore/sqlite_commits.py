"""Group commit for the SQLite event store: appends that wait for the writer share one commit.

At `synchronous=FULL` every commit ends in an fsync of the WAL (milliseconds on our disks), and
SQLite lets one writer commit at a time, so N concurrent appenders committing one by one pay N
fsyncs. Here an append is queued and the queue is committed on the next turn of the event loop:
every append that arrived meanwhile (other tasks of the same loop) goes into the same transaction,
each inside a savepoint of its own, so each still succeeds or fails alone — a wrong expected
version or an event id already stored rolls back that append only — and all of them are durable
when the one COMMIT returns. No caller hears of its append before that COMMIT (docs/adr/0055).

A lone appender pays one extra turn of the loop (microseconds) and no extra statement: a batch of
one runs without a savepoint. So does an append of one event to one stream in a larger batch, when
no position floor is set (docs/adr/0092): its write is one single-row `INSERT`, which SQLite undoes
by itself when it fails (an event id already stored); a wrong expected version is found before
it. Only an append to a deleted stream writes after it (the stream's undeletion); should that
fail, the append would be half written, so the commit is rolled back and made again with a
savepoint for every append (`_HalfWritten`): the others still commit, that append alone fails
(docs/adr/0100). Whether a position floor is set (`FloorSet`: a purge removed the newest events)
is asked once per commit, not once per append: nothing but a purge sets it, and no purge runs
inside a commit of appends.

A refusal by the events' unique index on event ids is the append's `EventIdsConflict` (perhaps a
retry, which the store then resolves); any other constraint's refusal is SQLite's
`IntegrityError`, that append's failure alone.
"""

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import TypeVar

from bilet.eventstore.errors import EventIdsConflict, WrongExpectedVersion
from bilet.eventstore.model import AppendResult, StreamAppend
from bilet.eventstore.sqlite_append import event_id_taken

T = TypeVar("T")
RunOnWriter = Callable[[Callable[[sqlite3.Connection], T]], Awaitable[T]]
# The appends' statements; the flag says whether a position floor may be set (see `FloorSet`).
AppendLocked = Callable[[sqlite3.Connection, Sequence[StreamAppend], bool], list[AppendResult]]
# Whether a purge left a position floor that the next append must start above.
FloorSet = Callable[[sqlite3.Connection], bool]
Outcome = list[AppendResult] | Exception
_Queued = tuple[Sequence[StreamAppend], "asyncio.Future[list[AppendResult]]"]


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


class GroupCommit:
    """The queue of appends waiting for the writer, and the task committing it."""

    def __init__(
        self, run: RunOnWriter[list[Outcome]], append_locked: AppendLocked, floor_set: FloorSet
    ) -> None:
        self._run = run
        self._append_locked = append_locked
        self._floor_set = floor_set
        self._queue: list[_Queued] = []
        self._committer: asyncio.Task[None] | None = None

    async def append(self, appends: Sequence[StreamAppend]) -> list[AppendResult]:
        """Commit `appends` (all or nothing) together with whatever else is queued."""
        future: asyncio.Future[list[AppendResult]] = asyncio.get_running_loop().create_future()
        self._queue.append((appends, future))
        if self._committer is None:
            # The task's first step runs after the tasks already ready on the loop: those that
            # append meanwhile join this batch.
            self._committer = asyncio.create_task(self._commit_queued())
        return await future

    async def drain(self) -> None:
        """Wait until every queued append is committed (before the writer closes)."""
        if self._committer is not None:
            await asyncio.shield(self._committer)

    async def _commit_queued(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                try:
                    outcomes = await self._run(partial(self._commit, batch=batch))
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
        self, db: sqlite3.Connection, batch: Sequence[_Queued], savepoints: bool = False
    ) -> list[Outcome]:
        """The batch in one transaction; `savepoints`: every append of a shared commit in one."""
        # IMMEDIATE takes the write lock at BEGIN, so what is read below cannot change under us,
        # even with another process on the same file.
        db.execute("BEGIN IMMEDIATE")
        try:
            floor = self._floor_set(db)
            if len(batch) == 1:
                outcomes = [self._alone(db, batch[0][0], floor)]
            else:
                outcomes = [
                    self._one_of_many(db, appends, floor, savepoints) for appends, _ in batch
                ]
            if all(isinstance(outcome, Exception) for outcome in outcomes):
                db.execute("ROLLBACK")
            else:
                db.execute("COMMIT")
        except _HalfWritten:
            # As below: SQLite may have rolled back by itself (a trigger's RAISE(ROLLBACK), a
            # full disk); the commit is made again with savepoints either way.
            if db.in_transaction:
                db.execute("ROLLBACK")
        except BaseException:
            # SQLite may have rolled back by itself already (a full disk, an I/O error).
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        else:
            return outcomes
        return self._commit(db, batch, savepoints=True)

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
