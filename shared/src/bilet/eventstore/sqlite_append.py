"""The statements of one SQLite append, set-based: a fixed handful per commit, however many streams.

An append of N streams used to cost four statements per stream (look up its version, insert its
events, ask for `last_insert_rowid()`, upsert its version): fifteen for a registration's three
streams with the commit's own. Here the streams' versions are looked up in one statement and
every event of the commit goes through one prepared `INSERT` (`executemany`), chunked under
SQLite's limit on a statement's variables — a fixed handful whatever the number of streams
(docs/adr/0075). The events are not one multi-row `INSERT`: measured, it cost more CPU than
stepping one prepared statement per row.

The appends of a shared commit (docs/adr/0110) go the same way, together: one lookup of the
versions of all their streams, one prepared `INSERT` stepped for all their events
(`append_together`); an append alone is a batch of one (`append_locked`).

Positions are asked for once: the events table's `position` is its rowid and new rows are given
the largest rowid plus one, so the rows of one commit's append take consecutive positions under
the write lock and `last_insert_rowid()` names the last one; each stream's last position is
counted back from it.

A stream's version is its last event's, read from the events' (stream_id, version) index, which
every append writes anyway: the `streams` table holds only what a stream's metadata sets
(`truncate_before`, `deleted`), so an append writes no row of it — one B-tree and one statement
fewer per append — unless the stream was deleted, which the append undoes (docs/adr/0100).
"""

import functools
import sqlite3
import time
from collections.abc import Sequence
from typing import Final

from bilet.eventstore.errors import WrongExpectedVersion
from bilet.eventstore.model import AppendResult, StreamAppend, category_of
from bilet.eventstore.rules import check_expected_version

# Streams per lookup of versions and per `IN (...)`: SQLite limits a statement's variables (32,766
# since 3.32); the statement cache keeps one compiled statement per distinct count, so commands
# of a few streams reuse theirs.
STREAMS_PER_STATEMENT: Final = 500
# Counts of streams a lookup of versions asks for as they are; above it, a count is rounded up to
# a power of two, the last stream asked again. sqlite3 keeps 128 compiled statements per
# connection (its default, which the store keeps), and a shared commit asks for every stream of
# its batch: under a backlog, batches of 1..500 streams would compile a statement per count and
# push the others out of the cache. Rounded, they take at most 21 (1..16, 32, 64, 128, 256, 512).
EXACT_COUNT: Final = 16

