"""The season's diagnostics phase on two cores (docs/adr/0094).

Diagnostics decides most of a season's events (a stage's answers are an event each), one pupil at
a time, and nothing a pupil does there is read by another pupil's commands: the pupil's own
streams, the facts read model (caught up before the phase, read only during it) and the key
store (every pupil's key made by identity's phase). So the phase splits its pupils in two: the
season's process takes the first half through the service as before, and a helper process takes
the second half through a service of its own, into a unit of work that writes nothing
(`RecordingStore`); it hands back every append it was given, with the expected versions it was
given, and the season's process appends them, in their order, after its own half (`replay`,
which checks every expectation first: a stream the first half wrote too refuses the lot). The
season is then the one a single process gives: the same events (the same deciders, the same
pupils' generators) in the same order, so at the same positions and versions; the one stream
both halves append to (the audit's day, appended with no expectation) takes the helper's
records after the first half's, as it would have.

What the halves share that is not a pupil's own: the ids the use cases draw (`CountedIds`, one
seeded sequence for the season). The helper starts its half where the first half should leave
the sequence (three attempts a pupil) and says how many it drew per pupil; if the first half
drew otherwise (a pupil refused before an attempt was drawn), the helper's work is dropped and
the second half is decided here as well, so the result is still the single process's. So it is
when the helper does not answer within a generous deadline, ends without an answer or fails
(`Helper.done`): it is killed, a warning logged, and its half decided in the season's process,
where a real bug raises again with its own traceback.

The helper is forked when the phase starts, before it opens a store (SQLite connections must not
cross a fork, and the earlier phases' are closed by then; a fresh interpreter would spend a
second of CPU importing the services again), and waits for its half while the season's process
catches the facts read model up. It ignores Ctrl-C (the season's process ends it) and is killed
at once when the season leaves the phase without its answer (`helper`). It is SQLite-only (the
unit of work's) and POSIX-only (fork); elsewhere the phase runs in one process.
"""

import asyncio
import concurrent.futures
import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, NoReturn, cast

from bilet.eventstore import EventStore, ExpectedVersion, StreamAppend, StreamMetadata
from bilet.eventstore.rules import check_expected_version
from bilet.eventstore.sqlite import SqliteEventStore
from bilet_host.simulate_store import UnitOfWorkStore

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

_log = logging.getLogger(__name__)

# Ids a pupil's diagnostics draw: one attempt per stage (`start`).
DRAWS_PER_PUPIL = 3
# A helper is forked (unless told) when the machine had this much of a core idle on average
# through the season's first phases: on a machine busy with other work a second process only
# added its own cost (docs/adr/0094).
SPARE_CORE = 0.5
# How long the season waits for the helper's answer once its own half is done: the helper's
# half is as large as the first, so five times the first half's wall time (and never less than
# a minute) is far beyond a slow machine's and short of forever for a stuck helper.
ANSWER_FLOOR_SECONDS = 60.0
ANSWER_FACTOR = 5.0
# How long a helper that answered is given to end on its own before it is killed.
ENDING_SECONDS = 30.0


def cpu_times() -> tuple[int, int] | None:
    """The machine's idle and total CPU time so far (every core, in clock ticks, from
    `/proc/stat`), or None where there is no such file."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    # user nice system idle iowait irq softirq steal (guest time is within user already)
    ticks = [int(value) for value in fields[1:9]]
    return ticks[3] + ticks[4], sum(ticks)


def spare_cores(before: tuple[int, int] | None, after: tuple[int, int] | None, cores: int) -> float:
    """How many cores stood idle on average between two `cpu_times` (0 when unknown)."""
    if before is None or after is None or after[1] <= before[1]:
        return 0.0
    return (after[0] - before[0]) / (after[1] - before[1]) * cores


def cores() -> int:
    """The cores this process may run on (its affinity, where the platform says; else every
    core of the machine)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def answer_deadline(first_half_seconds: float) -> float:
    """How long the season waits for the helper's answer after its own half took
    `first_half_seconds` of wall time."""
    return max(ANSWER_FLOOR_SECONDS, ANSWER_FACTOR * first_half_seconds)


@dataclass(frozen=True)
class Half:
    """The helper's work: pupils `start` to the end of the season's list, with the season's
    ids `skip` draws in, and the facts read model caught up."""

    start: int
    skip: int


@dataclass(frozen=True)
class Decided:
    """What the helper's half decided besides its appends: the ids each pupil drew, the stages
    taken and what was refused, where its clock stopped."""

    draws: list[int]
    stages: int
    refused: dict[str, int]
    clock: Any


