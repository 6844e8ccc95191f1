"""What only the SQLite adapter has to prove: sharing its file with another writer."""

import asyncio
import json
import pickle
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar
from uuid import UUID, uuid4

import pytest

from bilet.eventstore import (
    NO_STREAM,
    START,
    AppendResult,
    EventIdsConflict,
    NewEvent,
    RecordedEvent,
    StreamAppend,
    StreamMetadata,
    WrongExpectedVersion,
)
from bilet.eventstore.sqlite import SqliteEventStore
from bilet.eventstore.sqlite_bulk import append_recorded

T = TypeVar("T")


async def test_an_append_waits_for_another_writer_without_blocking_the_event_loop(
    tmp_path: Path,
) -> None:
    store = await SqliteEventStore.open(tmp_path / "events.sqlite3")
    other_process = sqlite3.connect(tmp_path / "events.sqlite3", isolation_level=None)
    try:
        other_process.execute("BEGIN IMMEDIATE")  # holds the write lock
        append = asyncio.create_task(
            store.append(
                "participant-1", [NewEvent("Registered", json.dumps({}).encode())], NO_STREAM
            )
        )
        ticks = 0
        for _ in range(20):
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks == 20, "the event loop kept running while the append waited"
        assert not append.done()
        other_process.execute("COMMIT")
        result = await asyncio.wait_for(append, 5)
        assert result.version == 0
        assert [e.version for e in await store.read_stream("participant-1")] == [0]
    finally:
        other_process.close()
        await store.close()


async def test_an_append_gives_up_when_the_lock_is_never_released(tmp_path: Path) -> None:
    store = await SqliteEventStore.open(tmp_path / "events.sqlite3")
    store._writer.BUSY_WAIT_LIMIT = 0.2
    other_process = sqlite3.connect(tmp_path / "events.sqlite3", isolation_level=None)
    try:
        other_process.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError) as busy:
            await store.append("participant-1", [NewEvent("Registered", b"{}")], NO_STREAM)
        assert busy.value.sqlite_errorcode == sqlite3.SQLITE_BUSY
        other_process.execute("ROLLBACK")
        assert await store.stream_version("participant-1") is None
    finally:
        other_process.close()
        await store.close()


async def test_a_purged_stream_leaves_no_trace_in_the_database_or_its_wal(tmp_path: Path) -> None:
    """What a purge removes is gone from the files, not only from reads: deleted cells are
    zeroed (secure_delete) and the WAL, which holds older images of the pages, is emptied."""
    secret_key = "5f" * 32  # stands for a keyed hash of a СНИЛС: in the stream id and the data
    person_key = "a7" * 32
    secret_stream = f"reservation-{secret_key}"
    store = await SqliteEventStore.open(tmp_path / "events.sqlite3")
    try:
        store.allow_purging({"reservation"})
        for n in range(50):  # other streams around it, before and after
            await store.append(f"reservation-{n:064x}", [NewEvent("ChildReserved", b"{}")])
        data = json.dumps({"reservation_key": secret_key, "person_key": person_key}).encode()
        await store.append(secret_stream, [NewEvent("ChildReserved", data)], NO_STREAM)
        await store.append(secret_stream, [NewEvent("DuplicateReviewRequested", data)], 0)
        for n in range(50, 100):
            await store.append(f"reservation-{n:064x}", [NewEvent("ChildReserved", b"{}")])

        def files_holding(needle: bytes) -> list[str]:
            return sorted(
                p.name for p in tmp_path.iterdir() if p.is_file() and needle in p.read_bytes()
            )

        assert files_holding(secret_key.encode()), "the scan sees the key while it is stored"
        assert await store.purge_stream(secret_stream)
        for needle in (secret_key.encode(), person_key.encode()):
            assert files_holding(needle) == []
        assert await store.stream_version(f"reservation-{0:064x}") == 0
    finally:
        await store.close()
    for needle in (secret_key.encode(), person_key.encode()):
        assert files_holding(needle) == []


