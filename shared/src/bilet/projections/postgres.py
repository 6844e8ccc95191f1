"""PostgreSQL read models: production, through asyncpg.

A read model lives in one schema (the pool's `search_path`), its projections' tables beside the
runtime's bookkeeping. Writes inside a transaction are held back and sent as pipelined
`executemany` batches when something needs their effect (a read, the commit): a projection that
upserts one row per event then costs one round trip per batch, not per event, and a single-row
INSERT held for many rows goes as a few statements over arrays, not one per row (ADR 0089,
`readmodel.multirow`). Commits NOTIFY
`bvb_projections_<schema>` with the keys they changed, so `wait_until` and the watches
(`ReadModel.watch`) of other processes wake at once; each process listens on one connection.
"""

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final

import asyncpg

from bilet.pgschema import (
    SchemaNotMigrated,
    check_schema_name,
    created_by,
    keep_session_state,
    missing_relations,
    schema_mode,
)
from bilet.pgschema import drop_schema as drop_schema  # re-exported: callers drop what they opened
from bilet.projections.port import ReadModelTx, Row, SqlRenderer
from bilet.projections.readmodel import Checkpoint, Layout, ReadModel
from bilet.projections.readmodel.changes import notify_payloads, read_payload
from bilet.projections.readmodel.multirow import (
    MultiRowShape,
    columns,
    multirow_shape,
    rounds,
    unnest_statement,
)

_log = logging.getLogger(__name__)

_TRANSIENT: Final = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, statement timeout
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.LockNotAvailableError,
)


# How far back a write looks for a batch of its statement to join (`_regrouped`).
_REGROUP_DEPTH: Final = 64
_PLACEHOLDER: Final = re.compile(r"(?<!\{)\{([a-z][a-z0-9_]*)\}")
# The tables each statement names, by its rendered text (None: it names none by placeholder, so
# it may touch anything).
_TABLES: dict[str, frozenset[str] | None] = {}


def _tables_of(sql: str, text: str) -> frozenset[str] | None:
    if text not in _TABLES:
        _TABLES[text] = frozenset(_PLACEHOLDER.findall(sql)) or None
    return _TABLES[text]


# What would make rows sent in rounds end otherwise than row by row (ADR 0089): a unique index
# besides the conflict key's (rounds reorder the rows of different keys), a foreign key or an
# exclusion constraint (checked at the end of a statement, not per row), a trigger of ours.
_TABLE_ALLOWS_ROUNDS: Final = """
SELECT (SELECT count(*) FROM pg_index WHERE indrelid = c.oid AND indisunique) <= 1
   AND NOT EXISTS (SELECT FROM pg_constraint
                   WHERE (conrelid = c.oid OR confrelid = c.oid) AND contype IN ('f', 'x'))
   AND NOT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = c.oid AND NOT tgisinternal)
FROM pg_class c WHERE c.oid = to_regclass($1)
"""


class _MultiRowForms:
    """Each statement's many-rows form (`unnest_statement`), or None, found once per read model:
    its parameters' types are PostgreSQL's for the single-row statement, asked by preparing it,
    and its table must allow rounds (`_TABLE_ALLOWS_ROUNDS`): two round trips per statement
    text, the first time it is held for many rows."""

    def __init__(self) -> None:
        self._forms: dict[str, tuple[str, MultiRowShape] | None] = {}

    async def of(
        self, connection: asyncpg.Connection, text: str
    ) -> tuple[str, MultiRowShape] | None:
        if text in self._forms:
            return self._forms[text]
        form = None
        if (shape := multirow_shape(text)) is not None and await connection.fetchval(
            _TABLE_ALLOWS_ROUNDS, shape.table
        ):
            parameters = (await connection.prepare(text)).get_parameters()
            types = [
                (parameter.schema, parameter.name) if parameter.kind == "scalar" else ("", "")
                for parameter in parameters
            ]
            if (statement := unnest_statement(shape, types)) is not None:
                form = (statement, shape)
        self._forms[text] = form
        return form