@dataclass(frozen=True)
class HalfDone:
    """The helper's answer: what it decided, each `append_many` it was given (as given, in
    order), and its CPU (the forked process's every second)."""

    decided: Decided
    appends: list[list[StreamAppend]]
    cpu_seconds: float


@dataclass(frozen=True)
class HalfFailed:
    """The helper's answer when its half raised: the traceback, as text, and its CPU."""

    failure: str
    cpu_seconds: float


class _NoStore:
    """The store under a `RecordingStore`: none. Every path of the unit of work that would reach
    it is refused by `RecordingStore` first; this says so loudly if one ever does not."""

    def __getattr__(self, name: str) -> NoReturn:
        raise RuntimeError(f"a recording store has no store to {name}")


class RecordingStore(UnitOfWorkStore):
    """A unit of work that keeps every append it is given, as given (its expected versions
    too), in order, and writes nothing: the season's process replays them into the service's
    real store. It starts empty, as the season's diagnostics store does, and refuses what a
    replay of appends could not carry: stream metadata and purges."""

    def __init__(self) -> None:
        # Nothing is ever flushed (`commit_every`) or read back from a store: every stream it
        # knows is in memory (`keep_events`), and any other is one nobody wrote yet.
        super().__init__(
            cast(SqliteEventStore, _NoStore()), commit_every=sys.maxsize, keep_events=sys.maxsize
        )
        self.appends: list[list[StreamAppend]] = []

    async def append_many(self, appends: Sequence[StreamAppend]) -> list[Any]:
        results = await super().append_many(appends)
        self.appends.append(list(appends))
        return results

    async def flush(self) -> None:
        """Nothing to write: the recorded appends are the helper's answer."""

    async def close(self) -> None:
        """Nothing to close or flush."""

    async def get_stream_metadata(self, stream_id: str) -> StreamMetadata:
        self._refuse("read a stream's metadata")

    async def set_stream_metadata(self, stream_id: str, metadata: StreamMetadata) -> None:
        self._refuse("set a stream's metadata")

    def allow_purging(self, categories: Iterable[str]) -> None:
        self._refuse("purge streams")

    async def _purge(self, stream_id: str, expected_version: ExpectedVersion) -> bool:
        self._refuse("purge streams")

    @staticmethod
    def _refuse(what: str) -> NoReturn:
        raise NotImplementedError(
            f"the season's helper cannot {what}: only appends are replayed in the season's store"
        )


async def replay(store: EventStore, appends: Sequence[Sequence[StreamAppend]]) -> None:
    """Append the helper's appends, in order, as they were given to it, expected versions and
    all: each stream's versions and every position follow from the order. Every expectation is
    checked against `store` before anything is appended, so a stream the first half wrote too
    (the pupils' streams are the helper's alone, or a replay would not be what one process
    writes) raises `WrongExpectedVersion` with nothing appended."""
    versions: dict[str, int | None] = {}
    for parts in appends:
        for append in parts:
            stream = append.stream_id
            if stream not in versions:
                versions[stream] = await store.stream_version(stream)
            current = versions[stream]
            check_expected_version(stream, append.expected_version, current)
            versions[stream] = (-1 if current is None else current) + len(append.events)
    for parts in appends:
        await store.append_many(parts)


# The helper's side: `decide` runs its half of the pupils through a service of its own.
Decide = Callable[[Half, UnitOfWorkStore], Awaitable[Decided]]


def _serve(connection: Connection, seasons_end: Connection, decide: Decide) -> None:
    """The forked helper: wait for a half (or the end), decide it, send what it decided."""
    # Ctrl-C reaches the whole process group: the season's process ends the helper itself.
    # SIGINT was blocked across the fork (`helper`), so none arrives before it is ignored.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    # The fork copied the season's end of the pipe too: closed here, so that the season closing
    # its end (or dying) is an end-of-file for the helper waiting for its half.
    seasons_end.close()
    try:
        half = connection.recv()
    except EOFError:
        return  # the season needs no helper this time
    connection.send(_decided_on_a_thread(half, decide))


def _decided_on_a_thread(half: Half, decide: Decide) -> HalfDone | HalfFailed:
    """The half decided on an event loop of its own, on a thread of its own: the fork left this
    thread marked as running the season's loop (asyncio keeps that per thread), and a new
    thread starts with none."""
    answer: list[HalfDone | HalfFailed] = []

    def run() -> None:
        try:
            answer.append(asyncio.run(_decided(half, decide)))
        except BaseException:  # handed to the season, which decides the half itself
            answer.append(HalfFailed(traceback.format_exc(), time.process_time()))

    thread = threading.Thread(target=run, name="bvb-season-half")
    thread.start()
    thread.join()
    return answer[0]