async def test_appends_committed_together_succeed_or_fail_each_on_its_own(tmp_path: Path) -> None:
    """Appends waiting for the writer share one commit (group commit), yet one refused append
    (a wrong expected version, an event id already stored) takes none of the others with it, and
    each caller hears of its append only once it is on disk."""
    path = tmp_path / "events.sqlite3"
    store = await SqliteEventStore.open(path)
    other_process = sqlite3.connect(path, isolation_level=None)
    taken = NewEvent("Registered", b"{}")
    await store.append("participant-taken", [taken], NO_STREAM)
    try:
        other_process.execute("BEGIN IMMEDIATE")  # every append below waits, queued together
        appends = [
            store.append(f"participant-{n}", [NewEvent("Registered", b"{}")], NO_STREAM)
            for n in range(6)
        ]
        appends.insert(2, store.append("participant-taken", [NewEvent("Moved", b"{}")], 5))
        appends.insert(4, store.append("participant-other", [taken], NO_STREAM))
        pending = asyncio.gather(*appends, return_exceptions=True)
        await asyncio.sleep(0.05)
        assert not pending.done()
        other_process.execute("COMMIT")
        outcomes = await asyncio.wait_for(pending, 10)
    finally:
        other_process.close()
    assert isinstance(outcomes[2], WrongExpectedVersion)
    assert isinstance(outcomes[4], EventIdsConflict)
    stored = [outcome for n, outcome in enumerate(outcomes) if n not in (2, 4)]
    assert all(isinstance(outcome, AppendResult) for outcome in stored)
    await store.close()
    on_disk = sqlite3.connect(path)
    try:
        streams = {row[0] for row in on_disk.execute("SELECT stream_id FROM events")}
    finally:
        on_disk.close()
    assert streams == {"participant-taken", *(f"participant-{n}" for n in range(6))}


async def test_reads_of_all_events_near_the_head_are_whole_pages_read_inline(
    tmp_path: Path,
) -> None:
    """A read of all events that starts near the head (a view catching up with the commit just
    made) runs inline, without the reader thread; one that meets more rows than that, here
    written by another store on the file (another process: this store has not seen them), still
    answers whole pages in order, filters included."""
    path = tmp_path / "events.sqlite3"
    store = await SqliteEventStore.open(path)
    other = await SqliteEventStore.open(path)
    thread_reads = 0
    read_on_thread = store._reader.run

    async def counted(work):  # type: ignore[no-untyped-def]
        nonlocal thread_reads
        thread_reads += 1
        return await read_on_thread(work)

    store._reader.run = counted  # type: ignore[method-assign]
    try:
        mine = await store.append("participant-1", [NewEvent("Registered", b"{}")], NO_STREAM)
        assert [e.position for e in await store.read_all(mine.position - 1)] == [mine.position]
        assert await store.read_all(mine.position) == []
        assert thread_reads == 0
        for n in range(150):
            kind = "Registered" if n % 3 else "Moved"
            await other.append(f"school-{n % 7}", [NewEvent(kind, b"{}")])
        page = await store.read_all(mine.position, 100)
        assert [e.position for e in page] == list(range(mine.position + 1, mine.position + 101))
        rest = await store.read_all(page[-1].position, 1000)
        assert [e.position for e in page + rest] == list(
            range(mine.position + 1, mine.position + 151)
        )
        moved = await store.read_all(0, 1000, event_types=["Moved"])
        assert [e.position for e in moved] == [e.position for e in page + rest if e.type == "Moved"]
        assert len(await store.read_all(0, 60, categories=["school"])) == 60
        assert thread_reads > 0  # the long read went on to the thread
    finally:
        await other.close()
        await store.close()


async def test_change_marks_move_with_any_write_of_the_category_and_only_then(
    tmp_path: Path,
) -> None:
    """`change_marks` (docs/adr/0081): equal only while nobody wrote the category — not this
    store (an append, a deletion, new metadata, a purge, a bulk load) nor another connection on
    the file (another store, another process); a write of another category leaves it equal."""
    path = tmp_path / "events.sqlite3"
    store = await SqliteEventStore.open(path)
    other = await SqliteEventStore.open(path)
    store.allow_purging(["school"])
    try:

        async def mark() -> object:
            marks = await store.change_marks()
            return marks("school")

        async def moved(write: Callable[[], Awaitable[object]]) -> bool:
            before = await mark()
            await write()
            return await mark() != before

        before = await mark()
        assert await mark() == before  # nothing written: the same mark
        assert not await moved(lambda: store.append("region-1", [NewEvent("Admitted", b"{}")]))
        assert await moved(lambda: store.append("school-1", [NewEvent("Registered", b"{}")]))
        assert await moved(lambda: other.append("region-2", [NewEvent("Admitted", b"{}")]))
        assert await moved(lambda: store.set_stream_metadata("school-1", StreamMetadata(1)))
        assert await moved(lambda: store.delete_stream("school-1"))
        assert await moved(lambda: store.append("school-2", [NewEvent("Registered", b"{}")]))
        loaded = RecordedEvent(
            "school-3",
            0,
            await store.head_position() + 1,
            uuid4(),
            "Registered",
            b"{}",
            b"{}",
            datetime.now(UTC),
        )
        assert await moved(lambda: append_recorded(store, [loaded]))
        assert await moved(lambda: store.purge_stream("school-2"))
    finally:
        await other.close()
        await store.close()


