"""The read-model store: transactions for projections, the runtime's bookkeeping (checkpoints,
parked streams, dead letters), read-your-writes, and the switch of a rebuild's shadow tables,
written once over the database hooks of `ReadModelAdapter`."""

import asyncio
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from bilet.projections.port import Projection, ReadModelTx, SqlRenderer, Table
from bilet.projections.readmodel.batches import BatchBookkeeping
from bilet.projections.readmodel.changes import ChangeSignals, Watch
from bilet.projections.readmodel.schema import (
    APPLIED,
    APPLIED_COLUMNS,
    BOOKKEEPING,
    Layout,
    ParkedStream,
    applied_table,
    book,
    index_name,
    layout_of,
)
from bilet.projections.readmodel.waits import WATERMARKS, NotApplied, Waiter


class ReadModel(BatchBookkeeping):
    """A read-model database: transactions for projections, bookkeeping for the runtime, and the
    read-your-writes questions an API asks ("how far", "wait until")."""

    # How often `wait_until` looks again when no wake-up arrives (another process's commits).
    poll_interval: float = 0.1

    def __init__(self) -> None:
        # Set by every commit here; the checker wakes through `Waiter.wake`, the benchmark's
        # per-waiter peer (benchmarks/bench_projections.py) through this.
        self._changed = asyncio.Event()
        self._waiters: dict[str, Waiter] = {}  # by projection, started by the first wait
        # Tasks of this process waiting for one key of a projection to change (`watch`).
        self.signals = ChangeSignals(self._prepare_wakeups)
        self._closed = False
        self._book = SqlRenderer(self.dialect, book(self.dialect))  # the runtime's statements
        self._ddl = SqlRenderer(self.dialect, {}, placeholders=False)
        # One renderer per projection's live layout, so API queries hit its statement cache.
        self._query_renderers: dict[tuple[str, tuple[str, ...]], SqlRenderer] = {}

    async def __aenter__(self) -> "ReadModel":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ schema

    async def _install_bookkeeping(self) -> None:
        async with self.transaction(self._ddl) as tx:
            await self._lock_schema(tx)
            for statement in BOOKKEEPING:
                await tx.execute(statement)

    async def install(self, projection: Projection, *, shadow: bool = False) -> Layout:
        """Create the projection's tables (or their shadows) if they are missing."""
        layout = layout_of(projection, self.dialect, shadow=shadow)
        async with self.transaction(self._ddl) as tx:
            await self._lock_schema(tx)
            existing = await self._existing_indexes(
                tx,
                [
                    index_name(layout.tables[table.name], number)
                    for table in projection.tables
                    for number in range(len(table.indexes))
                ],
            )
            for table in projection.tables:
                await self._create_table(tx, table, layout.tables[table.name], existing)
            await tx.execute(f"CREATE TABLE IF NOT EXISTS {layout.applied} ({APPLIED_COLUMNS})")
        return layout

    async def _create_table(
        self, tx: ReadModelTx, table: Table, physical: str, existing: Collection[str]
    ) -> None:
        await tx.execute(f"CREATE TABLE IF NOT EXISTS {physical} ({table.columns})")
        for number, columns in enumerate(table.indexes):
            name = index_name(physical, number)
            if name not in existing:
                await tx.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {physical} ({columns})")

    def query(
        self, projection: Projection | None = None
    ) -> AbstractAsyncContextManager[ReadModelTx]:
        """A reader for API queries; `{table}` placeholders name the projection's live tables."""
        key = (
            ("", ())
            if projection is None
            else (
                projection.name,
                tuple(table.name for table in projection.tables),
            )
        )
        renderer = self._query_renderers.get(key)
        if renderer is None:
            tables = {} if projection is None else layout_of(projection, self.dialect).tables
            renderer = self._query_renderers[key] = SqlRenderer(self.dialect, tables)
        return self.reader(renderer)

    # ------------------------------------------------------------------ checkpoints

    async def ensure_checkpoints(
        self, key: str, feed: str, parts: Collection[int], source: str
    ) -> dict[int, int]:
        """The stored resume points of some partitions, creating rows (at 0) for new ones."""
        async with self.transaction(self._book) as tx:
            await tx.executemany(
                "INSERT INTO {bvb_checkpoints} "
                "(projection, feed, part, source, next_offset, position) "
                "VALUES ($1, $2, $3, $4, 0, 0) ON CONFLICT DO NOTHING",
                [(key, feed, part, source) for part in parts],
            )
            rows = await tx.fetch(
                "SELECT part, next_offset FROM {bvb_checkpoints} "
                "WHERE projection = $1 AND feed = $2",
                key,
                feed,
            )
        stored: dict[int, int] = dict(rows)
        return {part: stored[part] for part in parts}

    async def checkpoints(self, projection: str) -> dict[tuple[str, int], int]:
        """Every stored resume point of a projection, by (feed, partition)."""
        async with self.reader(self._book) as tx:
            rows = await tx.fetch(
                "SELECT feed, part, next_offset FROM {bvb_checkpoints} WHERE projection = $1",
                projection,
            )
        return {(feed, part): offset for feed, part, offset in rows}

    # ------------------------------------------------------------------ parked streams

    async def park(
        self, tx: ReadModelTx, key: str, source: str, stream_id: str, version: int, reason: str
    ) -> None:
        await tx.execute(
            "INSERT INTO {bvb_parked} (projection, source, stream_id, version, reason) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            key,
            source,
            stream_id,
            version,
            reason,
        )

    async def parked(self, projection: str) -> list[ParkedStream]:
        async with self.reader(self._book) as tx:
            rows = await tx.fetch(
                "SELECT source, stream_id, version, reason FROM {bvb_parked} "
                "WHERE projection = $1 ORDER BY source, stream_id",
                projection,
            )
        return [ParkedStream(*row) for row in rows]

    async def unpark(self, projection: str, source: str, stream_id: str) -> None:
        """Let a stream's events be applied again, after its parked events were dealt with.
        A running feed notices on its next assignment or restart."""
        async with self.transaction(self._book) as tx:
            await tx.execute(
                "DELETE FROM {bvb_parked} WHERE projection = $1 AND source = $2 AND stream_id = $3",
                projection,
                source,
                stream_id,
            )

    # ------------------------------------------------------------------ read-your-writes

    async def position(self, projection: str, source: str) -> int:
        """How far the projection has handled a source's store positions: the lowest of its
        partitions that carried events (exact on the embedded path and on one partition)."""
        async with self.reader(self._book) as tx:
            value = await tx.fetchval(
                "SELECT MIN(position) FROM {bvb_checkpoints} "
                "WHERE projection = $1 AND source = $2 AND position > 0",
                projection,
                source,
            )
        return int(value or 0)

    async def watermarks(self, projection: str) -> dict[str, int]:
        """`position` for every source the projection has handled events of, by source in
        order: what an API reports as "how far" with one query."""
        async with self.reader(self._book) as tx:
            rows = await tx.fetch(WATERMARKS, projection)
        return {source: int(position) for source, position in sorted(rows)}

    async def stream_position(
        self, projection: Projection | str, source: str, stream_id: str
    ) -> int:
        """The store position of the last event of a source's stream applied (0 when none)."""
        name = projection if isinstance(projection, str) else projection.name
        renderer = SqlRenderer(self.dialect, {APPLIED: applied_table(name)})
        async with self.reader(renderer) as tx:
            try:
                value = await tx.fetchval(
                    "SELECT position FROM {bvb_applied} WHERE source = $1 AND stream_id = $2",
                    source,
                    stream_id,
                )
            except Exception as error:
                if not self.is_missing_table(error):
                    raise
                return 0  # the projection's feed has not started yet
        return int(value or 0)

    async def wait_until(
        self,
        projection: str,
        source: str,
        position: int,
        timeout: float,
        *,
        stream_id: str | None = None,
    ) -> int:
        """Return once the projection has handled `source` up to `position` (a commit's
        read-your-writes token), or raise `NotApplied` after `timeout` seconds.

        With `stream_id` (the stream the command wrote) the check is exact on every feed: the
        stream's own applied position. Without it, the source's watermark (see `position`).

        The wait is held by the projection's `Waiter`, which looks at every pending wait of the
        projection with one query per kind on each wake-up, rather than once per waiter; a wait
        still pending when the read model closes raises `NotApplied`."""
        await self._prepare_wakeups()
        if self._closed or timeout <= 0:
            return await self._look_once(projection, source, position, stream_id)
        waiter = self._waiters.get(projection)
        if waiter is None:
            waiter = self._waiters[projection] = Waiter(self, projection)
        return await waiter.wait(source, position, timeout, stream_id)

    def pending_waits(self, projection: str) -> int:
        """How many `wait_until`s of a projection are waiting now."""
        waiter = self._waiters.get(projection)
        return 0 if waiter is None else waiter.pending()

    async def _look_once(
        self, projection: str, source: str, position: int, stream_id: str | None
    ) -> int:
        reached = await self._reached(projection, source, stream_id)
        if reached >= position:
            return reached
        raise NotApplied(projection, source, position, reached)

    async def _reached(self, projection: str, source: str, stream_id: str | None) -> int:
        if stream_id is None:
            return await self.position(projection, source)
        return await self.stream_position(projection, source, stream_id)

    async def _close_waiters(self) -> None:
        """Stop the waiters' checkers; waits still pending raise `NotApplied`. Adapters call this
        first in `close`, before their connections go."""
        self._closed = True
        waiters, self._waiters = list(self._waiters.values()), {}
        for waiter in waiters:
            await waiter.close()

    def announce(
        self, projection: str | None = None, changed: Collection[str] | None = None
    ) -> None:
        """Something committed (in this process, or in another one that told us): wake the
        waiters, and the watches of the keys `changed` of `projection` (None: of every key; of
        every projection)."""
        moved, self._changed = self._changed, asyncio.Event()
        moved.set()
        for waiter in self._waiters.values():
            waiter.wake()
        self.signals.publish(projection, changed)

    @asynccontextmanager
    async def watch(self, projection: str, key: str) -> AsyncIterator[Watch]:
        """Wait for commits that change `key` of `projection` (what its transactions named with
        `ReadModelTx.changed`), in this process and — where `hears_other_processes` — in others:
        `await watch.wait(timeout)`."""
        await self._prepare_wakeups()
        with self.signals.watch(projection, key) as watch:
            yield watch

    # ------------------------------------------------------------------ dead letters (embedded)

    async def record_dead_letter(
        self,
        tx: ReadModelTx,
        key: str,
        feed: str,
        part: int,
        offset: int,
        values: Sequence[object],
        kind: str,
        reason: str,
    ) -> None:
        await tx.execute(
            "INSERT INTO {bvb_dead_letters} (projection, feed, part, feed_offset, stream_id, "
            "version, position, event_id, type, data, metadata, recorded_at, kind, reason) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            key,
            feed,
            part,
            offset,
            *values,
            kind,
            reason,
        )

    async def dead_letters(self, projection: str) -> list[tuple[str, int, str, str]]:
        """The embedded path's dead letters: (stream id, version, kind, reason), oldest first."""
        async with self.reader(self._book) as tx:
            rows = await tx.fetch(
                "SELECT stream_id, version, kind, reason FROM {bvb_dead_letters} "
                "WHERE projection = $1 ORDER BY feed, part, feed_offset",
                projection,
            )
        return [(row[0], row[1], row[2], row[3]) for row in rows]

    # ------------------------------------------------------------------ rebuild

    async def prepare_shadow(self, projection: Projection) -> Layout:
        """Empty shadow tables and bookkeeping for a rebuild, ready to be replayed into."""
        shadow = layout_of(projection, self.dialect, shadow=True)
        async with self.transaction(self._book) as tx:
            await self._lock_schema(tx)
            for physical in shadow.tables.values():
                await tx.execute(f"DROP TABLE IF EXISTS {physical}")
            await self._delete_bookkeeping(tx, shadow.key)
        return await self.install(projection, shadow=True)

    async def _delete_bookkeeping(self, tx: ReadModelTx, key: str) -> None:
        for statement in (
            "DELETE FROM {bvb_checkpoints} WHERE projection = $1",
            "DELETE FROM {bvb_parked} WHERE projection = $1",
            "DELETE FROM {bvb_dead_letters} WHERE projection = $1",
        ):
            await tx.execute(statement, key)

    async def switch(self, projection: Projection) -> bool:
        """Make the shadow tables live in one transaction, if the shadow has caught up with every
        live checkpoint; readers see the old tables or the new ones, never neither.

        A feed still writing the live tables finds its checkpoint moved at its next commit and
        resumes from the shadow's checkpoints (`Moved`), so nothing is lost or applied twice."""
        live = layout_of(projection, self.dialect)
        shadow = layout_of(projection, self.dialect, shadow=True)
        async with self.transaction(self._book) as tx:
            await self._lock_schema(tx)
            await self._lock_applied_for_switch(tx, live.applied)
            live_rows = await tx.fetch(
                "SELECT feed, part, next_offset FROM {bvb_checkpoints} "
                "WHERE projection = $1{bvb_lock}",
                live.key,
            )
            shadow_rows = await tx.fetch(
                "SELECT feed, part, next_offset FROM {bvb_checkpoints} WHERE projection = $1",
                shadow.key,
            )
            reached = {(feed, part): offset for feed, part, offset in shadow_rows}
            if any(reached.get((feed, part), -1) < offset for feed, part, offset in live_rows):
                return False
            for table in projection.tables:
                old, new = shadow.tables[table.name], live.tables[table.name]
                await tx.execute(f"DROP TABLE IF EXISTS {new}")
                await tx.execute(f"ALTER TABLE {old} RENAME TO {new}")
                for number, columns in enumerate(table.indexes):
                    await self._rename_index(
                        tx, index_name(old, number), index_name(new, number), new, columns
                    )
            await tx.execute(f"DROP TABLE IF EXISTS {live.applied}")
            await tx.execute(f"ALTER TABLE {shadow.applied} RENAME TO {live.applied}")
            await self._delete_bookkeeping(tx, live.key)
            for statement in (
                "UPDATE {bvb_checkpoints} SET projection = $1 WHERE projection = $2",
                "UPDATE {bvb_parked} SET projection = $1 WHERE projection = $2",
                "UPDATE {bvb_dead_letters} SET projection = $1 WHERE projection = $2",
            ):
                await tx.execute(statement, live.key, shadow.key)
            await self.announce_in(tx, live.key)
        self.announce(live.key)  # other tables: every key may have changed
        return True
