"""The suite's key store on PostgreSQL: one schema (`bvb_keys`) of per-subject data keys.

Same contract as `SqliteKeyStore` (`bilet.crypto.sqlite`): keys stored wrapped by the master key
(associated data = subject + key id), one key per subject whatever the number of processes asking
at once, erasure = the wrapped key deleted and a tombstone kept, after which no key is ever made
for the subject again. See docs/adr/0004-crypto-shredding.md.

Concurrency. Creating and erasing are each one call of a SQL function (one round trip). Creators
take `erasures` in SHARE mode before they look for a tombstone and insert; an erasure's insert of
its tombstone needs ROW EXCLUSIVE on that table, so the two never interleave: a key and a tombstone
of one subject never coexist, in any number of processes. Creators do not block one another; they
insert in subject order, so bulk creators cannot deadlock on the primary key, and a key inserted by
another creator first wins (`ON CONFLICT DO NOTHING`, then read). Erasures take `erasures` in
SHARE ROW EXCLUSIVE mode, so they also wait for one another and commit in the order of their
position in the erasure log (`seq`), which key caches read (`erasures_since`).

Physical erasure. PostgreSQL never overwrites a row in place: DELETE (and UPDATE, so overwriting
the key with zeros first would not help) leaves the old row version in the table file until it is
vacuumed, and even a plain VACUUM may leave its bytes in a page's free space. What does remove them
is a rewrite of the table (`VACUUM FULL`), which holds an ACCESS EXCLUSIVE lock while it runs. So
`data_keys` is hash-partitioned into `PARTITIONS` small tables and an erasure rewrites only the
partition that held the key (about 10 ms with 100 000 keys stored); reads plan with the key's value
(`plan_cache_mode = force_custom_plan`), so they lock only the partition they read and never wait
for the rewrite of another. A rewrite must copy a deleted row that some open snapshot could still
see, so it first waits (at most `purge_wait` seconds) until no session of the database holds a
snapshot older than the erasure; failing that, or the lock, the partition stays pending and is
rewritten by the next erasure, `purge()` or `close()`. The wrapped key column is stored inline and
uncompressed (`STORAGE PLAIN`) and kept out of the planner's statistics (`STATISTICS 0`), so a
rewrite of the heap covers every copy of it inside the tables. What stays outside them (WAL, WAL
archives and base backups, replicas, the old file's blocks on disk) is listed in ADR 0004: there
only the master key protects an erased key.
"""

import asyncio
import logging
import re
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Final

import asyncpg

from bilet.crypto.keystore import (
    ERASURES_IN_PROCESS,
    DataKey,
    ErasuresSince,
    KeyStoreError,
    SubjectErased,
    _check_subject,
    _utc_now,
)
from bilet.crypto.master import MasterKey
from bilet.pgschema import check_schema_name

_log = logging.getLogger(__name__)

# The number of hash partitions of `data_keys`. Fixed once a schema exists (changing it means
# moving every key): an erasure rewrites 1/PARTITIONS of the keys.
PARTITIONS: Final = 32
_POLL: Final = 0.05

_TABLES: Final = """
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.data_keys (
    subject    text        PRIMARY KEY,
    key_id     text        NOT NULL,
    wrapped    bytea       NOT NULL,
    created_at timestamptz NOT NULL
) PARTITION BY HASH (subject);
{partitions}
-- Inline and uncompressed, so the heap holds the only copy that a rewrite must remove; and never
-- sampled into pg_statistic, which ANALYZE would otherwise fill with some of the wrapped keys.
ALTER TABLE {s}.data_keys
    ALTER COLUMN wrapped SET STORAGE PLAIN,
    ALTER COLUMN wrapped SET STATISTICS 0;
CREATE TABLE IF NOT EXISTS {s}.erasures (
    subject   text        PRIMARY KEY,
    erased_at timestamptz NOT NULL
);
"""

# The erasure log that key caches read (`erasures_since`): a position per erasure. Added to
# schemas made before it; existing records are numbered in the table's order.
_ERASURE_LOG: Final = """
ALTER TABLE {s}.erasures ADD COLUMN IF NOT EXISTS seq bigint GENERATED ALWAYS AS IDENTITY;
CREATE UNIQUE INDEX IF NOT EXISTS erasures_seq ON {s}.erasures (seq);
"""

_PARTITION: Final = (
    "CREATE TABLE IF NOT EXISTS {s}.data_keys_p{n:02d} PARTITION OF {s}.data_keys "
    "FOR VALUES WITH (MODULUS {modulus}, REMAINDER {n});"
)