async def test_change_marks_given_do_not_move_with_writes_made_after(tmp_path: Path) -> None:
    """A mark taken is a snapshot: compared with a later call's, it tells a write in between
    (the function given must not read the store's live counts)."""
    store = await SqliteEventStore.open(tmp_path / "events.sqlite3")
    try:
        marks = await store.change_marks()
        taken = marks("school")
        await store.append("school-1", [NewEvent("Registered", b"{}")])
        assert marks("school") == taken
        assert (await store.change_marks())("school") != taken
    finally:
        await store.close()


async def test_a_purge_tells_its_caller_once_committed_before_emptying_the_wal(
    tmp_path: Path,
) -> None:
    """`purge_stream(then=...)` (docs/adr/0081): the caller's views are told in the step the
    purge commits, before the WAL is emptied (which may wait up to seconds for readers), so no
    request sees the stream purged while they still hold it; the WAL is emptied all the same."""
    path = tmp_path / "events.sqlite3"
    wal = path.with_name(path.name + "-wal")
    store = await SqliteEventStore.open(path)
    other_process = sqlite3.connect(path, isolation_level=None)
    told: list[tuple[int, bool]] = []
    try:
        store.allow_purging({"reservation"})
        await store.append("reservation-1", [NewEvent("ChildReserved", b"{}")])

        def then() -> None:
            (left,) = other_process.execute(
                "SELECT COUNT(*) FROM events WHERE stream_id = 'reservation-1'"
            ).fetchone()
            told.append((left, wal.stat().st_size > 0))

        assert await store.purge_stream("reservation-1", then=then)
        assert told == [(0, True)]  # purged already, the WAL not yet emptied
        assert wal.stat().st_size == 0
        # Told also when there was nothing to remove (the views forget all the same).
        assert not await store.purge_stream("reservation-1", then=then)
        assert len(told) == 2
    finally:
        other_process.close()
        await store.close()


async def test_events_read_back_are_what_the_standard_constructors_build(tmp_path: Path) -> None:
    """Read rows are turned into events without `UUID.__init__` or the named tuple's `__new__`
    (docs/adr/0092): what comes out must be indistinguishable from what those build — equal,
    same hash, same types, a UUID that prints, compares, pickles and knows its safety as one
    made from the same bytes."""
    store = await SqliteEventStore.open(tmp_path / "events.sqlite3")
    try:
        sent = [NewEvent("Registered", b'{"n": 1}', b'{"m": 1}'), NewEvent("Moved", b"{}")]
        await store.append("participant-1", sent, NO_STREAM)
        for read in (await store.read_all(), await store.read_stream("participant-1")):
            for event, new in zip(read, sent, strict=True):
                built = RecordedEvent(
                    "participant-1",
                    event.version,
                    event.position,
                    UUID(bytes=new.event_id.bytes),
                    new.type,
                    new.data,
                    new.metadata,
                    event.recorded_at,
                )
                assert type(event) is RecordedEvent
                assert event == built
                assert hash(event) == hash(built)
                assert event._asdict() == built._asdict()
                assert type(event.event_id) is UUID
                assert event.event_id == new.event_id
                assert hash(event.event_id) == hash(new.event_id)
                assert str(event.event_id) == str(new.event_id)
                assert event.event_id.is_safe is UUID(bytes=new.event_id.bytes).is_safe
                assert pickle.loads(pickle.dumps(event)) == event  # noqa: S301 (our own bytes)
    finally:
        await store.close()


