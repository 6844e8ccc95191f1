"""PostgreSQL event store: production. Gap-safe global order without a table lock.

Positions are assigned in transaction-id order, not in sequence order: an event's position is
`(id of the transaction that wrote it << 20) + its ordinal within that transaction`. A reader only
returns events below the *horizon*, `pg_snapshot_xmin(pg_current_snapshot()) << 20`: every
transaction with an id below the snapshot's xmin has finished, so no event can ever appear later
at a position below the horizon. Writers to different streams therefore commit in parallel (they
lock only their own stream rows) while readers still never skip an event nor see one twice.
The trade-off (see docs/adr/0003-event-store.md): any long-open transaction with a transaction id,
in any database of the cluster, holds the horizon back and delays delivery until it ends.

A purge (`purge_stream`, docs/adr/0016) deletes the stream's rows under its stream row's lock;
PostgreSQL keeps the deleted row versions in the table's pages until they are reused, and in the
WAL and backups until those are recycled (the ADR says what that means).

Every append is one call of the `append_events` SQL function (one round trip, as in Message DB).
Live subscriptions are woken at once in this process, by LISTEN/NOTIFY across processes (sent after
the commit, see `_announce_append`), and poll as a fallback.
"""

import asyncio
import itertools
import logging
from collections.abc import Collection, Sequence
from typing import Any, Final
from uuid import UUID

import asyncpg

from bilet.eventstore.errors import EventIdsConflict, WrongExpectedVersion
from bilet.eventstore.model import (
    START,
    AppendResult,
    ExpectedVersion,
    NewEvent,
    RecordedEvent,
    StreamAppend,
    StreamMetadata,
    StreamState,
)
from bilet.eventstore.port import EventStore
from bilet.eventstore.rules import (
    StoredId,
    append_resolving_retries,
    check_append,
    check_expected_version,
)
from bilet.pgschema import check_schema_name, keep_session_state, migrate_or_verify
from bilet.pgschema import drop_schema as drop_schema  # re-exported: callers drop what they opened

_log = logging.getLogger(__name__)

# Room for 2^20 - 1 events per transaction below the next transaction's positions.
ORDINAL_BITS: Final = 20
MAX_EVENTS_PER_APPEND: Final = (1 << ORDINAL_BITS) - 1

WRONG_EXPECTED_VERSION: Final = "BV001"
UNIQUE_VIOLATION: Final = "23505"
# Cross-process wake-ups are coalesced to at most one NOTIFY per this many seconds.
ANNOUNCEMENT_SPACING: Final = 0.002
TRANSIENT: Final = ("40P01", "40001")  # deadlock detected, serialization failure

_EXPECTATION_CODES: Final = {
    StreamState.ANY: -1,
    StreamState.NO_STREAM: -2,
    StreamState.STREAM_EXISTS: -3,
}