# VOLATILE plpgsql: each statement takes a fresh snapshot (READ COMMITTED), so what a statement
# reads after the LOCK includes everything committed before the lock was granted.
_FUNCTIONS: Final = """
CREATE OR REPLACE FUNCTION {s}.get_or_create_keys(
    p_subjects text[], p_key_ids text[], p_wrapped bytea[], p_now timestamptz
) RETURNS TABLE (k_subject text, k_key_id text, k_wrapped bytea, k_erased_at timestamptz)
LANGUAGE plpgsql AS $$
BEGIN
    -- No erasure commits between the tombstone check and the insert below.
    LOCK TABLE {s}.erasures IN SHARE MODE;
    RETURN QUERY SELECT e.subject, NULL::text, NULL::bytea, e.erased_at
        FROM {s}.erasures e WHERE e.subject = ANY(p_subjects);
    IF FOUND THEN
        RETURN;  -- all or nothing: no key is made when any subject was erased
    END IF;
    INSERT INTO {s}.data_keys (subject, key_id, wrapped, created_at)
        SELECT t.subject, t.key_id, t.wrapped, p_now
        FROM unnest(p_subjects, p_key_ids, p_wrapped) AS t(subject, key_id, wrapped)
        ORDER BY t.subject
        ON CONFLICT (subject) DO NOTHING;
    RETURN QUERY SELECT d.subject, d.key_id, d.wrapped, NULL::timestamptz
        FROM {s}.data_keys d WHERE d.subject = ANY(p_subjects);
END
$$;

CREATE OR REPLACE FUNCTION {s}.erase_key(p_subject text, p_now timestamptz)
RETURNS TABLE (k_recorded boolean, k_partition text, k_xid text)
LANGUAGE plpgsql AS $$
BEGIN
    -- Waits for creators in flight and holds new ones off until commit (as the ROW EXCLUSIVE of
    -- the insert would), and for other erasures too: erasures commit in the order of their
    -- `seq`, so a cache that has read up to some seq never misses one that commits late.
    LOCK TABLE {s}.erasures IN SHARE ROW EXCLUSIVE MODE;
    INSERT INTO {s}.erasures (subject, erased_at) VALUES (p_subject, p_now)
        ON CONFLICT (subject) DO NOTHING;
    k_recorded := FOUND;
    DELETE FROM {s}.data_keys d WHERE d.subject = p_subject
        RETURNING d.tableoid::regclass::text INTO k_partition;
    k_xid := pg_current_xact_id()::text;
    RETURN NEXT;
END
$$;
"""

# Whether anything could still see a row deleted by transaction $1: a session of this database
# (or a standby's feedback) whose snapshot or own transaction is not newer, a replication slot, a
# prepared transaction. A plain VACUUM by autovacuum does not hold rows back and is not counted.
# Sessions of other roles count only if the role may read their state (pg_read_all_stats).
_OLDER_SNAPSHOTS: Final = """
SELECT
    (SELECT count(*) FROM pg_stat_activity a
        WHERE a.pid <> pg_backend_pid()
          AND (a.datname = current_database() OR a.backend_type = 'walsender')
          AND NOT (a.backend_type = 'autovacuum worker'
                   AND a.query LIKE 'autovacuum: VACUUM %' AND a.query NOT LIKE '%ANALYZE%')
          AND (age(a.backend_xmin) >= age(erased.x) OR age(a.backend_xid) >= age(erased.x)))
    + (SELECT count(*) FROM pg_replication_slots s
        WHERE age(s.xmin) >= age(erased.x) OR age(s.catalog_xmin) >= age(erased.x))
    + (SELECT count(*) FROM pg_prepared_xacts p
        WHERE p.database = current_database() AND age(p.transaction) >= age(erased.x))
FROM (SELECT CAST($1::text AS xid8)::xid AS x) AS erased
"""

_PARTITION_NAME: Final = re.compile(r"^[a-z_][a-z0-9_]*\.data_keys_p[0-9]{2}$")


def _partitions_sql(schema: str) -> str:
    return "\n".join(
        _PARTITION.format(s=schema, n=n, modulus=PARTITIONS) for n in range(PARTITIONS)
    )