async def _decided(half: Half, decide: Decide) -> HalfDone:
    store = RecordingStore()
    decided = await decide(half, store)
    return HalfDone(decided, store.appends, time.process_time())


# What the season reads from the helper: its answer, or what kept it from being read.
Answer = HalfDone | HalfFailed | BaseException


@dataclass
class Helper:
    """The season's side of a forked helper."""

    process: "BaseProcess"
    connection: Connection
    # The helper's CPU, as its answer said (0 without an answer: a helper killed is not asked).
    cpu_seconds: float = 0.0
    # Whether its answer came: then it ends on its own; without one it is killed.
    answered: bool = False
    _reading: threading.Thread | None = None

    def send(self, half: Half) -> None:
        self.connection.send(half)

    async def done(self, within: float) -> HalfDone | None:
        """The helper's half, or None when it did not answer within `within` seconds, ended
        without an answer or failed: it is then killed, a warning logged, and the season's
        process decides that half itself."""
        answer: concurrent.futures.Future[Answer] = concurrent.futures.Future()
        # The answer is read on a thread of its own (an answer is one message, megabytes for a
        # large season): it ends when the message is read or the helper ends, and `end` joins
        # it before the connection is closed, whatever happened to this coroutine meanwhile.
        self._reading = threading.Thread(
            target=self._receive, args=(answer,), name="bvb-season-half-answer", daemon=True
        )
        self._reading.start()
        waited = asyncio.wrap_future(answer)
        finished, _ = await asyncio.wait([waited], timeout=within)
        if not finished:
            self._given_up(f"no answer within {within:.0f} s")
            return None
        done = waited.result()
        if isinstance(done, BaseException):
            self._given_up(f"no answer read ({done!r})")
            return None
        self.answered = True
        self.cpu_seconds = done.cpu_seconds
        if isinstance(done, HalfFailed):
            self._given_up(f"its half failed:\n{done.failure}")
            return None
        return done

    def _receive(self, answer: "concurrent.futures.Future[Answer]") -> None:
        """Read the answer, or what ended the wait for it (the helper ended without one, or
        what it sent could not be read): a result either way, so nothing goes unretrieved
        when the season has stopped waiting."""
        try:
            ready = multiprocessing.connection.wait([self.connection, self.process.sentinel])
            if self.connection not in ready:
                raise EOFError("the helper process ended")
            answer.set_result(self.connection.recv())
        except BaseException as error:
            answer.set_result(error)

    def _given_up(self, why: str) -> None:
        self.process.kill()
        _log.warning(
            "the season's diagnostics helper (pid %s) is not used, its half is decided in the "
            "season's process: %s",
            self.process.pid,
            why,
        )

    async def end(self) -> None:
        """Kill the helper unless it answered (then it ends on its own), then close the pipe
        once nothing reads it."""
        try:
            if self.answered:
                await asyncio.to_thread(self.process.join, ENDING_SECONDS)
        finally:
            if self.process.exitcode is None:
                self.process.kill()
            # Prompt once the helper is killed: its end of the pipe closes with it, which ends
            # a read of its answer still under way.
            self.process.join()
            if self._reading is not None:
                self._reading.join()
            self.connection.close()


@contextlib.asynccontextmanager
async def helper(decide: Decide, wanted: bool) -> AsyncIterator[Helper | None]:
    """A helper forked now (when `wanted` and the platform forks), ended on the way out: at
    once, killed, unless it answered (an exception or a cancellation in the season's half,
    Ctrl-C: the helper's work is no longer wanted)."""
    if not wanted or "fork" not in multiprocessing.get_all_start_methods():
        yield None
        return
    sys.stdout.flush()  # what is buffered is printed once, not again by the helper
    sys.stderr.flush()
    context = multiprocessing.get_context("fork")
    ours, theirs = context.Pipe()
    process = context.Process(
        target=_serve, args=(theirs, ours, decide), name="bvb-season-half", daemon=True
    )
    # SIGINT held back across the fork: the helper ignores it before it can arrive there, and a
    # Ctrl-C meanwhile reaches the season's process when its mask is restored.
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        process.start()
    except BaseException:
        ours.close()
        raise
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        theirs.close()
    helping = Helper(process, ours)
    try:
        yield helping
    finally:
        await helping.end()