async def test_appends_sharing_a_commit_take_savepoints_only_when_one_could_fail_half_written(
    tmp_path: Path,
) -> None:
    """A shared commit's appends are first written together (docs/adr/0110); an event id stored
    already, found only by the INSERT, rolls that attempt back, and the commit is made again
    append by append. There an append of one event runs without a savepoint (docs/adr/0092): its
    one-row INSERT is all it writes, and SQLite undoes a failed INSERT by itself. An append of
    several rows still takes one, so an event id already stored in its second row takes its
    first row back with it. The position floor is asked once per attempt."""
    store = await SqliteEventStore.open(tmp_path / "events.sqlite3")
    statements: list[str] = []
    taken = NewEvent("Registered", b"{}")
    await store.append("participant-taken", [taken], NO_STREAM)
    try:
        store._writer._db.set_trace_callback(statements.append)
        outcomes = await asyncio.gather(
            store.append("participant-1", [NewEvent("Registered", b"{}")], NO_STREAM),
            store.append("participant-taken", [NewEvent("Moved", b"{}")], 5),
            store.append("participant-2", [NewEvent("Registered", b"{}"), taken], NO_STREAM),
            store.append("participant-3", [taken], NO_STREAM),
            store.append("participant-4", [NewEvent("Registered", b"{}")], NO_STREAM),
            return_exceptions=True,
        )
        # Together (one INSERT statement, refused at participant-2's second row), then each
        together, each = _split_at(statements, "ROLLBACK")
        assert together.count("BEGIN IMMEDIATE") == each.count("BEGIN IMMEDIATE") == 1
        assert sum(sql.startswith("WITH asked") for sql in together) == 1  # every stream
        assert "SAVEPOINT one_append" not in together
        assert each.count("SAVEPOINT one_append") == 1  # participant-2's, two rows
        assert each.count("ROLLBACK TO one_append") == 1
        assert each.count("SELECT 1 FROM position_floor") == 1
        assert each.count("COMMIT") == 1
        assert isinstance(outcomes[1], WrongExpectedVersion)
        assert isinstance(outcomes[2], EventIdsConflict)
        assert isinstance(outcomes[3], EventIdsConflict)
        stored = [r for r in (outcomes[0], outcomes[4]) if isinstance(r, AppendResult)]
        assert [(r.stream_id, r.version, r.position) for r in stored] == [
            ("participant-1", 0, 2),
            ("participant-4", 0, 3),
        ]
        assert [e.stream_id for e in await store.read_all()] == [
            "participant-taken",
            "participant-1",
            "participant-4",
        ]
        for refused in ("participant-2", "participant-3"):
            assert await store.stream_version(refused) is None
    finally:
        await store.close()


def _split_at(statements: list[str], statement: str) -> tuple[list[str], list[str]]:
    """The statements up to the first `statement` (included), and those after it."""
    at = statements.index(statement) + 1
    return statements[:at], statements[at:]


async def test_appends_sharing_a_commit_after_a_purge_of_the_newest_start_above_its_floor(
    tmp_path: Path,
) -> None:
    """A purge of the newest events leaves a floor; the appends of the next shared commit start
    above it even when the first of them is refused (its savepoint rolls the floor's clearing
    back with it), and the floor is gone once one of them is committed."""
    store = await SqliteEventStore.open(tmp_path / "events.sqlite3")
    try:
        store.allow_purging({"reservation"})
        await store.append("participant-1", [NewEvent("Registered", b"{}")], NO_STREAM)
        await store.append("reservation-1", [NewEvent("ChildReserved", b"{}")])
        await store.append("reservation-1", [NewEvent("ChildReserved", b"{}")])
        assert await store.purge_stream("reservation-1")
        outcomes = await asyncio.gather(
            store.append("participant-1", [NewEvent("Moved", b"{}")], NO_STREAM),  # it exists
            store.append("participant-2", [NewEvent("Registered", b"{}")], NO_STREAM),
            store.append("participant-3", [NewEvent("Registered", b"{}")], NO_STREAM),
            return_exceptions=True,
        )
        assert isinstance(outcomes[0], WrongExpectedVersion)
        stored = [r for r in outcomes[1:] if isinstance(r, AppendResult)]
        assert [(r.stream_id, r.position) for r in stored] == [
            ("participant-2", 4),
            ("participant-3", 5),
        ]
        assert not store._floor_set(store._writer._db)
    finally:
        await store.close()


