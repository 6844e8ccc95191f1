"""The read-model store: projection tables plus the runtime's bookkeeping, in one database.

Beside each projection's own tables the store keeps, in the same database and therefore in the
same transactions:
- `bvb_projection_checkpoints`: per projection and feed partition (a Kafka topic-partition, or an
  event store as partition 0), where to resume (`next_offset`: the next Kafka offset, or the last
  store position handled) and the highest store `position` handled there (read-your-writes);
- `bvb_applied_<projection>`: per (source, stream), the last version applied and its position
  (dedupe, gap detection, and the exact per-stream read-your-writes check);
- `bvb_projection_parked`: (source, stream)s stopped at an event that could not be applied;
- `bvb_projection_dead_letters`: the embedded path's dead letters (Kafka has `<topic>.dlq`).

Adapters: `SqliteReadModel` (embedded) and `PostgresReadModel` (production).
"""

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Final

from bilet.projections.port import (
    RESERVED_PREFIX,
    SHADOW_SUFFIX,
    Dialect,
    Projection,
    ReadModelTx,
    SqlRenderer,
    Table,
    check_projection,
)

CHECKPOINTS: Final = "bvb_projection_checkpoints"
PARKED: Final = "bvb_projection_parked"
DEAD_LETTERS: Final = "bvb_projection_dead_letters"
APPLIED: Final = "bvb_applied"  # the placeholder runtime SQL uses for a projection's applied table


def book(dialect: Dialect) -> dict[str, str]:
    """Placeholders every renderer of the runtime fills in (`{bvb_checkpoints}`, …)."""
    return {
        "bvb_checkpoints": CHECKPOINTS,
        "bvb_parked": PARKED,
        "bvb_dead_letters": DEAD_LETTERS,
        "bvb_lock": " FOR UPDATE" if dialect == "postgresql" else "",
    }


BOOKKEEPING: Final = (
    f"""CREATE TABLE IF NOT EXISTS {CHECKPOINTS} (
    projection  TEXT    NOT NULL,
    feed        TEXT    NOT NULL,
    part        INTEGER NOT NULL,
    source      TEXT    NOT NULL,
    next_offset BIGINT  NOT NULL,
    position    BIGINT  NOT NULL,
    PRIMARY KEY (projection, feed, part)
)""",
    f"""CREATE TABLE IF NOT EXISTS {PARKED} (
    projection TEXT   NOT NULL,
    source     TEXT   NOT NULL,
    stream_id  TEXT   NOT NULL,
    version    BIGINT NOT NULL,
    reason     TEXT   NOT NULL,
    PRIMARY KEY (projection, source, stream_id)
)""",
    f"""CREATE TABLE IF NOT EXISTS {DEAD_LETTERS} (
    projection  TEXT    NOT NULL,
    feed        TEXT    NOT NULL,
    part        INTEGER NOT NULL,
    feed_offset BIGINT  NOT NULL,
    stream_id   TEXT,
    version     BIGINT,
    position    BIGINT,
    event_id    TEXT,
    type        TEXT,
    data        BYTEA,
    metadata    BYTEA,
    recorded_at TEXT,
    kind        TEXT    NOT NULL,
    reason      TEXT    NOT NULL
)""",
)
# Stream ids are unique within a source (a service's store), not across sources.
APPLIED_COLUMNS: Final = (
    "source TEXT NOT NULL, stream_id TEXT NOT NULL, version BIGINT NOT NULL, "
    "position BIGINT NOT NULL, PRIMARY KEY (source, stream_id)"
)


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


@dataclass(frozen=True, slots=True)
class Checkpoint:
    next_offset: int
    position: int
    source: str = ""


@dataclass(frozen=True, slots=True)
class ParkedStream:
    source: str
    stream_id: str
    version: int
    reason: str


@dataclass(frozen=True)
class Layout:
    """Where one projection lives: its live tables, or their shadows during a rebuild."""

    projection: Projection
    shadow: bool
    key: str  # the projection's name in the bookkeeping tables
    tables: dict[str, str]  # logical name → physical name, the applied table included
    renderer: SqlRenderer

    @property
    def applied(self) -> str:
        return self.tables[APPLIED]


def layout_of(projection: Projection, dialect: Dialect, *, shadow: bool = False) -> Layout:
    check_projection(projection)
    suffix = SHADOW_SUFFIX if shadow else ""
    tables = {table.name: table.name + suffix for table in projection.tables}
    tables[APPLIED] = applied_table(projection.name) + suffix
    return Layout(
        projection=projection,
        shadow=shadow,
        key=projection.name + suffix,
        tables=tables,
        renderer=SqlRenderer(dialect, {**book(dialect), **tables}),
    )


def applied_table(projection: str) -> str:
    return f"{RESERVED_PREFIX}applied_{projection}"


def index_name(table: str, number: int) -> str:
    return f"ix_{table}_{number}"


