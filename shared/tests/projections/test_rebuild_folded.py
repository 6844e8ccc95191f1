"""A rebuild folded in a private SQLite fold and copied into PostgreSQL (ADR 0076) leaves what a
live catch-up leaves, bookkeeping included: the same counts, applied versions, checkpoints,
parked stream and dead letter (the history holds a poison the example projection cannot
digest); and a rebuild of a SQLite read model is refused a fold."""

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bilet.eventstore import EventStore, NewEvent
from bilet.projections import rebuild_from_stores
from bilet.projections.postgres import PostgresReadModel
from bilet.projections.sqlite import SqliteReadModel
from bilet.projections.testing import (
    POISON,
    StreamCounter,
    counter_state,
    live_counter_state,
    sqlite_sources,
)


async def _history(stores: dict[str, EventStore]) -> None:
    """Sixty events over seven streams of the two sources, the 32nd a poison."""
    for number in range(60):
        source = ("consent", "identity")[number % 3 == 0]
        kind = POISON if number == 31 else ("Registered", "Corrected")[number % 2]
        data = json.dumps({"n": number}).encode()
        await stores[source].append(f"participant-{number % 7}", [NewEvent(kind, data)])


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[dict[str, EventStore]]:
    async with sqlite_sources(tmp_path, _history) as opened:
        yield opened


async def test_a_folded_rebuild_leaves_what_a_live_catch_up_leaves(
    database_url: str, postgres_schema: str, stores: dict[str, EventStore]
) -> None:
    live = await PostgresReadModel.open(database_url, schema=postgres_schema)
    try:
        expected = await live_counter_state(live, stores)
        assert expected[3], "the poison parked its stream"
        assert expected[4], "the poison was dead-lettered"

        # Twice: the second rebuild replaces the first one's folded tables.
        for _ in range(2):
            await rebuild_from_stores(
                live, StreamCounter(), stores, fold_memory_mib=4, long_transactions=9
            )
            assert await counter_state(live) == expected
    finally:
        await live.close()


async def test_a_sqlite_read_model_is_not_folded(
    tmp_path: Path, stores: dict[str, EventStore]
) -> None:
    async with await SqliteReadModel.open(tmp_path / "readmodel.sqlite3") as read_model:
        with pytest.raises(ValueError, match="PostgreSQL"):
            await rebuild_from_stores(read_model, StreamCounter(), stores, fold_memory_mib=4)
