"""The SQLite store's group commit (`bilet.eventstore.sqlite_commits`): a lone append commits in
its caller's step; appends that could share a commit still do (docs/adr/0055, docs/adr/0105)."""

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bilet.eventstore import (
    NO_STREAM,
    AppendResult,
    EventIdsConflict,
    NewEvent,
    StreamAppend,
    WrongExpectedVersion,
    sqlite_commits,
)
from bilet.eventstore.sqlite import SqliteEventStore

T = TypeVar("T")


def _at_once(append: Coroutine[Any, Any, T]) -> T:
    """What `append` returns or raises when it runs to its end in its caller's step; fails the
    test if it waits for anything (a turn of the event loop)."""
    try:
        append.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    append.close()
    raise AssertionError("the append waited for a turn of the event loop")


def _registered() -> list[NewEvent]:
    return [NewEvent("Registered", b"{}")]


@pytest.fixture
async def two_writers(tmp_path: Path) -> AsyncIterator[tuple[SqliteEventStore, sqlite3.Connection]]:
    """A store, and another connection to its file (another process) that a test may make hold
    the write lock; both closed after the test."""
    path = tmp_path / "events.sqlite3"
    store = await SqliteEventStore.open(path)
    other_process = sqlite3.connect(path, isolation_level=None)
    try:
        yield store, other_process
    finally:
        other_process.close()
        await store.close()


async def test_a_lone_append_commits_in_its_callers_step_with_the_same_statements(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a store with nothing else ready on its loop (and a hold no slow disk outlasts)
    monkeypatch.setattr(sqlite_commits, "HOLD_LOOP", 3600.0)
    store = await SqliteEventStore.open(tmp_path / "events.sqlite3")
    statements: list[str] = []
    try:
        taken = NewEvent("Registered", b"{}")
        await store.append("participant-0", [taken], NO_STREAM)
        await asyncio.sleep(0)  # whatever the appends left ready has run
        store._writer._db.set_trace_callback(statements.append)

        # When appends are made one at a time, each alone
        first = _at_once(store.append("participant-1", _registered(), NO_STREAM))
        second = _at_once(store.append("participant-1", _registered(), 0))

        # Then each committed before its caller went on, as one commit of its own
        assert (first.version, first.position) == (0, 2)
        assert (second.version, second.position) == (1, 3)
        assert statements.count("BEGIN IMMEDIATE") == statements.count("COMMIT") == 2
        assert not any(sql.startswith("SAVEPOINT") for sql in statements)
        assert store._commits._committer is None
        assert [e.version for e in await store.read_stream("participant-1")] == [0, 1]

        # And a refused one is raised in its caller's step, having written nothing
        statements.clear()
        with pytest.raises(WrongExpectedVersion):
            _at_once(store.append("participant-1", _registered(), 0))
        with pytest.raises(EventIdsConflict):
            _at_once(store.append("participant-2", [taken], NO_STREAM))
        assert statements.count("ROLLBACK") == 2
        assert "COMMIT" not in statements
        assert await store.stream_version("participant-2") is None
        assert await store.head_position() == 3
    finally:
        await store.close()


async def test_a_lone_append_that_finds_the_file_locked_is_queued_and_commits_once_it_is_free(
    two_writers: tuple[SqliteEventStore, sqlite3.Connection],
) -> None:
    # Given another connection (another process) holding the write lock
    store, other_process = two_writers
    await asyncio.sleep(0)
    other_process.execute("BEGIN IMMEDIATE")

    # When a lone append is made
    append = store.append("participant-1", _registered(), NO_STREAM)
    waiting = append.send(None)

    # Then it waits, queued for the committer that waits the lock out, having written nothing
    assert waiting is not None
    assert store._commits._committer is not None
    await asyncio.sleep(0.05)
    assert other_process.execute("SELECT COUNT(*) FROM events").fetchone() == (0,)

    # And it is committed once the lock is released (its caller gone, as a cancelled one)
    other_process.execute("COMMIT")
    append.close()
    await asyncio.wait_for(store._commits.drain(), 10)
    assert await store.stream_version("participant-1") == 0


async def test_writers_ready_together_still_share_their_commits(tmp_path: Path) -> None:
    # Given sixteen writers started together, each appending four times in a row
    store = await SqliteEventStore.open(tmp_path / "events.sqlite3")
    statements: list[str] = []
    try:
        store._writer._db.set_trace_callback(statements.append)

        async def writer(n: int) -> list[AppendResult]:
            return [
                await store.append(
                    f"participant-{n}", _registered(), version - 1 if version else NO_STREAM
                )
                for version in range(4)
            ]

        # When they run
        results = await asyncio.gather(*(writer(n) for n in range(16)))

        # Then each round of their appends is one commit, in the order they were made, its
        # appends written together: one lookup of versions, one INSERT stepped for every event
        # (traced once per row), no savepoint (docs/adr/0110)
        assert statements.count("BEGIN IMMEDIATE") == 4
        assert sum(sql.startswith("WITH asked") for sql in statements) == 4
        assert statements.count("SELECT last_insert_rowid()") == 4
        assert sum(sql.startswith("INSERT INTO events") for sql in statements) == 64
        assert not any(sql.startswith(("SAVEPOINT", "ROLLBACK")) for sql in statements)
        assert [r.position for r in results[0]] == [1, 17, 33, 49]
        assert sorted(r.position for rs in results for r in rs) == list(range(1, 65))
    finally:
        await store.close()


async def test_appends_in_a_loop_alone_on_the_event_loop_let_it_turn_now_and_then(
    tmp_path: Path,
) -> None:
    """Committed at once, a loop of appends would never let the event loop look at its timers
    and sockets; past `HOLD_LOOP` since the first, an append takes the committer's turn."""
    store = await SqliteEventStore.open(tmp_path / "events.sqlite3", synchronous="NORMAL")
    try:
        await asyncio.sleep(0)
        # Given a timer due now, which only a turn of the loop runs
        turned = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0, turned.set_result, None)

        # When a caller appends in a loop (the bound only stops a test that fails)
        appended = 0
        while not turned.done() and appended < 100_000:
            await store.append("participant-1", _registered())
            appended += 1

        # Then the loop turned while it went on, and every append is stored
        assert turned.done()
        assert await store.stream_version("participant-1") == appended - 1
    finally:
        await store.close()


