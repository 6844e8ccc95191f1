"""The SQLite append's statements (`bilet.eventstore.sqlite_append`, docs/adr/0075): a fixed handful
per commit whatever the number of streams, and positions counted from the last row inserted."""

from pathlib import Path
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