class _PostgresTx(ReadModelTx):
    dialect = "postgresql"

    def __init__(
        self,
        connection: asyncpg.Connection,
        renderer: SqlRenderer,
        multirow: _MultiRowForms | None = None,
    ) -> None:
        super().__init__(renderer)
        self._connection = connection
        self._multirow = multirow
        self._pending: list[tuple[str, list[Sequence[Any]]]] = []

    async def execute(self, sql: str, *args: Any) -> None:
        text = self.sql(sql)
        # A cheap test first: this runs for every statement (the runtime's DDL is upper-case).
        if text.startswith("CREATE") and schema_mode() == "verify":
            # The runtime's and projections' tables, made by `bvb migrate` (ADR 0057).
            if missing := await missing_relations(self._connection, created_by(text)):
                raise SchemaNotMigrated(missing)
            return
        if self._pending and self._pending[-1][0] == text:
            self._pending[-1][1].append(args)
        elif not (self.regroup_writes and self._regrouped(sql, text, args)):
            self._pending.append((text, [args]))

    def _regrouped(self, sql: str, text: str, args: Sequence[Any]) -> bool:
        """Add the write to an earlier batch of the same statement if every write held after
        that batch touches none of its tables (`ReadModelTx.regroup_writes`)."""
        tables = _tables_of(sql, text)
        if tables is None:
            return False
        for earlier in range(
            len(self._pending) - 1, max(-1, len(self._pending) - _REGROUP_DEPTH), -1
        ):
            held, rows = self._pending[earlier]
            if held == text:
                rows.append(args)
                return True
            if (touched := _TABLES.get(held)) is None or touched & tables:
                return False
        return False

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        text = self.sql(sql)
        if self.regroup_writes:
            _tables_of(sql, text)  # known to later writes that look past it
        if self._pending and self._pending[-1][0] == text:
            self._pending[-1][1].extend(rows)
        else:
            self._pending.append((text, list(rows)))

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        await self.flush()
        return [tuple(record) for record in await self._connection.fetch(self.sql(sql), *args)]

    async def flush(self) -> None:
        pending, self._pending = self._pending, []
        for text, rows in pending:
            if len(rows) == 1:
                await self._connection.execute(text, *rows[0])
            elif rows:
                await self._send_many(text, rows)

    async def _send_many(self, text: str, rows: list[Sequence[Any]]) -> None:
        """Many rows of one statement: in rounds over arrays when its form allows it and that
        saves statements (at most one round per two rows), else a statement per row, pipelined.
        Either way in one round trip, and an error surfaces here."""
        form = None if self._multirow is None else await self._multirow.of(self._connection, text)
        if form is not None and any(len(row) != form[1].parameters for row in rows):
            form = None  # a wrong count of arguments fails as it does row by row
        grouped = None if form is None else rounds(rows, form[1].key)
        if form is None or grouped is None or 2 * len(grouped) > len(rows):
            await self._connection.executemany(text, rows)
            return
        statement, shape = form
        if len(grouped) == 1:
            await self._connection.execute(statement, *columns(grouped[0], shape.parameters))
        else:
            await self._connection.executemany(
                statement, [columns(round_rows, shape.parameters) for round_rows in grouped]
            )