class PostgresKeyStore:
    """Data keys in a PostgreSQL schema of their own (`bvb_keys`), apart from every event store.

    Open it with `PostgresKeyStore.open(dsn, master_key, schema=...)`; it migrates its schema.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        master_key: MasterKey,
        schema: str,
        *,
        clock: Callable[[], datetime],
        purge_wait: float,
    ) -> None:
        self._pool = pool
        self._master_key = master_key
        self.schema = schema
        self._clock = clock
        self._purge_wait = purge_wait
        self._closed = False
        # Partitions still holding erased rows, with the newest erasing transaction in each.
        self._pending: dict[str, int] = {}
        self._purge_lock = asyncio.Lock()

    @classmethod
    async def open(
        cls,
        dsn: str,
        master_key: MasterKey,
        *,
        schema: str = "bvb_keys",
        pool_size: int = 5,
        clock: Callable[[], datetime] = _utc_now,
        purge_wait: float = 5.0,
    ) -> "PostgresKeyStore":
        """Connect and migrate. `purge_wait`: how long an erasure waits for older snapshots to
        end, and then for its table lock, before it leaves its rewrite pending."""
        check_schema_name(schema)
        if purge_wait < 0:
            raise ValueError("purge_wait is not negative")
        pool = await asyncpg.create_pool(
            dsn,
            min_size=1,
            max_size=pool_size,
            server_settings={
                # Plans made with the subject's value lock only the partition they read; generic
                # plans would lock all of them, and wait for the rewrite of any.
                "plan_cache_mode": "force_custom_plan",
                # Parameters are wrapped keys: never into the server log with an error.
                "log_parameter_max_length_on_error": "0",
            },
        )
        store = cls(pool, master_key, schema, clock=clock, purge_wait=purge_wait)
        try:
            await store._migrate()
        except BaseException:
            await pool.close()
            raise
        return store

    async def _migrate(self) -> None:
        s = self.schema
        async with self._pool.acquire() as connection, connection.transaction():
            # Several processes may open the store at once; one of them migrates at a time.
            await connection.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))", f"bilet.keystore:{s}"
            )
            # The ALTER TABLE locks every partition: only when the tables are first made.
            if not await connection.fetchval(
                "SELECT to_regclass($1) IS NOT NULL", f"{s}.data_keys"
            ):
                await connection.execute(_TABLES.format(s=s, partitions=_partitions_sql(s)))
            if not await connection.fetchval(
                "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = $1 "
                "AND table_name = 'erasures' AND column_name = 'seq')",
                s,
            ):
                await connection.execute(_ERASURE_LOG.format(s=s))
            await connection.execute(_FUNCTIONS.format(s=s))
            # VACUUM skips, with a mere warning, a table its caller does not own: erasures would
            # then leave the keys in the files without a word.
            owned = await connection.fetchval(
                "SELECT bool_and(pg_has_role(c.relowner, 'USAGE')) FROM pg_inherits i "
                "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass",
                f"{s}.data_keys",
            )
            if not owned:
                raise KeyStoreError(
                    f"the key store's role does not own the tables of schema {s}: it could not "
                    "rewrite them, and erased keys would stay in their files"
                )

    @property
    def pending_purges(self) -> int:
        """Partitions whose erased rows are still in the table files (see `purge`)."""
        return len(self._pending)

    async def __aenter__(self) -> "PostgresKeyStore":
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise KeyStoreError("the key store is closed")

    async def get_or_create(self, subject: str) -> DataKey:
        _check_subject(subject)
        self._check_open()
        row = await self._pool.fetchrow(
            f"SELECT key_id, wrapped FROM {self.schema}.data_keys WHERE subject = $1",  # noqa: S608
            subject,
        )
        if row is None:
            return (await self._create([subject]))[subject]
        return self._master_key.unwrap(subject, row[0], row[1])

    async def get_or_create_many(self, subjects: Collection[str]) -> dict[str, DataKey]:
        wanted = list(dict.fromkeys(subjects))
        for subject in wanted:
            _check_subject(subject)
        self._check_open()
        if not wanted:
            return {}
        rows = await self._pool.fetch(
            f"SELECT subject, key_id, wrapped FROM {self.schema}.data_keys "  # noqa: S608
            "WHERE subject = ANY($1::text[])",
            wanted,
        )
        keys = {row[0]: self._master_key.unwrap(row[0], row[1], row[2]) for row in rows}
        if missing := [subject for subject in wanted if subject not in keys]:
            keys.update(await self._create(missing))
        return {subject: keys[subject] for subject in wanted}

    async def _create(self, subjects: list[str]) -> dict[str, DataKey]:
        """Keys for subjects that had none when looked up; one that another process made
        meanwhile wins. Raises `SubjectErased` (making no key) if any subject was erased."""
        fresh = [DataKey.generate() for _ in subjects]
        rows = await self._pool.fetch(
            f"SELECT * FROM {self.schema}.get_or_create_keys($1, $2, $3, $4)",  # noqa: S608
            subjects,
            [key.key_id for key in fresh],
            [
                self._master_key.wrap(subject, key)
                for subject, key in zip(subjects, fresh, strict=True)
            ],
            self._clock(),
        )
        erased = {row[0]: row[3] for row in rows if row[3] is not None}
        for subject in subjects:
            if subject in erased:
                raise SubjectErased(subject, erased[subject])
        return {row[0]: self._master_key.unwrap(row[0], row[1], row[2]) for row in rows}

    async def get(self, subject: str) -> DataKey | None:
        _check_subject(subject)
        self._check_open()
        row = await self._pool.fetchrow(
            f"SELECT key_id, wrapped FROM {self.schema}.data_keys WHERE subject = $1",  # noqa: S608
            subject,
        )
        return None if row is None else self._master_key.unwrap(subject, row[0], row[1])

    async def erase(self, subject: str) -> bool:
        """Delete the subject's key and record its erasure (see `KeyStore.erase`), then rewrite
        the partition that held the key so that its bytes leave the table files. The erasure is
        committed before the rewrite: if the rewrite has to wait longer than `purge_wait`, it
        stays pending (logged) and the next erasure, `purge()` or `close()` does it."""
        _check_subject(subject)
        self._check_open()
        try:
            row = await self._pool.fetchrow(
                f"SELECT * FROM {self.schema}.erase_key($1, $2)",  # noqa: S608
                subject,
                self._clock(),
            )
        finally:
            ERASURES_IN_PROCESS.announce()
        recorded, partition, xid = row[0], row[1], int(row[2])
        if partition is not None:
            if not _PARTITION_NAME.match(partition):
                raise KeyStoreError(f"unexpected partition name {partition!r}")
            self._pending[partition] = max(xid, self._pending.get(partition, 0))
        if self._pending:
            await self._purge_pending()
        return bool(recorded)

    async def erasures_since(self, position: int | None) -> ErasuresSince:
        self._check_open()
        if position is None:
            end = await self._pool.fetchval(
                f"SELECT coalesce(max(seq), 0) FROM {self.schema}.erasures"  # noqa: S608
            )
            return ErasuresSince(int(end))
        rows = await self._pool.fetch(
            f"SELECT seq, subject FROM {self.schema}.erasures "  # noqa: S608
            "WHERE seq > $1 ORDER BY seq",
            position,
        )
        return ErasuresSince(int(rows[-1][0]) if rows else position, tuple(row[1] for row in rows))

    async def purge(self) -> int:
        """Rewrite the partitions that still hold erased rows (an erasure's rewrite that had to
        wait too long); returns how many are still pending."""
        self._check_open()
        await self._purge_pending()
        return len(self._pending)

    async def _purge_pending(self) -> None:
        async with self._purge_lock, self._pool.acquire() as connection:
            for partition, xid in sorted(self._pending.items()):
                if await self._rewrite(connection, partition, xid) and (
                    self._pending.get(partition) == xid
                ):
                    del self._pending[partition]

    async def _rewrite(self, connection: asyncpg.Connection, partition: str, xid: int) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._purge_wait
        while await connection.fetchval(_OLDER_SNAPSHOTS, str(xid)):
            if loop.time() >= deadline:
                _log.warning(
                    "key store %s: a transaction older than an erasure is still open; the erased "
                    "key stays in the files of %s until a later erase, purge() or close()",
                    self.schema,
                    partition,
                )
                return False
            await asyncio.sleep(_POLL)
        await connection.execute(f"SET lock_timeout = {max(1, round(self._purge_wait * 1000))}")
        try:
            await connection.execute(f"VACUUM (FULL) {partition}")
        except asyncpg.LockNotAvailableError:
            _log.warning(
                "key store %s: %s is busy; its erased key stays in its files until a later "
                "erase, purge() or close()",
                self.schema,
                partition,
            )
            return False
        finally:
            await connection.execute("RESET lock_timeout")
        return True

    async def close(self) -> None:
        """Rewrite what is still pending (once more), then close. New work is refused."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._pending:
                await self._purge_pending()
            if self._pending:
                _log.warning(
                    "key store %s closed with %d partitions still holding erased keys; "
                    "run purge() (or VACUUM FULL %s.data_keys) when the database is quiet",
                    self.schema,
                    len(self._pending),
                    self.schema,
                )
        finally:
            await self._pool.close()