def test_the_hold_is_short_beside_one_commit() -> None:
    assert 0 < sqlite_commits.HOLD_LOOP <= 0.005


async def test_appends_spaced_by_turns_of_the_loop_each_commit_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service's appends come between awaits of other work: the loop turns between them, so
    each commits at once, however long since the first (review of ADR 0105: they alternated
    between at once and the committer's turn)."""
    # Given no hold at all: only a caller that lets the loop turn may commit at once again
    monkeypatch.setattr(sqlite_commits, "HOLD_LOOP", 0.0)
    store = await SqliteEventStore.open(tmp_path / "events.sqlite3", synchronous="NORMAL")
    try:
        await store.append("participant-0", _registered(), NO_STREAM)
        for n in range(1, 4):
            await asyncio.sleep(0)
            await asyncio.sleep(0)  # the loop has turned past its timers

            # When an append follows a turn of the loop
            result = _at_once(store.append(f"participant-{n}", _registered(), NO_STREAM))

            # Then it committed in its caller's step
            assert result.position == n + 1

        # And one that follows without a turn of the loop takes the committer's turn
        waiting = store.append("participant-9", _registered(), NO_STREAM)
        assert waiting.send(None) is not None
        waiting.close()
        await asyncio.wait_for(store._commits.drain(), 10)
    finally:
        await store.close()


async def test_an_append_never_passes_appends_a_cancelled_committer_left_queued(
    two_writers: tuple[SqliteEventStore, sqlite3.Connection],
) -> None:
    # Given a committer waiting out another connection's lock, another append queued behind
    # its batch, and the committer cancelled (as the loop's end cancels every task)
    store, other_process = two_writers
    await asyncio.sleep(0)
    other_process.execute("BEGIN IMMEDIATE")
    first = asyncio.create_task(store.append("participant-1", _registered(), NO_STREAM))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(store.append("participant-2", _registered(), NO_STREAM))
    await asyncio.sleep(0.01)
    committer = store._commits._committer
    assert committer is not None
    committer.cancel()
    with pytest.raises(RuntimeError):
        await first  # its batch failed with the committer
    other_process.execute("COMMIT")
    await asyncio.sleep(0)

    # When another append comes
    third = await store.append("participant-3", _registered(), NO_STREAM)

    # Then the one left queued committed first, with it or before it
    assert (await asyncio.wait_for(second, 10)).position <= third.position
    assert await store.stream_version("participant-1") is None


async def test_a_retry_refused_keeps_the_first_attempts_failure_as_its_context(
    tmp_path: Path,
) -> None:
    # Given an event stored in one stream
    store = await SqliteEventStore.open(tmp_path / "events.sqlite3", synchronous="NORMAL")
    try:
        taken = NewEvent("Registered", b"{}")
        await store.append("participant-1", [taken], NO_STREAM)

        # When the same event id is appended to another stream
        with pytest.raises(EventIdsConflict) as refused:
            await store.append("participant-2", [taken], NO_STREAM)

        # Then the refusal says it is no retry, and its traceback leads to SQLite's own refusal
        first = refused.value.__context__
        assert isinstance(first, EventIdsConflict)
        assert isinstance(first.__cause__, sqlite3.IntegrityError)
    finally:
        await store.close()


async def test_appends_written_together_are_decided_in_order_each_all_or_nothing(
    two_writers: tuple[SqliteEventStore, sqlite3.Connection],
) -> None:
    # Given a stream with one event, and appends queued together behind another writer's lock
    store, other_process = two_writers
    statements: list[str] = []
    await store.append("participant-1", _registered(), NO_STREAM)
    store._writer._db.set_trace_callback(statements.append)
    other_process.execute("BEGIN IMMEDIATE")
    appends = [
        store.append("participant-2", _registered(), NO_STREAM),
        store.append("participant-2", _registered(), 0),  # after the one before it
        store.append("participant-2", _registered(), NO_STREAM),  # it exists by then
        store.append_many(  # one stream right, the other wrong: none of it
            [
                StreamAppend("participant-3", _registered(), NO_STREAM),
                StreamAppend("participant-1", _registered(), 5),
            ]
        ),
        store.append_many(
            [
                StreamAppend("participant-3", [*_registered(), *_registered()], NO_STREAM),
                StreamAppend("participant-1", _registered(), 0),
            ]
        ),
    ]
    pending = asyncio.gather(*appends, return_exceptions=True)
    await asyncio.sleep(0.05)
    assert not pending.done()

    # When the lock is released
    other_process.execute("COMMIT")
    statements.clear()  # the attempts refused while it was held
    outcomes = await asyncio.wait_for(pending, 10)

    # Then they were one commit, written together, each decided against those before it
    assert statements.count("BEGIN IMMEDIATE") == 1
    assert not any(sql.startswith(("SAVEPOINT", "ROLLBACK")) for sql in statements)
    first, second, third, mixed, both = outcomes
    assert isinstance(first, AppendResult)
    assert isinstance(second, AppendResult)
    assert [(r.version, r.position) for r in (first, second)] == [(0, 2), (1, 3)]
    assert isinstance(third, WrongExpectedVersion)
    assert third.actual == 1
    assert isinstance(mixed, WrongExpectedVersion)
    assert isinstance(both, list)
    assert [(r.stream_id, r.version, r.position) for r in both] == [
        ("participant-3", 1, 5),
        ("participant-1", 1, 6),
    ]
    assert [(e.stream_id, e.version) for e in await store.read_all()] == [
        ("participant-1", 0),
        ("participant-2", 0),
        ("participant-2", 1),
        ("participant-3", 0),
        ("participant-3", 1),
        ("participant-1", 1),
    ]


async def test_a_retry_in_a_shared_commit_is_answered_and_the_others_commit(
    two_writers: tuple[SqliteEventStore, sqlite3.Connection],
) -> None:
    # Given an append stored, and its retry (any version expected) queued with two new appends
    store, other_process = two_writers
    statements: list[str] = []
    stored = _registered()
    first = await store.append("participant-1", stored)
    store._writer._db.set_trace_callback(statements.append)
    other_process.execute("BEGIN IMMEDIATE")
    pending = asyncio.gather(
        store.append("participant-2", _registered(), NO_STREAM),
        store.append("participant-1", stored),  # the retry: its event id is stored
        store.append("participant-3", _registered(), NO_STREAM),
    )
    await asyncio.sleep(0.05)
    assert not pending.done()

    # When the lock is released
    other_process.execute("COMMIT")
    statements.clear()  # the attempts refused while it was held
    second, retried, third = await asyncio.wait_for(pending, 10)

    # Then the attempt together was refused by the INSERT and rolled back, the commit made
    # again append by append, the retry answered with where its event is
    assert statements.count("BEGIN IMMEDIATE") == 2
    assert statements.count("ROLLBACK") == 1
    assert retried == first
    assert [(r.stream_id, r.position) for r in (second, third)] == [
        ("participant-2", 2),
        ("participant-3", 3),
    ]
    assert [e.event_id for e in await store.read_stream("participant-1")] == [stored[0].event_id]


async def test_a_wake_up_that_fails_after_a_commit_fails_none_of_its_appends(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a store whose wake-up of subscribers after a commit raises
    store = await SqliteEventStore.open(tmp_path / "events.sqlite3")
    woken: list[None] = []

    def fails() -> None:
        woken.append(None)
        raise RuntimeError("a wake-up went wrong")

    store._commits._committed = fails
    try:
        # When an append commits alone, then two share a commit
        alone = await store.append("participant-1", _registered(), NO_STREAM)
        shared = await asyncio.gather(
            store.append("participant-2", _registered(), NO_STREAM),
            store.append("participant-3", _registered(), NO_STREAM),
        )

        # Then each is answered as committed, and each commit's failed wake-up is logged
        assert [r.position for r in (alone, *shared)] == [1, 2, 3]
        assert [e.position for e in await store.read_all()] == [1, 2, 3]
        assert len(woken) == 2
        assert [str(record.exc_info[1]) for record in caplog.records if record.exc_info] == [
            "a wake-up went wrong"
        ] * 2
    finally:
        await store.close()


async def test_one_new_event_id_twice_in_a_shared_commit_is_stored_once(tmp_path: Path) -> None:
    # Given one new event, appended twice to one stream (a retry before the first is answered)
    # and once to another stream, in one shared commit with an append of its own
    store = await SqliteEventStore.open(tmp_path / "events.sqlite3")
    statements: list[str] = []
    try:
        await store.append("participant-0", _registered(), NO_STREAM)
        store._writer._db.set_trace_callback(statements.append)
        event = _registered()

        # When they are made together
        first, retried, other, elsewhere = await asyncio.gather(
            store.append("participant-1", event),
            store.append("participant-1", event),
            store.append("participant-2", _registered(), NO_STREAM),
            store.append("participant-3", event),
            return_exceptions=True,
        )

        # Then the INSERT refused the attempt together, the commit was made again append by
        # append: the event is stored once, the retry answered with where it is, the same id on
        # another stream refused, and the append of its own stored
        assert statements.count("BEGIN IMMEDIATE") == 2
        assert statements.count("ROLLBACK") == 1
        assert isinstance(first, AppendResult)
        assert (first.stream_id, first.version, first.position) == ("participant-1", 0, 2)
        assert retried == first
        assert isinstance(other, AppendResult)
        assert (other.stream_id, other.position) == ("participant-2", 3)
        assert isinstance(elsewhere, EventIdsConflict)
        assert [(e.stream_id, e.position) for e in await store.read_all()] == [
            ("participant-0", 1),
            ("participant-1", 2),
            ("participant-2", 3),
        ]
        assert [e.event_id for e in await store.read_stream("participant-1")] == [event[0].event_id]
    finally:
        await store.close()


@pytest.mark.parametrize("floor", [False, True], ids=["no floor", "after a purge"])
async def test_appends_to_a_deleted_stream_share_a_commit_written_together(
    tmp_path: Path, floor: bool
) -> None:
    # Given a deleted stream of two events, and (or not) a purge of the newest event since
    store = await SqliteEventStore.open(tmp_path / "events.sqlite3")
    statements: list[str] = []
    try:
        store.allow_purging({"reservation"})
        await store.append("participant-1", [*_registered(), *_registered()], NO_STREAM)
        await store.delete_stream("participant-1")
        if floor:
            await store.append("reservation-1", [NewEvent("ChildReserved", b"{}")])
            assert await store.purge_stream("reservation-1")
        store._writer._db.set_trace_callback(statements.append)
        woken: list[None] = []
        wake = store._commits._committed

        def counted() -> None:
            woken.append(None)
            wake()

        store._commits._committed = counted

        # When it is appended to twice in one shared commit, beside a new stream and a refusal
        new, undeleted, after, refused = await asyncio.gather(
            store.append("participant-2", _registered(), NO_STREAM),
            store.append("participant-1", _registered(), NO_STREAM),  # deleted: no stream
            store.append("participant-1", _registered(), 2),  # after the one before it
            store.append("participant-3", _registered(), 5),
            return_exceptions=True,
        )

        # Then the commit was one, written together, its first event above the floor if any:
        # the stream goes on from its versions, undeleted, the refusal alone fails
        assert statements.count("BEGIN IMMEDIATE") == 1
        assert not any(sql.startswith(("SAVEPOINT", "ROLLBACK")) for sql in statements)
        assert len(woken) == 1
        first = 4 if floor else 3
        assert [
            (r.stream_id, r.version, r.position)
            for r in (new, undeleted, after)
            if isinstance(r, AppendResult)
        ] == [
            ("participant-2", 0, first),
            ("participant-1", 2, first + 1),
            ("participant-1", 3, first + 2),
        ]
        assert isinstance(refused, WrongExpectedVersion)
        metadata = await store.get_stream_metadata("participant-1")
        assert not metadata.deleted
        assert metadata.truncate_before == 2
        assert [e.version for e in await store.read_stream("participant-1")] == [2, 3]
        assert not store._floor_set(store._writer._db)
    finally:
        await store.close()