class PostgresReadModel(ReadModel):
    dialect = "postgresql"
    hears_other_processes = True
    # Whether a single-row INSERT held for many rows is sent in rounds over arrays (ADR 0089);
    # off, a statement per row as before (the bench's A/B).
    multirow_writes: bool = True

    def __init__(self, pool: asyncpg.Pool, dsn: str, schema: str) -> None:
        super().__init__()
        self._pool = pool
        self._dsn = dsn
        self.schema = schema
        self.channel = f"bvb_projections_{schema}"
        self._listener: asyncpg.Connection | None = None
        self._listener_lock = asyncio.Lock()
        self._multirow = _MultiRowForms()

    @classmethod
    async def open(
        cls, dsn: str, *, schema: str = "readmodel", pool_size: int = 10
    ) -> "PostgresReadModel":
        check_schema_name(schema)
        connection = await asyncpg.connect(dsn)
        try:
            if schema_mode() == "verify":  # made by `bvb migrate` (ADR 0057)
                if missing := await missing_relations(connection, [("schema", schema)]):
                    raise SchemaNotMigrated(missing)
            else:
                await connection.execute(
                    "SELECT pg_advisory_lock(hashtext('bvb_projections'));"
                    f"CREATE SCHEMA IF NOT EXISTS {schema};"
                    "SELECT pg_advisory_unlock(hashtext('bvb_projections'))"
                )
        finally:
            await connection.close()
        pool = await asyncpg.create_pool(
            dsn,
            min_size=1,
            max_size=pool_size,
            server_settings={
                "search_path": schema,
                "synchronous_commit": "off",
                # Which read model a backend serves, in pg_stat_activity (the bench reads the
                # backends' CPU by it); PostgreSQL cuts it at 63 bytes.
                "application_name": f"bilet.readmodel.{schema}",
            },
            reset=keep_session_state,
        )
        store = cls(pool, dsn, schema)
        await store._install_bookkeeping()
        return store

    @asynccontextmanager
    async def transaction(self, renderer: SqlRenderer) -> AsyncIterator[ReadModelTx]:
        async with self._pool.acquire() as connection, connection.transaction():
            tx = _PostgresTx(connection, renderer, self._multirow if self.multirow_writes else None)
            yield tx
            await tx.settle()
            await tx.flush()

    @asynccontextmanager
    async def reader(self, renderer: SqlRenderer) -> AsyncIterator[ReadModelTx]:
        async with self._pool.acquire() as connection:
            yield _PostgresTx(connection, renderer)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection of the read model's pool (its schema first on the `search_path`), for
        bulk work no `ReadModelTx` expresses: a folded rebuild's COPY (ADR 0076)."""
        async with self._pool.acquire() as connection:
            try:
                yield connection
            except BaseException:
                # Whatever the body left, the connection is not given back with it; the body's
                # error is the one raised (a reset failing after it would have hidden it).
                connection.terminate()
                raise
            if not connection.is_closed():
                try:
                    await connection.reset()  # what the pool no longer does (`keep_session_state`)
                except BaseException:
                    connection.terminate()  # not given back with its session state
                    raise

    def is_transient(self, error: BaseException) -> bool:
        return isinstance(error, _TRANSIENT)

    async def _lock_schema(self, tx: ReadModelTx) -> None:
        await tx.fetch(
            "SELECT pg_advisory_xact_lock(hashtext('bvb_projections:' || $1))", self.schema
        )

    async def _lock_applied_for_switch(self, tx: ReadModelTx, applied: str) -> None:
        """A live batch's first statement reads the live applied table while it locks its
        checkpoint (one statement); a switch that locked the checkpoints first and then waited
        to drop that table deadlocked with it (CI). Taking the table first, the switch waits for
        batches under way to end, and a batch that starts meanwhile waits holding nothing."""
        if await tx.fetchval("SELECT to_regclass($1) IS NOT NULL", applied):
            await tx.execute(f"LOCK TABLE {applied} IN ACCESS EXCLUSIVE MODE")

    async def _existing_indexes(self, tx: ReadModelTx, names: Collection[str]) -> set[str]:
        """`CREATE INDEX IF NOT EXISTS` takes a SHARE lock on its table before it looks for the
        index, held to the end of the installing transaction: a feed installing its projection
        while another feed of the same projection writes a batch over two of its tables could
        deadlock with that batch (a recommender worker's start, CI). Indexes found here are not
        created again; a name PostgreSQL cut (63 bytes) is not found, and created as before."""
        rows = await tx.fetch(
            "SELECT relname FROM pg_class WHERE relkind = 'i' "
            "AND relnamespace = $1::regnamespace AND relname = ANY($2::text[])",
            self.schema,
            list(names),
        )
        return {row[0] for row in rows}

    def is_missing_table(self, error: BaseException) -> bool:
        return isinstance(error, asyncpg.exceptions.UndefinedTableError)

    async def load_versions(
        self, tx: ReadModelTx, layout: Layout, source: str, stream_ids: Collection[str]
    ) -> dict[str, int]:
        rows = await tx.fetch(
            "SELECT stream_id, version FROM {bvb_applied} "
            "WHERE source = $1 AND stream_id = ANY($2::text[])",
            source,
            list(stream_ids),
        )
        return dict(rows)

    async def save_versions(
        self, tx: ReadModelTx, layout: Layout, source: str, rows: Sequence[tuple[str, int, int]]
    ) -> None:
        if not rows:
            return
        stream_ids, versions, positions = zip(*rows, strict=True)
        await tx.execute(
            "INSERT INTO {bvb_applied} (source, stream_id, version, position) "
            "SELECT $1, * FROM unnest($2::text[], $3::bigint[], $4::bigint[]) "
            "ON CONFLICT (source, stream_id) DO UPDATE "
            "SET version = excluded.version, position = excluded.position",
            source,
            list(stream_ids),
            list(versions),
            list(positions),
        )

    async def lock_batch(
        self,
        tx: ReadModelTx,
        layout: Layout,
        key: str,
        feed: str,
        part: int,
        stream_ids: Collection[str],
    ) -> tuple[Checkpoint | None, dict[str, int]]:
        # One round trip for both (ADR 0067). Only a batch of the same partition (a zombie)
        # holds the lock we may wait for: it always moves the checkpoint on or changes nothing,
        # so versions read before the wait are never used stale.
        rows = await tx.fetch(
            "SELECT c.next_offset, c.position, c.source, a.stream_id, a.version "
            "FROM {bvb_checkpoints} c LEFT JOIN {bvb_applied} a "
            "ON a.source = c.source AND a.stream_id = ANY($4::text[]) "
            "WHERE c.projection = $1 AND c.feed = $2 AND c.part = $3 FOR UPDATE OF c",
            key,
            feed,
            part,
            list(stream_ids),
        )
        if not rows:
            return None, {}
        first = rows[0]
        versions = {row[3]: row[4] for row in rows if row[3] is not None}
        return Checkpoint(first[0], first[1], first[2]), versions

    async def record_batch(
        self,
        tx: ReadModelTx,
        layout: Layout,
        key: str,
        feed: str,
        part: int,
        source: str,
        applied: Sequence[tuple[str, int, int]],
        checkpoint: Checkpoint,
        changed: Collection[str],
    ) -> None:
        # The applied versions, the checkpoint and the NOTIFYs in one statement (ADR 0067).
        stream_ids, versions, positions = (
            (list(column) for column in zip(*applied, strict=True)) if applied else ([], [], [])
        )
        await tx.execute(
            "WITH applied AS (INSERT INTO {bvb_applied} (source, stream_id, version, position) "
            "SELECT $4, * FROM unnest($5::text[], $6::bigint[], $7::bigint[]) "
            "ON CONFLICT (source, stream_id) DO UPDATE "
            "SET version = excluded.version, position = excluded.position), "
            "checkpoint AS (UPDATE {bvb_checkpoints} SET next_offset = $8, position = $9 "
            "WHERE projection = $1 AND feed = $2 AND part = $3) "
            "SELECT pg_notify($10, payload) FROM unnest($11::text[]) AS payload",
            key,
            feed,
            part,
            source,
            stream_ids,
            versions,
            positions,
            checkpoint.next_offset,
            checkpoint.position,
            self.channel,
            notify_payloads(key, changed),
        )

    async def _rename_index(
        self, tx: ReadModelTx, old: str, new: str, table: str, columns: str
    ) -> None:
        await tx.execute(f"ALTER INDEX IF EXISTS {old} RENAME TO {new}")

    async def announce_in(
        self, tx: ReadModelTx, key: str, changed: Collection[str] | None = None
    ) -> None:
        for payload in notify_payloads(key, changed):
            await tx.execute("SELECT pg_notify($1, $2)", self.channel, payload)

    async def _prepare_wakeups(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        async with self._listener_lock:
            if self._listener is not None and not self._listener.is_closed():
                return
            listener = await asyncpg.connect(self._dsn)
            await listener.add_listener(self.channel, self._on_notification)
            listener.add_termination_listener(self._on_listener_lost)
            self._listener = listener

    def _on_notification(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        projection, changed = read_payload(payload)
        self.announce(projection, changed)

    def _on_listener_lost(self, _connection: object) -> None:
        # Changes may be missed until a watch or a wait listens again: everyone looks now.
        if not self._closed:
            self.announce()

    async def close(self) -> None:
        await self._close_waiters()
        if self._listener is not None and not self._listener.is_closed():
            await self._listener.close()
        await self._pool.close()
