"""`append_recorded`: a load whose positions and versions are decided is written in one
transaction and reads back as appends would; what breaks the store's rules writes nothing."""

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest

from bilet.eventstore import EventIdsConflict, NewEvent, RecordedEvent, WrongExpectedVersion
from bilet.eventstore.sqlite import SqliteEventStore
from bilet.eventstore.sqlite_bulk import append_recorded

NOW = datetime(2026, 10, 1, tzinfo=UTC)


def _recorded(stream_id: str, version: int, position: int) -> RecordedEvent:
    data = f'{{"n": {position}}}'.encode()
    return RecordedEvent(stream_id, version, position, uuid4(), "Happened", data, b"{}", NOW)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteEventStore]:
    opened = await SqliteEventStore.open(tmp_path / "events.sqlite3")
    yield opened
    await opened.close()


def _shape(events: list[RecordedEvent]) -> list[tuple[object, ...]]:
    return [(e.stream_id, e.version, e.position, e.event_id, e.type, e.data) for e in events]


async def test_a_load_reads_back_as_appended_and_appends_continue_it(
    store: SqliteEventStore,
) -> None:
    await store.append("school-1", [NewEvent("Happened", b"{}")])
    load = [_recorded("pupil-1", 0, 2), _recorded("school-1", 1, 3), _recorded("pupil-1", 1, 4)]
    await append_recorded(store, load)
    assert _shape(await store.read_all(1, 10)) == _shape(load)
    assert await store.stream_version("pupil-1") == 1
    assert [e.version for e in await store.read_stream("school-1")] == [0, 1]
    result = await store.append("pupil-1", [NewEvent("Happened", b"{}")], 1)
    assert (result.version, result.position) == (2, 5)


@pytest.mark.parametrize(
    ("load", "refusal"),
    [
        ([_recorded("pupil-1", 0, 4)], ValueError),  # position 3 skipped
        ([_recorded("pupil-1", 0, 3), _recorded("pupil-1", 2, 4)], ValueError),  # version skipped
        ([_recorded("school-1", 0, 3)], WrongExpectedVersion),  # the stream is at version 0
        ([_recorded("pupil-1", 1, 3)], WrongExpectedVersion),  # a new stream starts at 0
    ],
)
async def test_a_load_that_breaks_the_rules_writes_nothing(
    store: SqliteEventStore, load: list[RecordedEvent], refusal: type[Exception]
) -> None:
    await store.append("school-1", [NewEvent("Happened", b"{}")])
    with pytest.raises(refusal):
        await append_recorded(store, [_recorded("pupil-2", 0, 2), *load])
    assert await store.head_position() == 1
    assert await store.stream_version("pupil-2") is None


async def test_a_stored_event_id_fails_the_load(store: SqliteEventStore) -> None:
    first = _recorded("pupil-1", 0, 1)
    await append_recorded(store, [first])
    again = first._replace(stream_id="pupil-2", position=2)
    with pytest.raises(EventIdsConflict):
        await append_recorded(
            store, [_recorded("pupil-3", 0, 2)._replace(position=2), again._replace(position=3)]
        )
    assert await store.head_position() == 1


async def test_a_constraint_other_than_the_event_ids_fails_the_load_as_itself(
    store: SqliteEventStore,
) -> None:
    """Only the events' unique index on event ids makes `EventIdsConflict` (docs/adr/0100)."""
    db = sqlite3.connect(store.path, isolation_level=None)
    try:  # a constraint of the kind no schema of the store has: SQLite's RAISE in a trigger
        db.execute(
            "CREATE TRIGGER refused BEFORE INSERT ON events WHEN NEW.stream_id = 'pupil-2' "
            "BEGIN SELECT RAISE(ABORT, 'refused by a constraint'); END"
        )
    finally:
        db.close()
    with pytest.raises(sqlite3.IntegrityError, match="refused by a constraint") as refused:
        await append_recorded(store, [_recorded("pupil-1", 0, 1), _recorded("pupil-2", 0, 2)])
    assert not isinstance(refused.value, EventIdsConflict)
    assert await store.head_position() == 0
