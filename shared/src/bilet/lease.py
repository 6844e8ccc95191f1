"""Leases: one holder at a time among the replicas that share a PostgreSQL database, enforced by
the database rather than by a Deployment's strategy (which a second, manually started process or
a node that was only cut off would defeat). A lease is a session-level advisory lock on a name,
held on a connection of its own for as long as its holder works (docs/adr/0022-secured-kafka.md,
docs/adr/0028-leader-elected-jobs.md).

A process that does not get the lock waits for it and does nothing. A killed holder's connection
closes and the server releases its lock: a waiting process takes over. A holder whose lease
connection breaks can no longer be sure it is alone, so `lost` completes and it must stop the
work the lease guards (the relay exits; a leader-elected job goes back to waiting,
`bilet.leadership`).
"""

import asyncio
import contextlib
import logging

import asyncpg

_log = logging.getLogger(__name__)


class AdvisoryLease:
    """The advisory lock of one name (`key`) in one database; `holder` names the work in logs."""

    def __init__(self, dsn: str, key: str, *, holder: str, check_interval: float = 2.0) -> None:
        self.dsn = dsn
        self.key = key
        self.holder = holder
        self.check_interval = check_interval
        self._connection: asyncpg.Connection | None = None
        self._watch: asyncio.Task[None] | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def try_acquire(self) -> bool:
        """Take the lease if nobody holds it; False, holding nothing, if somebody does."""
        if self._connection is None:
            self._connection = await asyncpg.connect(self.dsn)
        held = bool(
            await self._connection.fetchval(
                "SELECT pg_try_advisory_lock(hashtextextended($1, 0))", self.key
            )
        )
        if held:
            self._watch = asyncio.create_task(self._watch_connection())
        return held

    async def acquire(self, poll_interval: float = 1.0) -> None:
        """Wait until the lease is ours (cancel to give up)."""
        waiting_logged = False
        while not await self.try_acquire():
            if not waiting_logged:
                _log.info(
                    "another %s holds the lease of this store; waiting for it",
                    self.holder,
                    extra={"lease": self.key},
                )
                waiting_logged = True
            await asyncio.sleep(poll_interval)
        _log.info("%s lease taken", self.holder, extra={"lease": self.key})

    async def _watch_connection(self) -> None:
        connection = self._connection
        assert connection is not None
        try:
            while True:
                await asyncio.sleep(self.check_interval)
                async with asyncio.timeout(self.check_interval * 5):
                    await connection.fetchval("SELECT 1")
        except asyncio.CancelledError:
            raise
        except Exception as error:
            _log.error(
                "the %s lease's connection broke: another may take over; stopping",
                self.holder,
                extra={"lease": self.key, "error": type(error).__name__},
            )
            if not self.lost.done():
                self.lost.set_result(None)

    async def release(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        if self._connection is not None:
            # Closing the session releases its advisory locks.
            with contextlib.suppress(Exception):
                await self._connection.close(timeout=5)
            self._connection = None
