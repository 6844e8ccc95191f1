"""A rebuild folded in a private SQLite fold and copied into PostgreSQL (ADR 0076) leaves what a
live catch-up leaves, bookkeeping included: the same counts, applied versions, checkpoints,
parked stream and dead letter (the history holds a poison the example projection cannot
digest); and a rebuild of a SQLite read model is refused a fold."""

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bilet.eventstore import EventStore, NewEvent
from bilet.eventstore.sqlite import SqliteEventStore
from bilet.projections import EmbeddedFeed, ReadModel, rebuild_from_stores
from bilet.projections.postgres import PostgresReadModel
from bilet.projections.sqlite import SqliteReadModel
from bilet.projections.testing import COUNTS, POISON, StreamCounter, read_applied, read_counts


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[dict[str, EventStore]]:
    opened: dict[str, EventStore] = {
        name: await SqliteEventStore.open(tmp_path / f"{name}-events.sqlite3")
        for name in ("consent", "identity")
    }
    try:
        for number in range(60):
            source = ("consent", "identity")[number % 3 == 0]
            kind = POISON if number == 31 else ("Registered", "Corrected")[number % 2]
            data = json.dumps({"n": number}).encode()
            await opened[source].append(f"participant-{number % 7}", [NewEvent(kind, data)])
        yield opened
    finally:
        for store in opened.values():
            await store.close()


async def _state(read_model: ReadModel) -> tuple[Any, ...]:
    return (
        await read_counts(read_model),
        await read_applied(read_model),
        await read_model.checkpoints(COUNTS),
        await read_model.parked(COUNTS),
        await read_model.dead_letters(COUNTS),
    )


async def test_a_folded_rebuild_leaves_what_a_live_catch_up_leaves(
    database_url: str, postgres_schema: str, stores: dict[str, EventStore]
) -> None:
    live = await PostgresReadModel.open(database_url, schema=postgres_schema)
    try:
        await EmbeddedFeed(live, StreamCounter(), stores).catch_up({})
        expected = await _state(live)
        assert expected[3], "the poison parked its stream"
        assert expected[4], "the poison was dead-lettered"

        # Twice: the second rebuild replaces the first one's folded tables.
        for _ in range(2):
            await rebuild_from_stores(
                live, StreamCounter(), stores, fold_memory_mib=4, long_transactions=9
            )
            assert await _state(live) == expected
    finally:
        await live.close()


async def test_a_sqlite_read_model_is_not_folded(
    tmp_path: Path, stores: dict[str, EventStore]
) -> None:
    async with await SqliteReadModel.open(tmp_path / "readmodel.sqlite3") as read_model:
        with pytest.raises(ValueError, match="PostgreSQL"):
            await rebuild_from_stores(read_model, StreamCounter(), stores, fold_memory_mib=4)
