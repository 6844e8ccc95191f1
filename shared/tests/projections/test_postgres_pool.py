"""The PostgreSQL read model's pool gives a connection back without the reset round trip after a
transaction or a read (ADR 0093), and still undoes what a caller of `connection()` left in the
session. One connection in the pool, so every use below gets the same backend."""

import pytest

from bilet.projections.port import SqlRenderer
from bilet.projections.postgres import PostgresReadModel

pytestmark = pytest.mark.integration

PLAIN = SqlRenderer("postgresql", {})


async def test_given_a_session_setting_left_by_a_connection_user_then_the_next_user_has_none(
    database_url: str, postgres_schema: str
) -> None:
    read_model = await PostgresReadModel.open(database_url, schema=postgres_schema, pool_size=1)
    try:
        # Given: a caller of `connection()` changes its session and takes a session lock
        async with read_model.connection() as connection:
            backend = connection.get_server_pid()
            await connection.execute("SET statement_timeout = '4321ms'")
            await connection.execute("SELECT pg_advisory_lock(4321)")

        # When: the same backend is used again, for a transaction and then for a read
        async with read_model.transaction(PLAIN) as tx:
            in_transaction = await tx.fetch("SELECT current_setting('statement_timeout')")
        async with read_model.reader(PLAIN) as tx:
            read = await tx.fetch(
                "SELECT pg_backend_pid(), current_setting('statement_timeout'), "
                "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                "AND pid = pg_backend_pid())"
            )

        # Then: the setting and the lock are gone
        assert in_transaction == [("0",)]
        assert read == [(backend, "0", 0)]
    finally:
        await read_model.close()


async def failing_transaction(read_model: PostgresReadModel) -> None:
    async with read_model.transaction(PLAIN) as tx:
        await tx.fetch("SELECT 1")
        raise ZeroDivisionError


async def test_given_a_transaction_given_back_then_the_next_user_is_outside_any_transaction(
    database_url: str, postgres_schema: str
) -> None:
    read_model = await PostgresReadModel.open(database_url, schema=postgres_schema, pool_size=1)
    try:
        # Given: one committed transaction and one that failed
        async with read_model.transaction(PLAIN) as tx:
            await tx.fetch("SELECT 1")
        with pytest.raises(ZeroDivisionError):
            await failing_transaction(read_model)

        # When: the connection is read from next
        async with read_model.connection() as connection:
            # Then: no transaction is open on it (each statement its own)
            first = await connection.fetchval("SELECT txid_current()")
            second = await connection.fetchval("SELECT txid_current()")
        assert first != second
    finally:
        await read_model.close()
