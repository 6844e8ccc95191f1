"""The insights agent's batch writer (ADR 0078): a batch's transaction that meets the kernel
feed's on the same tables (a deadlock, a busy database) is tried again whole, not lost; any other
failure is the batch's (the worker then ends, the batch unacknowledged)."""

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from bilet.projections.sqlite import SqliteReadModel
from bilet_recommender.worker_insights import MarksWriter


class Interrupted(SqliteReadModel):
    """A real SQLite read model whose first `failures` transactions fail with `error` midway."""

    failures = 0
    error: Exception = RuntimeError()

    @asynccontextmanager
    async def transaction(self, renderer: Any) -> AsyncIterator[Any]:
        async with super().transaction(renderer) as tx:
            yield tx
            if self.failures:
                self.failures -= 1
                raise self.error


async def interrupted(path: Path) -> Interrupted:
    read_model = await Interrupted.open(path)
    assert isinstance(read_model, Interrupted)
    return read_model


def busy() -> sqlite3.OperationalError:
    error = sqlite3.OperationalError("database is locked")
    error.sqlite_errorcode = sqlite3.SQLITE_BUSY
    return error


def marks(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as connection:
        (table,) = [
            name
            for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            if name.endswith("ins_marks")
        ]
        return sorted(connection.execute(f"SELECT * FROM {table}").fetchall())  # noqa: S608


async def test_a_batch_that_meets_a_busy_database_is_written_whole_on_a_later_attempt(
    tmp_path: Path,
) -> None:
    path = tmp_path / "insights.sqlite3"
    calm = await SqliteReadModel.open(tmp_path / "calm.sqlite3")
    read_model = await interrupted(path)
    try:
        first = [("stage_completed", "2019-W39", "p0")]
        steps = [("stage_completed", "2019-W40", "p1"), ("event_attended", "2019-W40", "p2")]
        for batch in (first, steps):
            await MarksWriter(calm).write(batch)
        writer = MarksWriter(read_model)
        await writer.write(first)  # its tables installed
        read_model.failures, read_model.error = 2, busy()
        await writer.write(steps)
        assert read_model.failures == 0
    finally:
        await read_model.close()
        await calm.close()
    assert marks(path) == marks(tmp_path / "calm.sqlite3") != []


async def test_a_failure_that_is_not_transient_is_the_batchs(tmp_path: Path) -> None:
    read_model = await interrupted(tmp_path / "insights.sqlite3")
    try:
        writer = MarksWriter(read_model)
        await writer.write([("stage_completed", "2019-W39", "p0")])  # its tables installed
        read_model.failures, read_model.error = 1, ValueError("not a database hiccup")
        with pytest.raises(ValueError, match="hiccup"):
            await writer.write([("stage_completed", "2019-W40", "p1")])
    finally:
        await read_model.close()