async def test_an_append_wakes_the_stores_open_on_its_file_and_only_those(
    tmp_path: Path,
) -> None:
    """Stores on one file wake each other's subscribers; a store alone on its file skips the
    look for peers (docs/adr/0092), so the count of stores open on a file must follow stores
    opened and closed."""
    path = tmp_path / "events.sqlite3"
    first = await SqliteEventStore.open(path)
    second = await SqliteEventStore.open(path)
    alone = await SqliteEventStore.open(tmp_path / "other.sqlite3")
    await second.close()
    third = await SqliteEventStore.open(path)
    try:
        await third._prepare_wakeups()  # as a subscription does when it starts
        await alone._prepare_wakeups()
        third_waits, alone_waits = third._wakeup, alone._wakeup
        await first.append("participant-1", [NewEvent("Registered", b"{}")])
        assert third_waits.is_set()
        assert not alone_waits.is_set()
        await alone.append("participant-1", [NewEvent("Registered", b"{}")])
        assert alone_waits.is_set()
    finally:
        for store in (first, third, alone):
            await store.close()


async def test_an_append_in_flight_when_its_store_closes_still_wakes_the_others_on_its_file(
    tmp_path: Path,
) -> None:
    # Given two stores on one file, the second with a subscription's wake-up prepared
    path = tmp_path / "events.sqlite3"
    closing = await SqliteEventStore.open(path)
    following = await SqliteEventStore.open(path)
    try:
        await following._prepare_wakeups()
        waits = following._wakeup

        # When the first store is closed while its append is under way
        appending = asyncio.create_task(
            closing.append("participant-1", [NewEvent("Registered", b"{}")])
        )
        await asyncio.sleep(0)  # the append has started
        await closing.close()  # waits for it
        await appending

        # Then the other store's subscribers hear of it now, not at their next poll
        assert waits.is_set()
    finally:
        await following.close()


def _count_thread_reads(store: SqliteEventStore) -> Callable[[], int]:
    """How many reads `store` has handed to its reader thread since this was called."""
    count = 0
    read_on_thread = store._reader.run

    async def counted(work):  # type: ignore[no-untyped-def]
        nonlocal count
        count += 1
        return await read_on_thread(work)

    store._reader.run = counted  # type: ignore[method-assign]
    return lambda: count