_INSERT_EVENT = (
    "INSERT INTO events (position, stream_id, version, event_id, type, data, metadata, "
    "recorded_at, category) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# SQLite's own words for a refusal by the events' unique index on event ids (`event_id_taken`).
_EVENT_ID_TAKEN = "UNIQUE constraint failed: events.event_id"

StoredVersion = tuple[int | None, bool]  # the stored version (None: none yet), deleted


def append_locked(
    db: sqlite3.Connection, appends: Sequence[StreamAppend], first_position: int | None
) -> list[AppendResult]:
    """Write `appends` inside a transaction that holds the write lock; `first_position` is the
    position the first event must take (None: SQLite's choice, the largest plus one). Raises
    `WrongExpectedVersion` before writing anything when a stream is not at its expected version,
    and SQLite's `IntegrityError` when an event id is stored already (`event_id_taken`) or any
    other constraint refuses a row."""
    return results_of(append_together(db, (appends,), first_position)[0])


def results_of(outcome: list[AppendResult] | WrongExpectedVersion) -> list[AppendResult]:
    """An append's outcome from `append_together` as `append_locked` gives it: its results, or
    its `WrongExpectedVersion` raised."""
    if isinstance(outcome, WrongExpectedVersion):
        raise outcome
    return outcome


def append_together(
    db: sqlite3.Connection,
    batch: Sequence[Sequence[StreamAppend]],
    first_position: int | None,
) -> list[list[AppendResult] | WrongExpectedVersion]:
    """Write the appends of `batch`, each all or nothing, with one lookup of their streams'
    versions and one prepared `INSERT` for all their events (docs/adr/0110), inside a
    transaction that holds the write lock; each append's outcome, in `batch`'s order.

    Appends are decided in order, each against the versions left by those before it: one whose
    stream is not at its expected version is refused (its `WrongExpectedVersion`) before anything
    is written, and writes nothing; the events of the others take consecutive positions in
    `batch`'s order, the first `first_position` (see `append_locked`). SQLite's `IntegrityError`
    (an event id stored already, any other constraint) is raised as it is, when rows of appends
    before the refused one may be written: the caller rolls the transaction back. So is one
    raised by the undeletion of a deleted stream appended to, which comes after the `INSERT`."""
    stored = stored_versions(db, [append.stream_id for appends in batch for append in appends])
    now = time.time()
    rows: list[tuple[object, ...]] = []
    outcomes: list[list[AppendResult] | WrongExpectedVersion] = []
    # Per accepted append, each stream's new version and the index of its last row.
    written: list[tuple[int, list[tuple[str, int, int]]]] = []
    undeleted: list[str] = []
    for index, appends in enumerate(batch):
        try:
            for append in appends:
                version, deleted = stored.get(append.stream_id, _ABSENT)
                check_expected_version(
                    append.stream_id, append.expected_version, None if deleted else version
                )
        except WrongExpectedVersion as refused:
            outcomes.append(refused)
            continue
        outcomes.append([])  # its results, once the rows' positions are known
        lasts = []
        for append in appends:
            stream_id = append.stream_id
            version, deleted = stored.get(stream_id, _ABSENT)
            if deleted:
                undeleted.append(stream_id)
            version = -1 if version is None else version
            category = category_of(stream_id)
            for event in append.events:
                version += 1
                rows.append(
                    (
                        # NULL: SQLite gives the next position (the largest so far, plus one).
                        None if rows or first_position is None else first_position,
                        stream_id,
                        version,
                        event.event_id.bytes,
                        event.type,
                        event.data,
                        event.metadata,
                        now,
                        category,
                    )
                )
            stored[stream_id] = (version, False)  # for the appends after it
            lasts.append((stream_id, version, len(rows) - 1))
        written.append((index, lasts))
    if not rows:
        return outcomes
    last_position = _insert_events(db, rows)
    if undeleted:
        undelete(db, undeleted)
    first = last_position - len(rows) + 1
    for index, lasts in written:
        outcomes[index] = [
            AppendResult(stream_id, version, first + row) for stream_id, version, row in lasts
        ]
    return outcomes


_ABSENT: Final[StoredVersion] = (None, False)


def position_after_floor(db: sqlite3.Connection) -> int | None:
    """The position the next event must take when a purge removed the newest events (None:
    SQLite's own choice is right), for `append_locked`'s `first_position`; clears the floor,
    which the append then passes. Inside a transaction that holds the write lock."""
    floor = db.execute("SELECT position FROM position_floor").fetchone()
    if floor is None:
        return None
    db.execute("DELETE FROM position_floor")
    (top,) = db.execute("SELECT MAX(position) FROM events").fetchone()
    return None if top is not None and top >= floor[0] else floor[0] + 1


def event_id_taken(error: sqlite3.IntegrityError) -> bool:
    """Whether SQLite refused a row because its event id is stored already (the events' unique
    index on event ids), rather than for any other constraint."""
    return error.sqlite_errorcode == sqlite3.SQLITE_CONSTRAINT_UNIQUE and str(error) == (
        _EVENT_ID_TAKEN
    )


def stored_versions(db: sqlite3.Connection, stream_ids: Sequence[str]) -> dict[str, StoredVersion]:
    """The streams that have events or metadata: their last event's version (None: no event) and
    whether they are deleted. The version is the last of the (stream_id, version) index's keys
    for the stream (one descent), the flag a lookup of the few streams with metadata. A stream
    named more than once (appended to by several appends of a batch) is looked up once."""
    found: dict[str, StoredVersion] = {}
    if len(stream_ids) > 1:
        stream_ids = list(dict.fromkeys(stream_ids))
    for start in range(0, len(stream_ids), STREAMS_PER_STATEMENT):
        chunk = stream_ids[start : start + STREAMS_PER_STATEMENT]
        count = len(chunk)
        if count > EXACT_COUNT:  # rounded up, the last stream asked again (see `EXACT_COUNT`)
            chunk = [*chunk, *[chunk[-1]] * ((1 << (count - 1).bit_length()) - count)]
        for stream_id, version, deleted in db.execute(_versions_query(len(chunk)), chunk):
            if version is not None or deleted is not None:
                found[stream_id] = (version, bool(deleted))
    return found


def last_version(stream_id: str) -> str:
    """SQL for the version of a stream's last event (NULL: it has none): one descent of the
    events' (stream_id, version) index. `stream_id` is an SQL expression naming the stream, a
    parameter or a column with its table's name, so that no column of `events` is taken for it."""
    return (
        # The expression is this code's own (a placeholder or a column), never data.
        f"(SELECT version FROM events WHERE events.stream_id = {stream_id} "  # noqa: S608
        "ORDER BY version DESC LIMIT 1)"
    )


@functools.cache
def _versions_query(count: int) -> str:
    """`stored_versions`' statement for `count` streams, built once per count (the statement
    cache then finds its compiled statement by the same string)."""
    return (
        f"WITH asked (id) AS (VALUES {', '.join(['(?)'] * count)}) "  # noqa: S608
        f"SELECT asked.id, {last_version('asked.id')}, "
        "(SELECT deleted FROM streams WHERE streams.stream_id = asked.id) FROM asked"
    )


def undelete(db: sqlite3.Connection, stream_ids: Sequence[str]) -> None:
    """Streams appended to after their deletion exist again (their `truncate_before` stays)."""
    for start in range(0, len(stream_ids), STREAMS_PER_STATEMENT):
        chunk = stream_ids[start : start + STREAMS_PER_STATEMENT]
        db.execute(
            "UPDATE streams SET deleted = 0 "  # noqa: S608 - placeholders only
            f"WHERE stream_id IN ({', '.join('?' * len(chunk))})",
            chunk,
        )


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
