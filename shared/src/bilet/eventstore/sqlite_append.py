"""The statements of one SQLite append, set-based: a fixed handful per commit, however many streams.

An append of N streams used to cost four statements per stream (look up its version, insert its
events, ask for `last_insert_rowid()`, upsert its version): fifteen for a registration's three
streams with the commit's own. Here the streams' versions are looked up in one `IN (...)`, every
event of the commit goes through one prepared `INSERT` (`executemany`), and every stream's new
version into one multi-row upsert (chunked under SQLite's limit on a statement's variables) —
four statements whatever the number of streams (docs/adr/0075). The events are not one multi-row
`INSERT`: measured, it cost more CPU than stepping one prepared statement per row.

Positions are asked for once: the events table's `position` is its rowid and new rows are given
the largest rowid plus one, so the rows of one commit's append take consecutive positions under
the write lock and `last_insert_rowid()` names the last one; each stream's last position is
counted back from it.
"""

import sqlite3
import time
from collections.abc import Sequence
from typing import Final

from bilet.eventstore.model import AppendResult, StreamAppend, category_of
from bilet.eventstore.rules import check_expected_version

# Streams per `IN (...)` and per multi-row upsert: SQLite limits a statement's variables (32,766
# since 3.32); the statement cache keeps one compiled statement per distinct count, so commands
# of a few streams reuse theirs.
STREAMS_PER_STATEMENT: Final = 500

_INSERT_EVENT = (
    "INSERT INTO events (position, stream_id, version, event_id, type, data, metadata, "
    "recorded_at, category) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPSERT_STREAMS = "INSERT INTO streams (stream_id, version) VALUES "
_ON_CONFLICT = " ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, deleted = 0"

StoredVersion = tuple[int | None, bool]  # the stored version (None: none yet), deleted


def append_locked(
    db: sqlite3.Connection, appends: Sequence[StreamAppend], first_position: int | None
) -> list[AppendResult]:
    """Write `appends` inside a transaction that holds the write lock; `first_position` is the
    position the first event must take (None: SQLite's choice, the largest plus one). Raises
    `WrongExpectedVersion` before writing anything when a stream is not at its expected version,
    and SQLite's `IntegrityError` when an event id is stored already."""
    stored = _stored_versions(db, [append.stream_id for append in appends])
    now = time.time()
    rows: list[tuple[object, ...]] = []
    versions: list[tuple[str, int]] = []
    for append in appends:
        version, deleted = stored.get(append.stream_id, (None, False))
        check_expected_version(
            append.stream_id, append.expected_version, None if deleted else version
        )
        first = 0 if version is None else version + 1
        category = category_of(append.stream_id)
        for offset, event in enumerate(append.events):
            rows.append(
                (
                    # NULL: SQLite gives the next position (the largest so far, plus one).
                    first_position if not rows else None,
                    append.stream_id,
                    first + offset,
                    event.event_id.bytes,
                    event.type,
                    event.data,
                    event.metadata,
                    now,
                    category,
                )
            )
        versions.append((append.stream_id, first + len(append.events) - 1))
    last_position = _insert_events(db, rows)
    _upsert_versions(db, versions)
    results = []
    after = len(rows)
    for append, (stream_id, version) in zip(appends, versions, strict=True):
        after -= len(append.events)
        results.append(AppendResult(stream_id, version, last_position - after))
    return results


def _stored_versions(db: sqlite3.Connection, stream_ids: Sequence[str]) -> dict[str, StoredVersion]:
    found: dict[str, StoredVersion] = {}
    for start in range(0, len(stream_ids), STREAMS_PER_STATEMENT):
        chunk = stream_ids[start : start + STREAMS_PER_STATEMENT]
        query = (
            "SELECT stream_id, version, deleted FROM streams "  # noqa: S608
            f"WHERE stream_id IN ({', '.join('?' * len(chunk))})"
        )
        for stream_id, version, deleted in db.execute(query, chunk):
            found[stream_id] = (version, bool(deleted))
    return found


def _insert_events(db: sqlite3.Connection, rows: Sequence[tuple[object, ...]]) -> int:
    """Insert `rows` (one prepared statement stepped per row); the last one's position. A single
    row's position comes with its `INSERT` (the cursor's `lastrowid`): one statement less for
    the commonest append; `executemany` leaves no `lastrowid`, hence the `SELECT` then."""
    if len(rows) == 1:
        last = db.execute(_INSERT_EVENT, rows[0]).lastrowid
        assert last is not None  # an INSERT that stepped sets it
        return last
    db.executemany(_INSERT_EVENT, rows)
    (last,) = db.execute("SELECT last_insert_rowid()").fetchone()
    return int(last)


def _upsert_versions(db: sqlite3.Connection, versions: Sequence[tuple[str, int]]) -> None:
    for start in range(0, len(versions), STREAMS_PER_STATEMENT):
        chunk = versions[start : start + STREAMS_PER_STATEMENT]
        db.execute(
            _UPSERT_STREAMS + ", ".join(["(?, ?)"] * len(chunk)) + _ON_CONFLICT,
            [value for pair in chunk for value in pair],
        )
