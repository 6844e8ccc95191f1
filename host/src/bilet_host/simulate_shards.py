"""The season's diagnostics phase on two cores (docs/adr/0094).

Diagnostics decides most of a season's events (a stage's answers are an event each), one pupil at
a time, and nothing a pupil does there is read by another pupil's commands: the pupil's own
streams, the facts read model (caught up before the phase, read only during it) and the key
store (every pupil's key made by identity's phase). So the phase splits its pupils in two: the
season's process takes the first half through the service as before, and a helper process takes
the second half through a service of its own, into a unit of work that writes nothing
(`RecordingStore`); it hands back every append it was given, and the season's process appends
them, in their order, after its own half. The season is then the one a single process gives:
the same events (the same deciders, the same pupils' generators) in the same order, so at the
same positions and versions; the one stream both halves append to (the audit's day) takes the
helper's records after the first half's, as it would have.

What the halves share that is not a pupil's own: the ids the use cases draw (`CountedIds`, one
seeded sequence for the season). The helper starts its half where the first half should leave
the sequence (three attempts a pupil) and says how many it drew per pupil; if the first half
drew otherwise (a pupil refused before an attempt was drawn), the helper's work is dropped and
the second half is decided here as well, so the result is still the single process's.

The helper is forked when the phase starts, before it opens a store (SQLite connections must not
cross a fork, and the earlier phases' are closed by then; a fresh interpreter would spend a
second of CPU importing the services again), and waits for its half while the season's process
catches the facts read model up. It is SQLite-only (the unit of work's) and
POSIX-only (fork); elsewhere the phase runs in one process.
"""

import asyncio
import contextlib
import multiprocessing
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bilet.eventstore import ANY, NewEvent, StreamAppend
from bilet.eventstore.sqlite import SqliteEventStore
from bilet_host.simulate_store import UnitOfWorkStore

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

# Ids a pupil's diagnostics draw: one attempt per stage (`start`).
DRAWS_PER_PUPIL = 3
# A helper is forked (unless told) when the machine had this much of a core idle on average
# through the season's first phases: on a machine busy with other work a second process only
# added its own cost (docs/adr/0094).
SPARE_CORE = 0.5


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


@dataclass(frozen=True)
class Half:
    """The helper's work: pupils `start` to the end of the season's list, with the season's
    ids `skip` draws in, and the facts read model caught up."""

    start: int
    skip: int


@dataclass
class HalfDone:
    """What the helper decided: each append it was given (its parts, in order), the ids each
    pupil drew, the stages taken and what was refused, where its clock stopped, its CPU."""

    appends: list[list[tuple[str, list[NewEvent]]]]
    draws: list[int]
    stages: int
    refused: dict[str, int]
    clock: Any
    cpu_seconds: float
    failure: str | None = None


class RecordingStore(UnitOfWorkStore):
    """A unit of work that keeps every append it is given, in order, and writes nothing: the
    season's process appends them to the service's real store."""

    def __init__(self, store: SqliteEventStore) -> None:
        super().__init__(store, commit_every=sys.maxsize, keep_events=sys.maxsize)
        self.appends: list[list[tuple[str, list[NewEvent]]]] = []

    async def append_many(self, appends: Sequence[StreamAppend]) -> list[Any]:
        results = await super().append_many(appends)
        self.appends.append([(a.stream_id, list(a.events)) for a in appends])
        return results

    async def close(self) -> None:
        await self.store.close()  # nothing flushed: the events go to the real store elsewhere


async def replay(store: Any, appends: Sequence[Sequence[tuple[str, list[NewEvent]]]]) -> None:
    """Append the helper's appends, in order, as they were given to it: each stream's versions
    and every position follow from the order (the pupils' streams are the helper's alone)."""
    for parts in appends:
        await store.append_many([StreamAppend(stream, events, ANY) for stream, events in parts])


# The helper's side: `decide` runs its half of the pupils through a service of its own.
Decide = Callable[[Half, UnitOfWorkStore], Awaitable[HalfDone]]


def _serve(connection: Connection, decide: Decide) -> None:
    """The forked helper: wait for a half (or the end), decide it, send what it decided."""
    # The fork copied the season's running loop as this thread's: a new loop is started here.
    asyncio.events._set_running_loop(None)
    try:
        half = connection.recv()
    except EOFError:
        return  # the season needs no helper this time
    try:
        done = asyncio.run(_decided(half, decide))
    except Exception as error:  # handed to the season, which raises it
        done = HalfDone([], [], 0, {}, None, time.process_time(), failure=repr(error))
    connection.send(done)


async def _decided(half: Half, decide: Decide) -> HalfDone:
    with tempfile.TemporaryDirectory(prefix="bvb-season-half-") as tmp:
        store = RecordingStore(await SqliteEventStore.open(Path(tmp) / "half.sqlite3", "NORMAL"))
        try:
            done = await decide(half, store)
        finally:
            await store.close()
    done.appends = store.appends
    done.cpu_seconds = time.process_time()  # the forked process's every second
    return done


@dataclass
class Helper:
    """The season's side of a forked helper."""

    process: "BaseProcess"
    connection: Connection
    sent: bool = field(default=False)

    def send(self, half: Half) -> None:
        self.connection.send(half)
        self.sent = True

    async def done(self) -> HalfDone:
        try:
            done: HalfDone = await asyncio.to_thread(self.connection.recv)
        except EOFError as error:
            raise RuntimeError("the season's helper process ended without its half") from error
        if done.failure is not None:
            raise RuntimeError(f"the season's helper process failed: {done.failure}")
        return done


@contextlib.asynccontextmanager
async def helper(decide: Decide, wanted: bool) -> AsyncIterator[Helper | None]:
    """A helper forked now (when `wanted` and the platform forks), ended on the way out."""
    if not wanted or "fork" not in multiprocessing.get_all_start_methods():
        yield None
        return
    sys.stdout.flush()  # what is buffered is printed once, not again by the helper
    sys.stderr.flush()
    ours, theirs = multiprocessing.get_context("fork").Pipe()
    process = multiprocessing.get_context("fork").Process(
        target=_serve, args=(theirs, decide), name="bvb-season-half", daemon=True
    )
    process.start()
    theirs.close()
    try:
        yield Helper(process, ours)
    finally:
        ours.close()  # a helper still waiting for its half ends here
        await asyncio.to_thread(process.join, 30)
        if process.is_alive():
            process.kill()
            await asyncio.to_thread(process.join)
