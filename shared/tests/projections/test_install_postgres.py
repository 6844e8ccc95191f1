"""A projection installed again on PostgreSQL, as a second feed of the same projection does at a
worker's start, leaves its existing indexes alone: `CREATE INDEX IF NOT EXISTS` takes a SHARE
lock on its table even when the index exists, which waited behind another feed's open batch
and, with that batch writing a second table the install had locked, deadlocked (CI, the
recommender worker's start)."""

import asyncio

import asyncpg
import pytest

from bilet.projections import ReadModelTx, Table
from bilet.projections.postgres import PostgresReadModel

pytestmark = pytest.mark.integration


class Indexed:
    name = "indexed"
    tables = (
        Table("marks", "stream_id TEXT PRIMARY KEY, region TEXT NOT NULL", ("region",)),
        Table("cells", "cell TEXT PRIMARY KEY, week TEXT NOT NULL", ("week", "week, cell")),
    )

    async def apply(self, tx: ReadModelTx, event: object) -> None:  # pragma: no cover - unused
        raise NotImplementedError


async def test_an_install_over_existing_indexes_does_not_wait_for_a_batch_writing_the_table(
    database_url: str, postgres_schema: str
) -> None:
    # Given the projection installed, and a batch of another connection writing its table, open
    read_model = await PostgresReadModel.open(database_url, schema=postgres_schema)
    batch = await asyncpg.connect(database_url)
    try:
        layout = await read_model.install(Indexed())
        await batch.execute("BEGIN")
        await batch.execute(
            f"INSERT INTO {postgres_schema}.{layout.tables['marks']} VALUES ('s', 'r')"  # noqa: S608
        )

        # When it is installed again (the bound only ends a test that fails)
        again = await asyncio.wait_for(read_model.install(Indexed()), 30)

        # Then it did not wait for the batch, and every index is there
        assert again.tables == layout.tables
        await batch.execute("COMMIT")
        indexes = await batch.fetch(
            "SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND indexname LIKE 'ix_%'",
            postgres_schema,
        )
        assert len(indexes) == 3
    finally:
        await batch.close()
        await read_model.close()


async def test_an_install_creates_the_indexes_it_does_not_find(
    database_url: str, postgres_schema: str
) -> None:
    # Given the projection installed, and one of its indexes dropped
    read_model = await PostgresReadModel.open(database_url, schema=postgres_schema)
    other = await asyncpg.connect(database_url)
    try:
        layout = await read_model.install(Indexed())
        await other.execute(f"DROP INDEX {postgres_schema}.ix_{layout.tables['cells']}_1")

        # When it is installed again
        await read_model.install(Indexed())

        # Then the index is there again
        found = await other.fetchval(
            "SELECT count(*) FROM pg_indexes WHERE schemaname = $1 AND indexname = $2",
            postgres_schema,
            f"ix_{layout.tables['cells']}_1",
        )
        assert found == 1
    finally:
        await other.close()
        await read_model.close()
