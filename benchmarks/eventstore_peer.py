"""The peer side of `bench_eventstore`: the `eventsourcing` library's recorders, used directly.

Everything here is synchronous, as the library is; `bench_eventstore` calls it only while none of
our asyncio code runs. Stream ids are stored as text (`originator_id_type="text"`), so both sides
write the same ids, and the peer skips its UUID conversions. Versions start at 1, as the library's
aggregates number them.
"""

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlsplit

from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

from benchmarks.eventstore_workload import PAYLOAD, PEER_TOPIC, AnswerRecorded, timed

SQLITE_SYNCHRONOUS = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


# ------------------------------------------------------------------ opening


@contextmanager
def sqlite_recorder(path: Path) -> Iterator[SQLiteApplicationRecorder]:
    datastore = SQLiteDatastore(str(path), originator_id_type="text")
    try:
        recorder = SQLiteApplicationRecorder(datastore)
        recorder.create_table()
        yield recorder
    finally:
        datastore.close()


def sqlite_settings(recorder: SQLiteApplicationRecorder) -> dict[str, str]:
    """The journal mode and `synchronous` level the peer's connections run with (it sets WAL and
    leaves `synchronous` at SQLite's default)."""
    with recorder.datastore.get_connection(commit=False) as connection:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode")
        journal_mode = str(cursor.fetchone()[0]).upper()
        cursor.execute("PRAGMA synchronous")
        synchronous = SQLITE_SYNCHRONOUS[int(cursor.fetchone()[0])]
    return {"journal_mode": journal_mode, "synchronous": synchronous}


@contextmanager
def postgres_recorder(
    dsn: str, schema: str, pool_size: int = 1
) -> Iterator[PostgresApplicationRecorder]:
    """A recorder on `schema` (which must exist), with `pool_size` connections and no overflow."""
    url = urlsplit(dsn)
    datastore = PostgresDatastore(
        dbname=url.path.lstrip("/"),
        host=url.hostname or "127.0.0.1",
        port=url.port or 5432,
        user=unquote(url.username or ""),
        password=unquote(url.password or ""),
        pool_size=pool_size,
        max_overflow=0,
        schema=schema,
        originator_id_type="text",
    )
    try:
        recorder = PostgresApplicationRecorder(datastore)
        recorder.create_table()
        yield recorder
    finally:
        datastore.close()


# ------------------------------------------------------------------ workloads


def _event(stream_id: str, version: int) -> StoredEvent:
    return StoredEvent(
        originator_id=stream_id, originator_version=version, topic=PEER_TOPIC, state=PAYLOAD
    )


def seed(recorder: ApplicationRecorder, stream_ids: Sequence[str], length: int, batch: int) -> None:
    """`length` events in each stream, several streams per commit (about `batch` events)."""
    per_commit = max(1, batch // length)
    for start in range(0, len(stream_ids), per_commit):
        recorder.insert_events(
            [
                _event(stream_id, version)
                for stream_id in stream_ids[start : start + per_commit]
                for version in range(1, length + 1)
            ]
        )


def append_new_streams(recorder: ApplicationRecorder, stream_ids: Sequence[str]) -> int:
    for stream_id in stream_ids:
        recorder.insert_events([_event(stream_id, 1)])
    return len(stream_ids)


def load_decide_append(recorder: ApplicationRecorder, stream_ids: Sequence[str]) -> int:
    """For each id: read the stream, fold it (count its events), append the next version."""
    for stream_id in stream_ids:
        count = 0
        last = 0
        for stored in recorder.select_events(stream_id):
            count += 1
            last = stored.originator_version
        assert count > 0
        recorder.insert_events([_event(stream_id, last + 1)])
    return len(stream_ids)


def read_all_decoded(recorder: ApplicationRecorder, page: int) -> int:
    """Everything in notification order, `page` at a time, each event decoded into the model."""
    decoded = 0
    after = 0
    while True:
        notifications = recorder.select_notifications(after, page, inclusive_of_start=False)
        for notification in notifications:
            AnswerRecorded.model_validate_json(notification.state)
            decoded += 1
        if len(notifications) < page:
            return decoded
        after = notifications[-1].id


def concurrent_appends(
    recorder: ApplicationRecorder, per_writer: Sequence[Sequence[str]]
) -> tuple[int, float]:
    """One thread per writer, each appending to its own new streams, timed from the moment every
    thread is ready to go."""
    barrier = threading.Barrier(len(per_writer) + 1)
    errors: list[BaseException] = []

    def write(stream_ids: Sequence[str]) -> None:
        barrier.wait()
        try:
            append_new_streams(recorder, stream_ids)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write, args=(ids,)) for ids in per_writer]
    for thread in threads:
        thread.start()

    def run() -> int:
        barrier.wait()
        for thread in threads:
            thread.join()
        return sum(len(ids) for ids in per_writer)

    result = timed(run)
    if errors:
        raise errors[0]
    return result


# ------------------------------------------------------------------ the fsync limit


def bare_inserts(path: Path, synchronous: str, count: int) -> tuple[int, float]:
    """What one commit costs on this disk: `count` single-row `INSERT` + `COMMIT`s of the payload
    into a two-column table, WAL journal at `synchronous` (the limit sequential appends of any
    event store at that durability approach). Timed after a few untimed commits."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"PRAGMA synchronous={synchronous}")
        connection.execute("CREATE TABLE rows (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")

        def insert(times: int) -> int:
            for _ in range(times):
                connection.execute("BEGIN IMMEDIATE")
                connection.execute("INSERT INTO rows (data) VALUES (?)", (PAYLOAD,))
                connection.execute("COMMIT")
            return times

        insert(10)
        return timed(lambda: insert(count))
    finally:
        connection.close()