async def test_short_reads_run_inline_and_stopped_ones_answer_the_same_on_the_reader_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The head, a stream's metadata and version, a stream, and a filtered page of all events
    far from the head (its category's index finds a few rows) take no hand-off to the reader
    thread (ADR 0103). Stopped inline (a budget of one instruction), each gives the same answer
    through the thread, and the stop is not left behind for the writes that follow."""
    import bilet.eventstore.sqlite as sqlite_module

    store = await SqliteEventStore.open(tmp_path / "events.sqlite3")
    try:
        grant = await store.append("grant-1", [NewEvent("GrantIssued", b"{}")], NO_STREAM)
        await store.set_stream_metadata("grant-1", StreamMetadata(truncate_before=0))
        for n in range(4):  # far more than a near-head read's rows, in other categories
            await store.append_many(
                [
                    StreamAppend(f"participant-{n}-{m}", [NewEvent("Registered", b"{}")])
                    for m in range(50)
                ]
            )
        head = await store.head_position()
        assert head == grant.position + 200

        async def reads() -> list[object]:
            return [
                await store.head_position(),
                await store.get_stream_metadata("grant-1"),
                await store.stream_version("grant-1"),
                await store.read_stream("grant-1"),
                await store.read_all(grant.position, 1000, categories=["grant"]),
                await store.read_all(START, 1000, categories=["grant"]),
                await store.read_all(START, 2, event_types=["Registered"]),
            ]

        thread_reads = _count_thread_reads(store)
        inline = await reads()
        assert thread_reads() == 0
        assert inline[0] == head
        assert inline[4] == []
        assert [e.position for e in inline[5]] == [grant.position]  # type: ignore[attr-defined]
        assert [e.position for e in inline[6]] == [grant.position + 1, grant.position + 2]  # type: ignore[attr-defined]

        monkeypatch.setattr(sqlite_module, "INLINE_READ_STEPS", 1)
        assert await reads() == inline
        assert thread_reads() == len(inline)
        # A commit of many statements and rows after the stopped reads: nothing stops it.
        await store.append_many(
            [StreamAppend(f"school-{n}", [NewEvent("Opened", b"{}")] * 1) for n in range(300)]
        )
        assert await store.head_position() == head + 300
    finally:
        await store.close()


async def test_a_filtered_read_too_long_for_the_loop_is_stopped_and_read_whole_on_the_thread(
    tmp_path: Path,
) -> None:
    """A filter of several types sorts every match after the position before its limit applies:
    from the start of a store of 1,200 matches that is more than an inline read may take, so it
    is stopped and the page read on the reader thread, whole and in order."""
    store = await SqliteEventStore.open(tmp_path / "events.sqlite3")
    try:
        for n in range(6):
            await store.append_many(
                [
                    StreamAppend(
                        f"participant-{n}-{m}",
                        [NewEvent("Registered" if m % 2 else "Moved", b"{}")],
                    )
                    for m in range(200)
                ]
            )
        import bilet.eventstore.sqlite as sqlite_module

        def sorted_matches(db: sqlite3.Connection) -> list[int]:
            query = (
                f"SELECT {sqlite_module.COLUMNS} FROM events "  # noqa: S608
                "WHERE position > 0 AND type IN (?, ?) ORDER BY position LIMIT 64"
            )
            return [row[2] for row in db.execute(query, ("Registered", "Moved")).fetchall()]

        steps = sqlite_module.INLINE_READ_STEPS
        assert store._writer.read_short(sorted_matches, steps) is sqlite_module._STOPPED
        assert store._writer.read_short(sorted_matches, 1_000_000) == list(range(1, 65))
        thread_reads = _count_thread_reads(store)
        page = await store.read_all(START, 1000, event_types=["Registered", "Moved"])
        assert [e.position for e in page] == list(range(1, 1001))
        assert thread_reads() == 1
    finally:
        await store.close()


async def test_a_store_written_on_another_threads_loop_is_read_through_its_reader(
    tmp_path: Path,
) -> None:
    """The portfolio's audit trail is written on a loop of its own and read from the API's (ADR
    0103, amended): a read from another thread never runs on the writer's connection, whose
    progress handler could stop that thread's write (or both threads wait on each other)."""
    import threading

    import bilet.eventstore.sqlite as sqlite_module

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def there(work: Awaitable[T]) -> T:
        async def run() -> T:
            return await work

        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(run(), loop))

    store = await there(SqliteEventStore.open(tmp_path / "audit.sqlite3"))
    try:
        await there(store.append("audit-1", [NewEvent("PortfolioRead", b"{}") for _ in range(3)]))
        writer = store._writer  # the connection of the audit's loop
        handlers: list[object] = []
        real_db = writer._db

        class Watched:  # records any progress handler set on the writer's connection
            def __getattr__(self, name: str) -> object:
                return getattr(real_db, name)

            def set_progress_handler(self, handler: object, steps: int) -> None:
                handlers.append(handler)
                real_db.set_progress_handler(handler, steps)  # type: ignore[arg-type]

        writer._db = Watched()  # type: ignore[assignment]
        stopped = writer.read_short(lambda db: 1, sqlite_module.INLINE_READ_STEPS)
        read = await store.read_all(0, 10, categories=["audit"])
        head = await store.head_position()
        writer._db = real_db

        assert stopped is sqlite_module._STOPPED
        assert handlers == []
        assert [event.stream_id for event in read] == ["audit-1"] * 3
        assert head == read[-1].position
    finally:
        await there(store.close())
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


async def test_a_filtered_read_without_a_limit_finds_nothing_or_everything(tmp_path: Path) -> None:
    # A negative limit is SQLite's "no limit": tried inline as a page of its rows, then the rest.
    store = await SqliteEventStore.open(tmp_path / "events.sqlite3")
    try:
        assert await store.read_all(0, -1, categories=["nothing"]) == []
        await store.append_many(
            [StreamAppend(f"grant-{n}", [NewEvent("GrantIssued", b"{}")]) for n in range(100)]
        )
        found = await store.read_all(0, -1, categories=["grant"])
        assert [event.position for event in found] == sorted({e.position for e in found})
        assert len(found) == 100
    finally:
        await store.close()
