"""The audit trail's SQLite store on a thread of its own, with its own event loop (ADR 0025).

Every read of a portfolio is audited, and its answer leaves only once its record is durable. A
SQLite store commits on its event loop's own thread (`bilet.eventstore.sqlite`: one WAL fsync,
cheaper inline than a thread hand-off on a quiet disk); on the API's loop that fsync stopped
every other request while it ran, so nothing could join the next commit and each read paid one
of its own — on a busy disk, most of a read's time. On a loop of its own the fsync stops only the
audit: the API goes on serving, the records of the reads it serves meanwhile gather, and
`EventStoreAuditLog` writes them in one commit. (PostgreSQL's store waits on the network, not the
loop: it stays on the API's loop.)

The hand-off is grouped too (ADR 0065): records that arrive while a batch is on the audit thread
wait on the API's loop and cross together in the next one, so a busy API pays two thread
wake-ups per batch, not per read. Each read still waits until its own record is durable; a batch
that fails fails every read in it.
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
        # Records waiting for the next batch, each with the future its read awaits.
        self._waiting: list[tuple[tuple[AuditRecord, ...], asyncio.Future[None]]] = []
        self._sending: asyncio.Task[None] | None = None

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
        if not records:
            return
        durable = asyncio.get_running_loop().create_future()
        self._waiting.append((records, durable))
        if self._sending is None:
            self._sending = asyncio.create_task(self._send_batches())
        await durable

    async def _send_batches(self) -> None:
        """Hand the waiting records to the audit thread, a batch at a time, until none wait."""
        assert self._log is not None
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                records = [record for records, _ in batch for record in records]
                try:
                    await self._there(self._log.record(*records))
                except asyncio.CancelledError:
                    for _, durable in batch + self._waiting:
                        durable.cancel()
                    self._waiting = []
                    raise
                except BaseException as error:
                    for _, durable in batch:
                        if not durable.done():
                            durable.set_exception(error)
                else:
                    for _, durable in batch:
                        if not durable.done():
                            durable.set_result(None)
        finally:
            self._sending = None

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
