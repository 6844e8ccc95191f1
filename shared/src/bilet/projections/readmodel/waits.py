"""Read-your-writes waits: `ReadModel.wait_until` hands each wait to its projection's `Waiter`,
which checks every pending wait of the projection with one query per kind on each wake-up."""

import asyncio
import contextlib
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from bilet.projections.port import SqlRenderer
from bilet.projections.readmodel.schema import APPLIED, applied_table, book

if TYPE_CHECKING:
    from bilet.projections.readmodel.store import ReadModel


class NotApplied(TimeoutError):
    """`wait_until` gave up: the read model had not reached the position within the timeout."""

    def __init__(self, projection: str, source: str, wanted: int, reached: int) -> None:
        super().__init__(
            f"projection {projection!r} reached position {reached} of {source!r}, "
            f"not {wanted}, before the timeout"
        )
        self.projection = projection
        self.source = source
        self.wanted = wanted
        self.reached = reached


# Pending stream ids are asked for per source (the applied table's key is (source, stream id)) in
# IN-lists of these sizes, padded by repeating the last id, so the same few statements are
# prepared and cached on both databases; more ids of one source take several.
IN_LIST_SIZES: Final = (1, 4, 16, 64, 256)


def _stream_positions_sql(size: int) -> str:
    markers = ", ".join(f"${number}" for number in range(2, size + 2))  # parameters only
    select = "SELECT stream_id, position FROM {bvb_applied} WHERE source = $1 AND stream_id IN ("
    return select + markers + ")"


_STREAM_POSITIONS: Final = {size: _stream_positions_sql(size) for size in IN_LIST_SIZES}
# Every source's watermark (see `ReadModel.position`): for the waiter and `ReadModel.watermarks`.
WATERMARKS: Final = (
    "SELECT source, MIN(position) FROM {bvb_checkpoints} "
    "WHERE projection = $1 AND position > 0 GROUP BY source"
)


def in_lists(stream_ids: Collection[str]) -> list[list[str]]:
    """The stream ids in chunks of the sizes of `IN_LIST_SIZES`, the last id repeated to fill."""
    ordered, largest = sorted(stream_ids), IN_LIST_SIZES[-1]
    chunks = []
    for start in range(0, len(ordered), largest):
        chunk = ordered[start : start + largest]
        size = next(size for size in IN_LIST_SIZES if size >= len(chunk))
        chunks.append(chunk + [chunk[-1]] * (size - len(chunk)))
    return chunks


@dataclass(eq=False, slots=True)
class _Wait:
    source: str
    position: int
    stream_id: str | None
    future: "asyncio.Future[int]"
    reached: int = 0  # what the checker saw last


class Waiter:
    """One projection's pending `wait_until`s, and the task that checks them: on each wake-up
    (a commit announced in this process or, on PostgreSQL, by NOTIFY; a new wait) or poll tick,
    one query over the applied versions for the pending stream waits of each source (up to 256
    streams a query) and one over the checkpoints for every pending watermark wait, then the
    waits whose targets are reached are released. The cost of a wake-up no longer grows with the
    number of waiters.

    Each wait keeps its own timeout; at its end the wait looks once more itself, as the old
    per-waiter loop did, so `NotApplied` carries the position reached at the deadline."""

    def __init__(self, read_model: "ReadModel", projection: str) -> None:
        self._read_model = read_model
        self._projection = projection
        self._sql = SqlRenderer(
            read_model.dialect,
            {**book(read_model.dialect), APPLIED: applied_table(projection)},
        )
        self._waits: set[_Wait] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    def pending(self) -> int:
        return len(self._waits)

    async def wait(self, source: str, position: int, timeout: float, stream_id: str | None) -> int:
        entry = _Wait(source, position, stream_id, asyncio.get_running_loop().create_future())
        self._waits.add(entry)
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(
                self._run(), name=f"bilet.projections.waiter:{self._projection}"
            )
        try:
            async with asyncio.timeout(timeout) as scope:
                return await entry.future
        except TimeoutError:
            if not scope.expired():
                raise  # NotApplied at close, or the database's own timeout
        finally:
            self._waits.discard(entry)
            if not entry.future.cancel() and not entry.future.cancelled():
                entry.future.exception()  # seen, whether raised here or not
        if entry.future.done() and not entry.future.cancelled():
            return entry.future.result()  # released just as the deadline passed
        return await self._read_model._look_once(self._projection, source, position, stream_id)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for entry in self._waits:
            if not entry.future.done():
                entry.future.set_exception(
                    NotApplied(self._projection, entry.source, entry.position, entry.reached)
                )
        self._waits.clear()

    async def _run(self) -> None:
        while True:
            self._wake.clear()  # before looking: a wake-up during the look makes another round
            pending = [entry for entry in self._waits if not entry.future.done()]
            if not pending:
                await self._wake.wait()
                continue
            await self._check(pending)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._read_model.poll_interval):
                    await self._wake.wait()

    async def _check(self, pending: list[_Wait]) -> None:
        streams: dict[str, set[str]] = {}
        for entry in pending:
            if entry.stream_id is not None:
                streams.setdefault(entry.source, set()).add(entry.stream_id)
        watch_sources = any(entry.stream_id is None for entry in pending)
        try:
            applied, watermarks = await self._look(streams, watch_sources)
        except Exception as error:
            if self._read_model.is_transient(error):
                return  # the next round tries again; every wait's timeout still holds
            for entry in pending:
                if not entry.future.done():
                    entry.future.set_exception(error)
            return
        for entry in pending:
            if entry.future.done():
                continue
            if entry.stream_id is None:
                entry.reached = watermarks.get(entry.source, 0)
            else:
                entry.reached = applied.get((entry.source, entry.stream_id), 0)
            if entry.reached >= entry.position:
                entry.future.set_result(entry.reached)
                self._waits.discard(entry)

    async def _look(
        self, streams: dict[str, set[str]], watch_sources: bool
    ) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
        applied: dict[tuple[str, str], int] = {}
        watermarks: dict[str, int] = {}
        async with self._read_model.reader(self._sql) as tx:
            if streams:
                try:
                    for source, stream_ids in streams.items():
                        for chunk in in_lists(stream_ids):
                            sql = _STREAM_POSITIONS[len(chunk)]
                            rows = await tx.fetch(sql, source, *chunk)
                            applied.update(((source, row[0]), int(row[1])) for row in rows)
                except Exception as error:
                    if not self._read_model.is_missing_table(error):
                        raise
                    applied.clear()  # the projection's feed has not started yet
            if watch_sources:
                rows = await tx.fetch(WATERMARKS, self._projection)
                watermarks = {row[0]: int(row[1]) for row in rows}
        return applied, watermarks
