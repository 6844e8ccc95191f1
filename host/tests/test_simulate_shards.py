"""The season's helper process (`bilet_host.simulate_shards`, ADR 0094): what a half records is
appended after the first half as if one process had made every append, a helper is forked
only when the machine has a core to spare, and a helper the season cannot use (no answer in
time, an end without one, a failure) or no longer needs (the season leaves early) is killed at
once. (A whole season with and without the helper is compared in `test_simulate_season.py`.)"""

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from bilet.eventstore import (
    ANY,
    NO_STREAM,
    NewEvent,
    RecordedEvent,
    StreamAppend,
    StreamMetadata,
    WrongExpectedVersion,
)
from bilet.eventstore.sqlite import SqliteEventStore
from bilet_host.simulate_shards import (
    Decided,
    Half,
    Helper,
    RecordingStore,
    cpu_times,
    helper,
    replay,
    spare_cores,
)
from bilet_host.simulate_store import UnitOfWorkStore


def _new(n: int) -> NewEvent:
    return NewEvent("Happened", f'{{"n": {n}}}'.encode())


async def _first_half(store: UnitOfWorkStore) -> None:
    await store.append("pupil-1", [_new(1), _new(2)], NO_STREAM)
    await store.append("audit-day", [_new(3)], ANY)


async def _second_half(store: UnitOfWorkStore) -> None:
    await store.append_many(
        [StreamAppend("pupil-2", [_new(4)], NO_STREAM), StreamAppend("audit-day", [_new(5)], ANY)]
    )
    await store.append("pupil-2", [_new(6)], 0)


def _shape(events: list[RecordedEvent]) -> list[tuple[str, int, int, bytes]]:
    return [(e.stream_id, e.version, e.position, e.data) for e in events]


async def _stored(path: Path) -> list[RecordedEvent]:
    async with await SqliteEventStore.open(path) as store:
        return await store.read_all(0, 100)


async def test_a_recorded_half_replayed_after_the_first_is_what_one_process_writes(
    tmp_path: Path,
) -> None:
    one = await UnitOfWorkStore.over(await SqliteEventStore.open(tmp_path / "one.sqlite3"))
    await _first_half(one)
    await _second_half(one)
    await one.close()

    half = RecordingStore()
    await _second_half(half)
    await half.close()
    # every append as it was given, its expected versions too
    assert [[(a.stream_id, a.expected_version) for a in parts] for parts in half.appends] == [
        [("pupil-2", NO_STREAM), ("audit-day", ANY)],
        [("pupil-2", 0)],
    ]
    two = await UnitOfWorkStore.over(await SqliteEventStore.open(tmp_path / "two.sqlite3"))
    await _first_half(two)
    await replay(two, half.appends)
    await two.close()

    assert _shape(await _stored(tmp_path / "two.sqlite3")) == _shape(
        await _stored(tmp_path / "one.sqlite3")
    )
    assert [e.event_id for e in await _stored(tmp_path / "two.sqlite3")][3:] == [
        event.event_id for parts in half.appends for append in parts for event in append.events
    ]


async def test_a_half_that_wrote_a_stream_of_the_first_half_is_refused_with_nothing_replayed(
    tmp_path: Path,
) -> None:
    half = RecordingStore()
    await half.append("pupil-2", [_new(4)], NO_STREAM)
    await half.append("pupil-1", [_new(5)], NO_STREAM)  # the first half's pupil
    two = await UnitOfWorkStore.over(await SqliteEventStore.open(tmp_path / "two.sqlite3"))
    await _first_half(two)
    with pytest.raises(WrongExpectedVersion):
        await replay(two, half.appends)
    assert await two.stream_version("pupil-2") is None  # its first append was not made either
    await two.close()
    assert len(await _stored(tmp_path / "two.sqlite3")) == 3


async def test_a_recording_store_refuses_what_a_replay_of_appends_could_not_carry() -> None:
    store = RecordingStore()
    await store.append("pupil-2", [_new(1)], NO_STREAM)
    with pytest.raises(NotImplementedError):
        await store.set_stream_metadata("pupil-2", StreamMetadata(deleted=True))
    with pytest.raises(NotImplementedError):
        await store.get_stream_metadata("pupil-2")
    with pytest.raises(NotImplementedError):
        await store.delete_stream("pupil-2")
    with pytest.raises(NotImplementedError):
        store.allow_purging(["pupil"])
    with pytest.raises(NotImplementedError):
        await store._purge("pupil-2", ANY)
    # what it recorded it reads back from memory, and nothing else was recorded
    assert [e.data for e in await store.read_stream("pupil-2")] == [_new(1).data]
    assert [[a.stream_id for a in parts] for parts in store.appends] == [["pupil-2"]]


# ------------------------------------------------------------------ the forked helper


async def _answers(half: Half, store: UnitOfWorkStore) -> Decided:
    """A half that appends and says whether Ctrl-C is ignored where it runs."""
    await store.append("pupil-2", [_new(4)], NO_STREAM)
    await store.append("pupil-2", [_new(5)], 0)
    ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    return Decided([half.skip], 1, {"sigint_ignored": int(ignored)}, half.start)