SCHEMA_SQL = """
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.streams (
    stream_id       text    PRIMARY KEY,
    version         bigint,
    truncate_before bigint  NOT NULL DEFAULT 0,
    deleted         boolean NOT NULL DEFAULT false
);
CREATE TABLE IF NOT EXISTS {s}.events (
    position    bigint      PRIMARY KEY,
    stream_id   text        NOT NULL,
    category    text        NOT NULL,
    version     bigint      NOT NULL,
    event_id    uuid        NOT NULL UNIQUE,
    type        text        NOT NULL,
    data        bytea       NOT NULL,
    metadata    bytea       NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (stream_id, version)
);
CREATE INDEX IF NOT EXISTS events_by_category ON {s}.events (category, position);
CREATE INDEX IF NOT EXISTS events_by_type ON {s}.events (type, position);

-- The horizon: no transaction that is still running, or will ever commit, can write below it.
CREATE OR REPLACE FUNCTION {s}.horizon() RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT (pg_snapshot_xmin(pg_current_snapshot())::text::bigint) << {bits}
$$;

-- Appends to one or more streams in one transaction. The caller passes the streams in lock order
-- (sorted, so that appends cannot deadlock) and, in p_offsets, where each stream's events start
-- in the caller's order, which is the order their positions take. Expected versions: -1 any,
-- -2 no stream, -3 stream exists, n >= 0 exactly n. Raises BV001 (wrong expected version; DETAIL
-- is the stream id, HINT its actual version or 'none'); a stored event id raises the unique
-- violation of events.event_id. The two common cases, a new stream and an exact version, take
-- one statement on the streams table; the others lock the row, then read and update it.
CREATE OR REPLACE FUNCTION {s}.append_events(
    p_streams text[], p_expected bigint[], p_counts int[], p_offsets int[],
    p_event_ids uuid[], p_types text[], p_data bytea[], p_metadata bytea[]
) RETURNS TABLE (stream_id text, version bigint, stream_position bigint)
LANGUAGE plpgsql AS $$
DECLARE
    base bigint := (pg_current_xact_id()::text::bigint) << {bits};
    done int;
    i int;
    n int;
    current_version bigint;
    is_deleted boolean;
    actual bigint;
    expected bigint;
    first_version bigint;
BEGIN
    FOR i IN 1 .. array_length(p_streams, 1) LOOP
        expected := p_expected[i];
        n := p_counts[i];
        done := p_offsets[i];
        first_version := NULL;
        IF expected = -2 THEN
            INSERT INTO {s}.streams (stream_id, version) VALUES (p_streams[i], n - 1)
                ON CONFLICT DO NOTHING;
            IF FOUND THEN
                first_version := 0;
            END IF;
        ELSIF expected >= 0 THEN
            UPDATE {s}.streams s SET version = expected + n
                WHERE s.stream_id = p_streams[i] AND s.version = expected AND NOT s.deleted;
            IF FOUND THEN
                first_version := expected + 1;
            END IF;
        END IF;
        IF first_version IS NULL THEN
            SELECT s.version, s.deleted INTO current_version, is_deleted
                FROM {s}.streams s WHERE s.stream_id = p_streams[i] FOR UPDATE;
            IF NOT FOUND THEN
                INSERT INTO {s}.streams (stream_id) VALUES (p_streams[i]) ON CONFLICT DO NOTHING;
                SELECT s.version, s.deleted INTO current_version, is_deleted
                    FROM {s}.streams s WHERE s.stream_id = p_streams[i] FOR UPDATE;
            END IF;
            actual := CASE WHEN is_deleted THEN NULL ELSE current_version END;
            IF (expected = -2 AND actual IS NOT NULL)
               OR (expected = -3 AND actual IS NULL)
               OR (expected >= 0 AND actual IS DISTINCT FROM expected) THEN
                RAISE EXCEPTION USING ERRCODE = '{wrong_version}',
                    MESSAGE = 'wrong expected version',
                    DETAIL = p_streams[i], HINT = COALESCE(actual::text, 'none');
            END IF;
            first_version := COALESCE(current_version, -1) + 1;
            UPDATE {s}.streams s SET version = first_version + n - 1, deleted = false
                WHERE s.stream_id = p_streams[i];
        END IF;
        INSERT INTO {s}.events
            (position, stream_id, category, version, event_id, type, data, metadata)
        SELECT base + done + k, p_streams[i], split_part(p_streams[i], '-', 1),
               first_version + k - 1, p_event_ids[done + k], p_types[done + k],
               p_data[done + k], p_metadata[done + k]
        FROM generate_series(1, n) AS k;
        stream_id := p_streams[i];
        version := first_version + n - 1;
        stream_position := base + done + n;
        RETURN NEXT;
    END LOOP;
END
$$;
"""

COLUMNS = "stream_id, version, position, event_id, type, data, metadata, recorded_at"


def _recorded(row: asyncpg.Record) -> RecordedEvent:
    return RecordedEvent(*row)


def _expectation_code(expected: ExpectedVersion) -> int:
    if isinstance(expected, StreamState):
        return _EXPECTATION_CODES[expected]
    if expected < 0:
        raise ValueError(f"an exact expected version is >= 0, not {expected}")
    return expected


def _may_be_a_retry(error: Exception) -> bool:
    return isinstance(error, WrongExpectedVersion | EventIdsConflict)


