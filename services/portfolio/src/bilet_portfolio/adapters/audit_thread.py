"""The audit trail's SQLite store on a thread of its own, with its own event loop (ADR 0025).

Every read of a portfolio is audited, and its answer leaves only once its record is durable. A
SQLite store commits on its event loop's own thread (`bilet.eventstore.sqlite`: one WAL fsync,
cheaper inline than a thread hand-off on a quiet disk); on the API's loop that fsync stopped
every other request while it ran, so nothing could join the next commit and each read paid one
of its own — on a busy disk, most of a read's time. On a loop of its own the fsync stops only the
audit: the API goes on serving, the records of the reads it serves meanwhile gather, and
`EventStoreAuditLog` writes them in one commit. (PostgreSQL's store waits on the network, not the
loop: it stays on the API's loop.)
"""

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from bilet.audit import AuditRecord, EventStoreAuditLog
from bilet.eventstore import EventStore

T = TypeVar("T")


class AuditThread:
    """An `AuditLog` whose store lives, and commits, on a thread of its own. Open with `open`,
    close with `close`; `store` is for reading the trail back (its reads run on the store's
    reader thread, from any loop)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        self._loop = loop
        self._thread = thread
        self._store: EventStore | None = None
        self._log: EventStoreAuditLog | None = None

    @classmethod
    async def open(cls, open_store: Callable[[], Awaitable[EventStore]]) -> "AuditThread":
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="portfolio-audit", daemon=True)
        thread.start()
        audit = cls(loop, thread)
        try:
            audit._store = await audit._there(_awaited(open_store))
        except BaseException:
            await audit._stop()
            raise
        audit._log = EventStoreAuditLog(audit._store)
        return audit

    @property
    def store(self) -> EventStore:
        assert self._store is not None
        return self._store

    async def record(self, *records: AuditRecord) -> None:
        assert self._log is not None
        if records:
            await self._there(self._log.record(*records))

    async def close(self) -> None:
        try:
            if self._store is not None:
                await self._there(self._store.close())
        finally:
            await self._stop()

    async def _there(self, work: Coroutine[Any, Any, T]) -> T:
        """Run `work` on the audit thread's loop; wait for it on this one."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, self._loop))

    async def _stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        await asyncio.to_thread(self._thread.join)
        self._loop.close()


async def _awaited(make: Callable[[], Awaitable[T]]) -> T:
    return await make()
