"""A rebuild's switch beside a live batch on PostgreSQL: the batch's first statement reads the
live applied table while it locks its checkpoint; a switch that locked the checkpoints first and
then waited to drop that table deadlocked with it (CI, `test_embedded`'s rebuilds beside a live
feed). The switch now takes the table first: the batch goes on, and the switch follows it."""

import asyncio

import asyncpg
import pytest

from bilet.projections import ReadModelTx, Table
from bilet.projections.postgres import PostgresReadModel
from bilet.projections.readmodel import layout_of
from bilet.projections.readmodel.schema import CHECKPOINTS

pytestmark = pytest.mark.integration


class Counted:
    name = "counted"
    tables = (Table("counts", "stream_id TEXT PRIMARY KEY, events BIGINT NOT NULL"),)

    async def apply(self, tx: ReadModelTx, event: object) -> None:  # pragma: no cover - unused
        raise NotImplementedError


async def _checkpoint(connection: asyncpg.Connection, key: str) -> None:
    await connection.execute(
        f"INSERT INTO {CHECKPOINTS} (projection, feed, part, source, next_offset, position) "  # noqa: S608
        "VALUES ($1, 'feed', 0, 'source', 0, 0)",
        key,
    )


async def _waiting_locks(connection: asyncpg.Connection, seconds: float = 30.0) -> None:
    """Until some backend waits for a lock (bounded: a test that fails ends)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await connection.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted"):
        assert asyncio.get_running_loop().time() < deadline, "the switch never waited"
        await asyncio.sleep(0.01)


async def test_a_switch_beside_a_batch_locking_its_checkpoint_waits_for_it_without_deadlock(
    database_url: str, postgres_schema: str
) -> None:
    # Given a live projection and a caught-up shadow, each with its checkpoint
    read_model = await PostgresReadModel.open(database_url, schema=postgres_schema)
    live, shadow = (
        layout_of(Counted(), "postgresql"),
        layout_of(Counted(), "postgresql", shadow=True),
    )
    batch = await asyncpg.connect(database_url, server_settings={"search_path": postgres_schema})
    watcher = await asyncpg.connect(database_url)
    try:
        await read_model.install(Counted())
        await read_model.prepare_shadow(Counted())
        await _checkpoint(batch, live.key)
        await _checkpoint(batch, shadow.key)

        # And a live batch whose first statement has read the applied table
        await batch.execute("BEGIN")
        await batch.fetch(f"SELECT * FROM {live.applied}")  # noqa: S608

        # When the switch starts, and the batch then locks its checkpoint
        switching = asyncio.create_task(read_model.switch(Counted()))
        await _waiting_locks(watcher)
        await batch.fetch(
            f"SELECT next_offset FROM {CHECKPOINTS} WHERE projection = $1 FOR UPDATE",  # noqa: S608
            live.key,
        )
        await batch.execute("COMMIT")

        # Then the batch had its checkpoint, and the switch made the shadow live after it
        assert await asyncio.wait_for(switching, 30) is True
    finally:
        await watcher.close()
        await batch.close()
        await read_model.close()