class PostgresEventStore(EventStore):
    def __init__(self, pool: asyncpg.Pool, dsn: str, schema: str) -> None:
        super().__init__()
        self._pool = pool
        self._dsn = dsn
        self.schema = schema
        self.channel = f"bvb_events_{schema}"
        self._listener: asyncpg.Connection | None = None
        self._announcer: asyncio.Task[None] | None = None
        self._announcer_connection: asyncpg.Connection | None = None
        self._announcement_due = False
        self._listener_lock = asyncio.Lock()

    @classmethod
    async def open(
        cls, dsn: str, *, schema: str = "eventstore", pool_size: int = 20
    ) -> "PostgresEventStore":
        check_schema_name(schema)
        pool = await asyncpg.create_pool(
            dsn, min_size=1, max_size=pool_size, reset=keep_session_state
        )
        store = cls(pool, dsn, schema)
        await store._migrate()
        return store

    @property
    def connection_url(self) -> str:
        """Where the store is (`bilet.migrate` makes the relay's positions beside it)."""
        return self._dsn

    async def _migrate(self) -> None:
        sql = SCHEMA_SQL.format(
            s=self.schema,
            bits=ORDINAL_BITS,
            channel=self.channel,
            wrong_version=WRONG_EXPECTED_VERSION,
        )
        async with self._pool.acquire() as connection, connection.transaction():
            # Several processes may start at once; one of them migrates at a time.
            await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self.schema)
            await migrate_or_verify(connection, sql)  # or only verify (BVB_SCHEMA, ADR 0057)

    # -------------------------------------------------------------- writing

    async def append_many(self, appends: Sequence[StreamAppend]) -> list[AppendResult]:
        check_append(appends)
        if sum(len(a.events) for a in appends) > MAX_EVENTS_PER_APPEND:
            raise ValueError(f"one append holds at most {MAX_EVENTS_PER_APPEND} events")
        return await append_resolving_retries(
            appends, self._attempt, self._find_stored, _may_be_a_retry
        )

    async def _attempt(self, appends: Sequence[StreamAppend]) -> list[AppendResult]:
        """One `append_events` call; PostgreSQL's refusals become the port's typed errors."""
        transient_failures = 0
        while True:
            try:
                return await self._call_append(appends)
            except asyncpg.PostgresError as error:
                if error.sqlstate in TRANSIENT and transient_failures < 3:
                    # The call is one transaction that rolled back whole; event ids make a re-run
                    # harmless. Deadlocks can still come from writers outside this adapter.
                    transient_failures += 1
                    continue
                if error.sqlstate == WRONG_EXPECTED_VERSION:
                    append = next(a for a in appends if a.stream_id == error.detail)
                    hint = str(error.hint)
                    actual = None if hint == "none" else int(hint)
                    raise WrongExpectedVersion(
                        append.stream_id, append.expected_version, actual
                    ) from None
                if error.sqlstate == UNIQUE_VIOLATION:
                    # A unique violation is a concurrent append of the same ids that committed
                    # first: (stream_id, version) cannot collide under the stream row lock.
                    raise EventIdsConflict("event ids of this append are already stored") from None
                raise

    async def _find_stored(self, appends: Sequence[StreamAppend]) -> list[list[StoredId | None]]:
        ids = [event.event_id for append in appends for event in append.events]
        rows = await self._pool.fetch(
            f"SELECT event_id, stream_id, version, position FROM {self.schema}.events "  # noqa: S608
            "WHERE event_id = ANY($1::uuid[])",
            ids,
        )
        stored: dict[UUID, StoredId] = {row[0]: StoredId(row[1], row[2], row[3]) for row in rows}
        return [[stored.get(event.event_id) for event in append.events] for append in appends]

    async def _call_append(self, appends: Sequence[StreamAppend]) -> list[AppendResult]:
        try:
            return await self._call_append_sorted(appends)
        finally:
            # Every ended append transaction, committed or rolled back, may move the horizon.
            self._announce_append()

    async def _call_append_sorted(self, appends: Sequence[StreamAppend]) -> list[AppendResult]:
        # Stream rows are locked in one global order (by stream id), so two appends to the same
        # streams named in different orders cannot deadlock.
        # Positions follow the caller's order of events, whatever the lock order.
        order = sorted(range(len(appends)), key=lambda i: appends[i].stream_id)
        offsets = list(itertools.accumulate((len(a.events) for a in appends), initial=0))
        events = [event for append in appends for event in append.events]
        results = await self._call_append_in_order(
            [appends[i] for i in order], [offsets[i] for i in order], events
        )
        in_call_order: list[AppendResult] = [results[0]] * len(appends)
        for position_in_order, index in enumerate(order):
            in_call_order[index] = results[position_in_order]
        return in_call_order

    async def _call_append_in_order(
        self, appends: Sequence[StreamAppend], offsets: Sequence[int], events: Sequence[NewEvent]
    ) -> list[AppendResult]:
        rows = await self._pool.fetch(
            f"SELECT * FROM {self.schema}.append_events($1, $2, $3, $4, $5, $6, $7, $8)",  # noqa: S608
            [a.stream_id for a in appends],
            [_expectation_code(a.expected_version) for a in appends],
            [len(a.events) for a in appends],
            offsets,
            [e.event_id for e in events],
            [e.type for e in events],
            [e.data for e in events],
            [e.metadata for e in events],
        )
        return [AppendResult(row[0], row[1], row[2]) for row in rows]

    async def set_stream_metadata(self, stream_id: str, metadata: StreamMetadata) -> None:
        await self._pool.execute(
            f"INSERT INTO {self.schema}.streams (stream_id, truncate_before, deleted) "  # noqa: S608
            "VALUES ($1, $2, $3) ON CONFLICT (stream_id) DO UPDATE SET "
            "truncate_before = excluded.truncate_before, deleted = excluded.deleted",
            stream_id,
            metadata.truncate_before,
            metadata.deleted,
        )

    async def delete_stream(self, stream_id: str) -> None:
        # One statement, so an append racing with the delete is either deleted with it or after.
        await self._pool.execute(
            f"INSERT INTO {self.schema}.streams AS s (stream_id, truncate_before, deleted) "  # noqa: S608
            "VALUES ($1, 0, true) ON CONFLICT (stream_id) DO UPDATE SET deleted = true, "
            "truncate_before = COALESCE(s.version + 1, s.truncate_before)",
            stream_id,
        )

    async def _purge(self, stream_id: str, expected_version: ExpectedVersion) -> bool:
        async with self._pool.acquire() as connection, connection.transaction():
            # The stream row's lock orders the purge with appends: one waiting for it finds no
            # row afterwards and starts the stream anew at version 0; the expectation is checked
            # under that lock, so an append that came first refuses the purge.
            row = await connection.fetchrow(
                f"SELECT version, deleted FROM {self.schema}.streams "  # noqa: S608
                "WHERE stream_id = $1 FOR UPDATE",
                stream_id,
            )
            current = None if row is None or row[1] else row[0]
            check_expected_version(stream_id, expected_version, current)
            events: str = await connection.execute(
                f"DELETE FROM {self.schema}.events WHERE stream_id = $1",  # noqa: S608
                stream_id,
            )
            streams: str = await connection.execute(
                f"DELETE FROM {self.schema}.streams WHERE stream_id = $1",  # noqa: S608
                stream_id,
            )
        return events != "DELETE 0" or streams != "DELETE 0"

    # -------------------------------------------------------------- reading

    async def get_stream_metadata(self, stream_id: str) -> StreamMetadata:
        row = await self._pool.fetchrow(
            f"SELECT truncate_before, deleted FROM {self.schema}.streams "  # noqa: S608
            "WHERE stream_id = $1",
            stream_id,
        )
        return StreamMetadata() if row is None else StreamMetadata(row[0], row[1])

    async def stream_version(self, stream_id: str) -> int | None:
        row = await self._pool.fetchrow(
            f"SELECT version, deleted FROM {self.schema}.streams WHERE stream_id = $1",  # noqa: S608
            stream_id,
        )
        return None if row is None or row[1] else row[0]

    async def read_stream(
        self,
        stream_id: str,
        from_version: int | None = None,
        *,
        backwards: bool = False,
        limit: int | None = None,
    ) -> list[RecordedEvent]:
        if backwards:
            bound, order = "($2::bigint IS NULL OR e.version <= $2)", "DESC"
        else:
            bound, order = "e.version >= COALESCE($2, 0)", "ASC"
        rows = await self._pool.fetch(
            f"SELECT {', '.join('e.' + c for c in COLUMNS.split(', '))} "  # noqa: S608
            f"FROM {self.schema}.events e JOIN {self.schema}.streams s USING (stream_id) "
            f"WHERE e.stream_id = $1 AND NOT s.deleted AND e.version >= s.truncate_before "
            f"AND {bound} ORDER BY e.version {order} LIMIT $3",
            stream_id,
            from_version,
            limit,
        )
        return [_recorded(row) for row in rows]

    async def read_all(
        self,
        after_position: int = START,
        limit: int = 1000,
        *,
        categories: Collection[str] | None = None,
        event_types: Collection[str] | None = None,
    ) -> list[RecordedEvent]:
        # The horizon is read first and passed in: with it inside the query, the planner cannot
        # see it is a constant and, on a table not analysed yet, scans and sorts the whole rest
        # of it for every page. A horizon read a moment earlier is as safe: it only grows.
        horizon = await self._pool.fetchval(f"SELECT {self.schema}.horizon()")
        params: list[Any] = [after_position, horizon, limit]
        where = ""
        if categories is not None:
            params.append(list(categories))
            where += f" AND category = ANY(${len(params)}::text[])"
        if event_types is not None:
            params.append(list(event_types))
            where += f" AND type = ANY(${len(params)}::text[])"
        rows = await self._pool.fetch(
            f"SELECT {COLUMNS} FROM {self.schema}.events "  # noqa: S608
            f"WHERE position > $1 AND position < $2{where} ORDER BY position LIMIT $3",
            *params,
        )
        return [_recorded(row) for row in rows]

    async def last_position(
        self, event_types: Collection[str], after_position: int, up_to: int
    ) -> int | None:
        # One backward scan of the primary key from `up_to` to the first event of the types,
        # instead of every event read (ADR 0114). Below the horizon, as `read_all` delivers. The
        # horizon inline, one round trip, as `head_position` has it: unlike `read_all`'s pages
        # the query has the bounds of its scan in `$1` and `$2`, and the planner makes the
        # horizon one more bound of the same index scan (EXPLAIN, analysed or not).
        value = await self._pool.fetchval(
            f"SELECT max(position) FROM {self.schema}.events "  # noqa: S608
            f"WHERE position > $1 AND position <= $2 AND position < {self.schema}.horizon() "
            "AND type = ANY($3::text[])",
            after_position,
            up_to,
            list(event_types),
        )
        return None if value is None else int(value)

    async def head_position(self) -> int:
        value = await self._pool.fetchval(
            f"SELECT max(position) FROM {self.schema}.events "  # noqa: S608
            f"WHERE position < {self.schema}.horizon()"
        )
        return START if value is None else int(value)

    async def _held_back(self, position: int) -> bool:
        # A transaction that ended without an append of ours (anywhere in the cluster) moves the
        # horizon silently; committed events above it are visible here, only reads stop short.
        held: bool = await self._pool.fetchval(
            f"SELECT EXISTS (SELECT 1 FROM {self.schema}.events "  # noqa: S608
            f"WHERE position > $1 AND position >= {self.schema}.horizon())",
            position,
        )
        return held

    async def _wait_for_wakeup(self, wakeup: asyncio.Event, timeout: float) -> None:
        # A listener connection that died is replaced; what it missed meanwhile, the poll finds.
        await self._prepare_wakeups()
        await super()._wait_for_wakeup(wakeup, timeout)

    async def _prepare_wakeups(self) -> None:
        async with self._listener_lock:
            if self._listener is not None and not self._listener.is_closed():
                return
            self._listener = await asyncpg.connect(self._dsn)
            await self._listener.add_listener(self.channel, self._on_notification)

    def _on_notification(self, *_: object) -> None:
        self._wake_subscribers()

    def _announce_append(self) -> None:
        """Wake this process's subscribers now, and other processes' through NOTIFY.

        The NOTIFY is not sent inside the append: PostgreSQL holds its notification lock from
        pre-commit until the commit is flushed, which would serialise every append's commit. It is
        sent after, on a connection of its own, coalesced (one at a time, at most one per
        `ANNOUNCEMENT_SPACING`) and best effort: a lost one costs a subscriber one poll interval.
        """
        self._wake_subscribers()
        self._announcement_due = True
        if self._announcer is None or self._announcer.done():
            self._announcer = asyncio.create_task(self._send_announcements())

    async def _send_announcements(self) -> None:
        try:
            if self._announcer_connection is None or self._announcer_connection.is_closed():
                self._announcer_connection = await asyncpg.connect(self._dsn)
                # A NOTIFY is a hint, not data: it need not wait for a WAL flush.
                await self._announcer_connection.execute("SET synchronous_commit = off")
            while self._announcement_due:
                self._announcement_due = False
                await self._announcer_connection.execute("SELECT pg_notify($1, '')", self.channel)
                # Appends that land meanwhile share the next NOTIFY.
                await asyncio.sleep(ANNOUNCEMENT_SPACING)
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as error:
            _log.warning(
                "NOTIFY %s failed (%s); subscribers elsewhere will poll", self.channel, error
            )

    async def close(self) -> None:
        if self._announcer is not None:
            await asyncio.gather(self._announcer, return_exceptions=True)
        for connection in (self._listener, self._announcer_connection):
            if connection is not None and not connection.is_closed():
                await connection.close()
        await self._pool.close()
