"""The relay lease (bilet.relay.lease): one holder per store; a holder whose session the server
ends learns that it lost the lease, and the waiting relay gets it."""

import asyncio
import uuid

import asyncpg
import pytest

from bilet.relay.lease import RelayLease

pytestmark = pytest.mark.integration

# Bounds a wait that would otherwise hang.
WAIT_SECONDS = 20


async def test_one_holder_per_store_and_a_lost_session_is_noticed(database_url: str) -> None:
    schema = f"lease_{uuid.uuid4().hex[:10]}"
    holder = RelayLease(database_url, schema, check_interval=0.05)
    rival = RelayLease(database_url, schema, check_interval=0.05)
    other_store = RelayLease(database_url, f"{schema}_other", check_interval=0.05)
    try:
        assert await holder.try_acquire()
        assert not await rival.try_acquire()
        assert await other_store.try_acquire()  # each store has its own lease

        # The server ends the holder's session (a failover, an operator): the lock goes with it.
        admin = await asyncpg.connect(database_url)
        try:
            assert holder._connection is not None
            await admin.execute(
                "SELECT pg_terminate_backend($1)", holder._connection.get_server_pid()
            )
        finally:
            await admin.close()
        await asyncio.wait_for(holder.lost, WAIT_SECONDS)
        await asyncio.wait_for(rival.acquire(poll_interval=0.05), WAIT_SECONDS)
    finally:
        for lease in (holder, rival, other_store):
            await lease.release()