class ReadModel(ABC):
    """A read-model database: transactions for projections, bookkeeping for the runtime, and the
    read-your-writes questions an API asks ("how far", "wait until")."""

    dialect: Dialect
    # How often `wait_until` looks again when no wake-up arrives (another process's commits).
    poll_interval: float = 0.1

    def __init__(self) -> None:
        # Set by every commit here; the checker wakes through `_Waiter.wake`, the benchmark's
        # per-waiter peer (benchmarks/bench_projections.py) through this.
        self._changed = asyncio.Event()
        self._waiters: dict[str, _Waiter] = {}  # by projection, started by the first wait
        self._closed = False
        self._book = SqlRenderer(self.dialect, book(self.dialect))  # the runtime's statements
        self._ddl = SqlRenderer(self.dialect, {}, placeholders=False)
        # One renderer per projection's live layout, so API queries hit its statement cache.
        self._query_renderers: dict[tuple[str, tuple[str, ...]], SqlRenderer] = {}

    # ------------------------------------------------------------------ adapter hooks

    @abstractmethod
    def transaction(self, renderer: SqlRenderer) -> AbstractAsyncContextManager[ReadModelTx]:
        """A write transaction: commits when the block ends, rolls back when it raises."""

    @abstractmethod
    def reader(self, renderer: SqlRenderer) -> AbstractAsyncContextManager[ReadModelTx]:
        """A connection for queries that never waits for writers."""

    @abstractmethod
    def is_transient(self, error: BaseException) -> bool:
        """Whether an error is the database's (connection lost, lock timeout) rather than the
        projection's: transient errors are retried, never dead-lettered."""

    @abstractmethod
    def is_missing_table(self, error: BaseException) -> bool: ...

    @abstractmethod
    async def load_versions(
        self, tx: ReadModelTx, layout: Layout, source: str, stream_ids: Collection[str]
    ) -> dict[str, int]: ...

    @abstractmethod
    async def save_versions(
        self, tx: ReadModelTx, layout: Layout, source: str, rows: Sequence[tuple[str, int, int]]
    ) -> None:
        """Store (stream id, version, position) rows of one source."""

    @abstractmethod
    async def _rename_index(
        self, tx: ReadModelTx, old: str, new: str, table: str, columns: str
    ) -> None: ...

    async def announce_in(self, tx: ReadModelTx, key: str) -> None:  # noqa: B027 - optional
        """Tell other processes, at commit, that `key` moved on (PostgreSQL: NOTIFY)."""

    async def _prepare_wakeups(self) -> None:  # noqa: B027 - optional
        """Start listening to other processes' announcements before the first look."""

    @abstractmethod
    async def close(self) -> None: ...

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
            for table in projection.tables:
                await self._create_table(tx, table, layout.tables[table.name])
            await tx.execute(f"CREATE TABLE IF NOT EXISTS {layout.applied} ({APPLIED_COLUMNS})")
        return layout

    async def _lock_schema(self, tx: ReadModelTx) -> None:  # noqa: B027 - optional
        """Serialise DDL between processes that start at once (PostgreSQL)."""

    async def _create_table(self, tx: ReadModelTx, table: Table, physical: str) -> None:
        await tx.execute(f"CREATE TABLE IF NOT EXISTS {physical} ({table.columns})")
        for number, columns in enumerate(table.indexes):
            await tx.execute(
                f"CREATE INDEX IF NOT EXISTS {index_name(physical, number)} "
                f"ON {physical} ({columns})"
            )

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

    async def lock_checkpoint(
        self, tx: ReadModelTx, key: str, feed: str, part: int
    ) -> Checkpoint | None:
        row = await tx.fetchrow(
            "SELECT next_offset, position, source FROM {bvb_checkpoints} "
            "WHERE projection = $1 AND feed = $2 AND part = $3{bvb_lock}",
            key,
            feed,
            part,
        )
        return None if row is None else Checkpoint(row[0], row[1], row[2])

    async def save_checkpoint(
        self, tx: ReadModelTx, key: str, feed: str, part: int, checkpoint: Checkpoint
    ) -> None:
        await tx.execute(
            "UPDATE {bvb_checkpoints} SET next_offset = $4, position = $5 "
            "WHERE projection = $1 AND feed = $2 AND part = $3",
            key,
            feed,
            part,
            checkpoint.next_offset,
            checkpoint.position,
        )

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

        The wait is held by the projection's `_Waiter`, which looks at every pending wait of the
        projection with one query per kind on each wake-up, rather than once per waiter; a wait
        still pending when the read model closes raises `NotApplied`."""
        await self._prepare_wakeups()
        if self._closed or timeout <= 0:
            return await self._look_once(projection, source, position, stream_id)
        waiter = self._waiters.get(projection)
        if waiter is None:
            waiter = self._waiters[projection] = _Waiter(self, projection)
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

    def announce(self) -> None:
        """Something committed in this process: wake the waiters."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        for waiter in self._waiters.values():
            waiter.wake()

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
        self.announce()
        return True


# ---------------------------------------------------------------------- the waiters' checker

# Pending stream ids are asked for per source (the applied table's key is (source, stream id)) in
# IN-lists of these sizes, padded by repeating the last id, so the same few statements are
# prepared and cached on both databases; more ids of one source take several.
IN_LIST_SIZES: Final = (1, 4, 16, 64, 256)


def _stream_positions_sql(size: int) -> str:
    markers = ", ".join(f"${number}" for number in range(2, size + 2))  # parameters only
    select = "SELECT stream_id, position FROM {bvb_applied} WHERE source = $1 AND stream_id IN ("
    return select + markers + ")"


_STREAM_POSITIONS: Final = {size: _stream_positions_sql(size) for size in IN_LIST_SIZES}
_WATERMARKS: Final = (
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


class _Waiter:
    """One projection's pending `wait_until`s, and the task that checks them: on each wake-up
    (a commit announced in this process or, on PostgreSQL, by NOTIFY; a new wait) or poll tick,
    one query over the applied versions for the pending stream waits of each source (up to 256
    streams a query) and one over the checkpoints for every pending watermark wait, then the
    waits whose targets are reached are released. The cost of a wake-up no longer grows with the
    number of waiters.

    Each wait keeps its own timeout; at its end the wait looks once more itself, as the old
    per-waiter loop did, so `NotApplied` carries the position reached at the deadline."""

    def __init__(self, read_model: ReadModel, projection: str) -> None:
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
                rows = await tx.fetch(_WATERMARKS, self._projection)
                watermarks = {row[0]: int(row[1]) for row in rows}
        return applied, watermarks
