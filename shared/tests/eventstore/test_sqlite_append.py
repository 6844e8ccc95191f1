"""The SQLite append's statements (`bilet.eventstore.sqlite_append`, docs/adr/0075): a fixed handful
per commit whatever the number of streams, and positions counted from the last row inserted."""

import sqlite3
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from bilet.eventstore import (
    NO_STREAM,
    EventIdsConflict,
    NewEvent,
    StreamAppend,
    WrongExpectedVersion,
    sqlite_append,
)
from bilet.eventstore.sqlite import SqliteEventStore


def _events(count: int) -> list[NewEvent]:
    return [NewEvent("Happened", b'{"n": %d}' % n) for n in range(count)]


class _SqlTexts(sqlite3.Connection):
    """A connection that keeps every distinct SQL text it was asked to execute: sqlite3 compiles
    one statement per text and keeps 128 of them per connection."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.texts: set[str] = set()

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        self.texts.add(sql)
        return super().execute(sql, parameters)


def _beside_event_rows(statements: list[str]) -> list[str]:
    """The statements traced, but the events' prepared INSERT (traced once per row it steps)."""
    return [sql for sql in statements if not sql.startswith("INSERT INTO events")]


async def test_an_append_of_several_streams_costs_the_same_statements_as_one_stream(
    tmp_path: Path,
) -> None:
    store = await SqliteEventStore.open(tmp_path / "events.sqlite3")
    statements: list[str] = []
    try:
        store._writer._db.set_trace_callback(statements.append)
        await store.append("school-1", _events(2), NO_STREAM)
        one_stream = _beside_event_rows(statements)
        statements.clear()
        await store.append_many(
            [StreamAppend(f"participant-{n}", _events(2), NO_STREAM) for n in range(5)]
        )
        assert len(_beside_event_rows(statements)) == len(one_stream)
        # BEGIN, the position floor, the versions, the last position, COMMIT: no write of the
        # streams table (a stream's version is its last event's, docs/adr/0100).
        assert len(one_stream) == 5
        assert not any("streams" in sql for sql in statements if not sql.startswith("WITH"))
        # One event: its position comes with its INSERT, no `last_insert_rowid()` asked.
        statements.clear()
        result = await store.append("school-2", _events(1), NO_STREAM)
        assert len(_beside_event_rows(statements)) == 4
        assert not any("last_insert_rowid" in sql for sql in statements)
        assert result.position == 13
        assert (await store.read_stream("school-2"))[0].position == 13
    finally:
        await store.close()


async def test_positions_of_an_append_follow_the_caller_order_across_statement_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_append, "STREAMS_PER_STATEMENT", 2)
    store = await SqliteEventStore.open(tmp_path / "events.sqlite3")
    try:
        await store.append("school-1", _events(2), NO_STREAM)
        appends = [StreamAppend(f"participant-{n}", _events(n + 1), NO_STREAM) for n in range(4)]
        results = await store.append_many(appends)
        # 1, 2, 3 and 4 events after the two stored: last positions 3, 5, 8, 12 (positions from 1).
        assert [(r.stream_id, r.version, r.position) for r in results] == [
            ("participant-0", 0, 3),
            ("participant-1", 1, 5),
            ("participant-2", 2, 8),
            ("participant-3", 3, 12),
        ]
        for append, result in zip(appends, results, strict=True):
            stored = await store.read_stream(append.stream_id)
            assert [e.event_id for e in stored] == [e.event_id for e in append.events]
            assert stored[-1].position == result.position
        assert await store.head_position() == 12
    finally:
        await store.close()


async def test_a_wrong_version_in_any_stream_writes_nothing_of_the_append(tmp_path: Path) -> None:
    store = await SqliteEventStore.open(tmp_path / "events.sqlite3")
    try:
        await store.append("participant-1", _events(1), NO_STREAM)
        with pytest.raises(WrongExpectedVersion):
            await store.append_many(
                [
                    StreamAppend("participant-2", _events(1), NO_STREAM),
                    StreamAppend("participant-1", _events(1), NO_STREAM),
                ]
            )
        assert await store.stream_version("participant-2") is None
        assert await store.head_position() == 1
    finally:
        await store.close()


async def test_an_event_id_stored_already_fails_the_whole_append(tmp_path: Path) -> None:
    store = await SqliteEventStore.open(tmp_path / "events.sqlite3")
    try:
        stored = NewEvent("Happened", b"{}", event_id=uuid4())
        await store.append("participant-1", [stored], NO_STREAM)
        with pytest.raises(EventIdsConflict):
            await store.append_many(
                [
                    StreamAppend("participant-2", _events(1), NO_STREAM),
                    StreamAppend("participant-3", [stored], NO_STREAM),
                ]
            )
        assert await store.stream_version("participant-2") is None
        assert await store.head_position() == 1
    finally:
        await store.close()


async def test_lookups_of_versions_of_any_number_of_streams_share_a_few_statements(
    tmp_path: Path,
) -> None:
    """A shared commit looks up the versions of every stream of its batch: under a backlog its
    batches take every size up to 500 streams, which must not compile a statement each (they
    would push every other statement out of the connection's cache of 128). A stream named by
    several appends of a batch is asked for once, and the answers are the same."""
    path = tmp_path / "events.sqlite3"
    store = await SqliteEventStore.open(path)
    try:
        # Every seventh stream has events, its version n % 3; participant-7 is deleted.
        await store.append_many(
            [
                StreamAppend(f"participant-{n}", _events(n % 3 + 1), NO_STREAM)
                for n in range(0, 500, 7)
            ]
        )
        await store.delete_stream("participant-7")
    finally:
        await store.close()
    db = sqlite3.connect(path, factory=_SqlTexts)
    try:
        stream_ids = [f"participant-{n}" for n in range(500)]
        for size in range(1, 501):
            asked = stream_ids[:size] + stream_ids[size // 2 : size]  # some named twice
            assert sqlite_append.stored_versions(db, asked) == {
                f"participant-{n}": (n % 3, n == 7) for n in range(0, size, 7)
            }
        # 1..16 asked as they are, then 32, 64, 128, 256 and 512.
        assert len(db.texts) == 21
    finally:
        db.close()
