"""Relay positions in the service's PostgreSQL schema, next to its event store."""

import asyncpg

from bilet.eventstore import START
from bilet.pgschema import check_schema_name, migrate_or_verify
from bilet.relay.positions import COUNT_LIMIT, PositionStore

SCHEMA_SQL = """
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.relay_positions (
    relay      text        PRIMARY KEY,
    position   bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
"""


class PostgresPositionStore(PositionStore):
    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self._pool = pool
        self.schema = schema

    @classmethod
    async def open(cls, dsn: str, *, schema: str = "eventstore") -> "PostgresPositionStore":
        check_schema_name(schema)
        # A pool rather than one connection: it replaces a connection the server dropped.
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        try:
            async with pool.acquire() as connection, connection.transaction():
                # The same lock the event store migrates under: one migration at a time.
                await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", schema)
                await migrate_or_verify(connection, SCHEMA_SQL.format(s=schema))
        except BaseException:
            await pool.close()
            raise
        return cls(pool, schema)

    async def load(self, relay: str) -> int:
        value = await self._pool.fetchval(
            f"SELECT position FROM {self.schema}.relay_positions WHERE relay = $1",  # noqa: S608
            relay,
        )
        return START if value is None else int(value)

    async def save(self, relay: str, position: int) -> None:
        await self._pool.execute(
            f"INSERT INTO {self.schema}.relay_positions AS p (relay, position) "  # noqa: S608
            "VALUES ($1, $2) ON CONFLICT (relay) DO UPDATE SET "
            "position = GREATEST(p.position, excluded.position), updated_at = clock_timestamp()",
            relay,
            position,
        )

    async def count_after(self, position: int) -> int | None:
        # Reads the event store's table below its horizon, as `read_all` does: the events a reader
        # can see and the relay has not yet published.
        value = await self._pool.fetchval(
            f"SELECT count(*) FROM (SELECT 1 FROM {self.schema}.events "  # noqa: S608
            f"WHERE position > $1 AND position < {self.schema}.horizon() LIMIT $2) AS unpublished",
            position,
            COUNT_LIMIT,
        )
        return int(value)

    async def close(self) -> None:
        await self._pool.close()