async def _waits_forever(half: Half, store: UnitOfWorkStore) -> Decided:
    """A stuck half: alive, silent, never answering."""
    await asyncio.Event().wait()
    raise AssertionError("never set")


async def _fails(half: Half, store: UnitOfWorkStore) -> Decided:
    raise LookupError("a bug in the helper's half")


async def _dies(half: Half, store: UnitOfWorkStore) -> Decided:
    os._exit(3)


async def test_a_helper_answers_its_half_ignoring_ctrl_c_and_ends_on_its_own() -> None:
    async with helper(_answers, True) as forked:
        assert forked is not None
        forked.send(Half(start=1, skip=6))
        done = await forked.done(within=600)
    assert done is not None
    assert done.decided == Decided([6], 1, {"sigint_ignored": 1}, 1)
    assert [[(a.stream_id, a.expected_version) for a in parts] for parts in done.appends] == [
        [("pupil-2", NO_STREAM)],
        [("pupil-2", 0)],
    ]
    assert forked.cpu_seconds == done.cpu_seconds > 0
    assert forked.process.exitcode == 0  # it ended on its own: not killed


@pytest.mark.parametrize("sent", [False, True], ids=["before-its-half", "during-its-half"])
async def test_a_helper_is_killed_at_once_when_the_season_leaves_without_its_answer(
    sent: bool,
) -> None:
    seen: list[Helper] = []

    async def leaves_early() -> None:
        async with helper(_waits_forever, True) as forked:
            assert forked is not None
            seen.append(forked)
            if sent:
                forked.send(Half(0, 0))
            raise LookupError("a bug in the season's half")

    started = time.monotonic()
    with pytest.raises(LookupError):
        await leaves_early()
    (forked,) = seen
    assert forked.process.exitcode == -signal.SIGKILL
    # Not waited for (it was 30 s, each time): a generous bound for a kill and a join.
    assert time.monotonic() - started < 20


async def test_a_season_cancelled_while_waiting_kills_the_helper_then_closes_the_pipe() -> None:
    async with helper(_waits_forever, True) as forked:
        assert forked is not None
        forked.send(Half(0, 0))
        waiting = asyncio.create_task(forked.done(within=3600))
        await asyncio.sleep(0)  # the task's first step: it starts reading, then waits
        assert forked._reading is not None
        assert forked._reading.is_alive()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    assert forked.process.exitcode == -signal.SIGKILL
    assert not forked._reading.is_alive()  # the read ended (its helper killed) before the close
    assert forked.connection.closed


async def test_a_helper_waiting_for_its_half_ends_when_the_season_closes_its_end() -> None:
    """The helper holds no copy of the season's end of the pipe: closing it (or the season's
    process dying) is an end-of-file for a helper still waiting for its half."""
    async with helper(_waits_forever, True) as forked:
        assert forked is not None
        forked.connection.close()
        await asyncio.to_thread(forked.process.join, 120)
        assert forked.process.exitcode == 0


async def test_a_helper_that_does_not_answer_in_time_is_killed_and_not_used(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with helper(_waits_forever, True) as forked:
        assert forked is not None
        forked.send(Half(0, 0))
        assert await forked.done(within=0.0) is None
        await asyncio.to_thread(forked.process.join, 120)
        assert forked.process.exitcode == -signal.SIGKILL
    assert "no answer within 0 s" in caplog.text


@pytest.mark.parametrize(
    ("decide", "said", "exitcode"),
    [(_fails, "LookupError: a bug in the helper's half", 0), (_dies, "EOFError", 3)],
    ids=["fails", "dies"],
)
async def test_a_helper_that_fails_or_dies_is_not_used(
    caplog: pytest.LogCaptureFixture, decide: Any, said: str, exitcode: int
) -> None:
    async with helper(decide, True) as forked:
        assert forked is not None
        forked.send(Half(0, 0))
        assert await forked.done(within=600) is None
    assert "is not used" in caplog.text
    assert said in caplog.text  # the helper's traceback, or what ended the wait
    assert forked.process.exitcode in (exitcode, -signal.SIGKILL)


async def test_no_helper_unless_wanted() -> None:
    async with helper(_answers, False) as forked:
        assert forked is None


def test_spare_cores_are_the_idle_share_of_every_core() -> None:
    assert spare_cores((100, 400), (250, 600), 2) == pytest.approx(1.5)
    assert spare_cores((100, 400), (100, 600), 2) == 0.0
    assert spare_cores(None, (100, 600), 2) == 0.0
    assert spare_cores((100, 400), (100, 400), 2) == 0.0  # no tick between: unknown


def test_cpu_times_read_the_machine_s_ticks() -> None:
    times = cpu_times()
    if times is None:
        pytest.skip("no /proc/stat here")
    idle, total = times
    assert 0 <= idle <= total
    later = cpu_times()
    assert later is not None
    assert later[1] >= total
