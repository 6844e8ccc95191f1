"""Bulk loading of a SQLite event store: events whose streams, versions and positions a load has
already decided (the simulated season's unit of work, docs/adr/0069) written in one transaction
with one `executemany`, instead of an append (a stream lookup, an insert, an upsert) per stream.

The store's rules still hold, checked inside the transaction: the events continue the store's
positions without a gap and each stream's versions from its stored version, and an event id
already stored fails the load (`EventIdsConflict`); on any refusal nothing is written. It is an
addition beside `SqliteEventStore` (the command path's appends are unchanged), on the store's
own writer connection, so it takes the write lock as an append does and wakes the same
subscribers.
"""

import itertools
import sqlite3
import time
from collections.abc import Sequence

from bilet.eventstore.errors import EventIdsConflict, WrongExpectedVersion
from bilet.eventstore.model import NO_STREAM, RecordedEvent, category_of
from bilet.eventstore.sqlite import SqliteEventStore
from bilet.eventstore.sqlite_append import event_id_taken, stored_versions, undelete


async def append_recorded(store: SqliteEventStore, events: Sequence[RecordedEvent]) -> None:
    """Write `events` at their own positions and versions, all or nothing (their `recorded_at`
    is the commit's time, as an append's)."""
    if not events:
        return
    _check_consecutive(events)

    def write(db: sqlite3.Connection) -> None:
        store._wrote(event.stream_id for event in events)  # the same step as the write
        _write(db, events)

    await store._writer.run(write)
    store._head_seen = max(store._head_seen, events[-1].position)
    store._wake_peers()


def _check_consecutive(events: Sequence[RecordedEvent]) -> None:
    """Positions one after another, and each stream's versions too."""
    last: dict[str, int] = {}
    for previous, event in itertools.pairwise(events):
        if event.position != previous.position + 1:
            raise ValueError(f"position {event.position} does not follow {previous.position}")
    for event in events:
        version = last.get(event.stream_id)
        if version is not None and event.version != version + 1:
            raise ValueError(f"{event.stream_id}: version {event.version} after {version}")
        last[event.stream_id] = event.version


def _write(db: sqlite3.Connection, events: Sequence[RecordedEvent]) -> None:
    db.execute("BEGIN IMMEDIATE")
    try:
        deleted = _check_against_stored(db, events)
        now = time.time()
        db.executemany(
            "INSERT INTO events (position, stream_id, version, event_id, type, data, metadata, "
            "recorded_at, category) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    e.position,
                    e.stream_id,
                    e.version,
                    e.event_id.bytes,
                    e.type,
                    e.data,
                    e.metadata,
                    now,
                    category_of(e.stream_id),
                )
                for e in events
            ],
        )
        undelete(db, deleted)  # as an append to a deleted stream does
        db.execute("DELETE FROM position_floor")  # the load's positions are above it
        db.execute("COMMIT")
    except sqlite3.IntegrityError as error:
        db.execute("ROLLBACK")
        if not event_id_taken(error):
            raise  # another constraint refused a row: not a question of event ids
        raise EventIdsConflict("event ids of this load are already stored") from error
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _check_against_stored(db: sqlite3.Connection, events: Sequence[RecordedEvent]) -> list[str]:
    """The first event follows the store's last position (or a purge's floor), and each
    stream's first event its stored version; under the write lock, so nothing moves meanwhile.
    Returns the streams of the load that are deleted."""
    (top,) = db.execute("SELECT MAX(position) FROM events").fetchone()
    floor = db.execute("SELECT position FROM position_floor").fetchone()
    head = max(top or 0, floor[0] if floor else 0)
    if events[0].position != head + 1:
        raise ValueError(f"the load starts at position {events[0].position}, the store at {head}")
    first: dict[str, int] = {}
    for event in events:
        first.setdefault(event.stream_id, event.version)
    stored = stored_versions(db, list(first))
    for stream_id, version in first.items():
        known, _ = stored.get(stream_id, (None, False))
        if version != (0 if known is None else known + 1):
            raise WrongExpectedVersion(stream_id, version - 1 if version else NO_STREAM, known)
    return [stream_id for stream_id, (_, deleted) in stored.items() if deleted]
