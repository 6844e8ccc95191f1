"""One relay per store, enforced by the store's database rather than by the Deployment's
`Recreate` strategy alone (which a second, manually started relay or a node that was only cut off
would defeat): a PostgreSQL session-level advisory lock, keyed by the store's schema, held on a
connection of its own for as long as the relay publishes (docs/adr/0022-secured-kafka.md).

A relay that does not get the lock waits for it and publishes nothing. A killed relay's
connection closes and the server releases its lock: a waiting relay takes over from the stored
position. A relay whose lease connection breaks can no longer be sure it is alone, so it stops
(`lost` completes) and the process exits for its supervisor to start it again, behind the lease.
"""

import asyncio
import contextlib
import logging
from typing import Final

import asyncpg

from bilet.pgschema import check_schema_name

_log = logging.getLogger(__name__)

_KEY_SQL: Final = "hashtextextended('bilet.relay:' || $1, 0)"


class RelayLease:
    """The advisory lock of the relays of one store (its schema)."""

    def __init__(self, dsn: str, schema: str, *, check_interval: float = 2.0) -> None:
        check_schema_name(schema)
        self.dsn = dsn
        self.schema = schema
        self.check_interval = check_interval
        self._connection: asyncpg.Connection | None = None
        self._watch: asyncio.Task[None] | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def try_acquire(self) -> bool:
        """Take the lease if nobody holds it; False, holding nothing, if somebody does."""
        if self._connection is None:
            self._connection = await asyncpg.connect(self.dsn)
        held = bool(
            await self._connection.fetchval(f"SELECT pg_try_advisory_lock({_KEY_SQL})", self.schema)
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
                    "another relay holds the lease of this store; waiting for it",
                    extra={"schema": self.schema},
                )
                waiting_logged = True
            await asyncio.sleep(poll_interval)
        _log.info("relay lease taken", extra={"schema": self.schema})

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
                "the relay lease's connection broke: another relay may take over; stopping",
                extra={"schema": self.schema, "error": type(error).__name__},
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
