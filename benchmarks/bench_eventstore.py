"""Our event store against the `eventsourcing` library (PyPI), side by side in one run.

Same machine, same backend, same durability settings, same ~300-byte JSON event on both sides. The
peer is measured at its persistence level: `SQLiteApplicationRecorder` and
`PostgresApplicationRecorder` with `StoredEvent`, `insert_events`, `select_events` and
`select_notifications` (`benchmarks/eventstore_peer.py`). Every figure is events per second.

Benches (`sqlite.*` and `postgres.*`):
- `append_new_streams`: sequential appends, one event to a new stream each (ours expects
  NO_STREAM; the peer's primary key on (stream, version) plays that part);
- `load_decide_append`: on existing streams of ~10 events: read the stream, fold it (count its
  events), append one event expecting the version read;
- `read_all_decoded`: every event in global order, pages of 1000, each decoded into the same small
  frozen pydantic model; the target (>= 150,000 events/s) is about our figure;
- `append_16_writers`: 16 writers, each appending to its own new streams, same total on
  both sides: ours 16 asyncio tasks over one store (PostgreSQL: its pool of 16 connections;
  SQLite: its one writer, whose appends waiting together share a commit), the peer (synchronous)
  16 threads over its datastore's pool of 16 connections (SQLite: its connections per thread);
- `sqlite.append_vs_fsync_limit`: sequential appends against the disk's own limit, a bare
  `INSERT` + `COMMIT` at the same `synchronous` level (`benchmarks/eventstore_fsync.py`).

Durability: the peer's SQLite datastore sets `journal_mode=WAL` and leaves `synchronous` at
SQLite's default; the run reads that level from the peer's own connection and opens ours with the
same one (both in the `synchronous` field). On PostgreSQL neither side changes
`synchronous_commit`: the server's value is reported.

Rounds: 3 (quick too), ours then the peer in each, each on a fresh store; the median of each side
is reported. A round in which a side took under a second is measured again with every workload
larger (`Sizes.scaled`, `benchmarks/rounds.py`) and not counted.

CPU: each line also carries each side's CPU per event (`ours_cpu_us`, `peer_cpu_us`: the medians
over the counted rounds of `time.process_time`, every thread of the process, the kernel's work for
the process included, a PostgreSQL server's not), taken around exactly what is timed. On a
machine shared with other work the rates move with everybody else's load; the CPU per event much
less (docs/adr/0092).

Fairness: each side of each bench gets a fresh temporary directory (SQLite) or a fresh schema
(PostgreSQL), dropped afterwards; each side is warmed up before it is timed (`time.perf_counter`),
with a few operations of the same kind (read-all: one full untimed pass); on PostgreSQL a
CHECKPOINT (when the role may) precedes each timed side. The peer's synchronous code runs in this
process, only while none of our asyncio code runs (our store is closed first). The peer's driver
runs on psycopg's C implementation (`psycopg[binary]` in the dev dependencies), as ours runs on
asyncpg's; on the pure-Python one the peer is 1.3-3.3x slower on PostgreSQL, which would flatter us.
`peer_driver` says which one a run used.

PostgreSQL: the DSN is `BVB_DATABASE_URL`, else the one in `var/infra.env`. When the server cannot
be reached, the SQLite lines are still printed, and each `postgres.*` bench prints one line with
`"ours": 0.0`, `"peer": null`, `"skipped": true` and an `"error"` saying why (`BenchResult` carries
floats only, so 0.0 stands for "not measured" there). A bench that fails on its way (the server
restarts, our read horizon stays held back by someone's long transaction for over a minute, the
sides handled different counts) prints such a line too, and the run goes on.
"""

import asyncio
import gc
import os
import re
import sqlite3
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any, cast
from uuid import uuid4

import asyncpg
import psycopg
from eventsourcing.persistence import ApplicationRecorder

from benchmarks import eventstore_fsync
from benchmarks import eventstore_peer as peer
from benchmarks.eventstore_workload import (
    EVENT_TYPE,
    FULL,
    PAYLOAD,
    QUICK,
    AnswerRecorded,
    Sizes,
    new_stream_ids,
    timed,
)
from benchmarks.result import BenchResult, Target, ours_at_least, ratio_at_least
from benchmarks.rounds import ROUNDS, count_round, median, rounds_detail
from bilet.eventstore import NO_STREAM, START, EventStore, NewEvent, StreamAppend
from bilet.eventstore.postgres import PostgresEventStore, drop_schema
from bilet.eventstore.sqlite import SqliteEventStore, Synchronous

UNIT = "events/s"
READ_ALL_TARGET = 150_000.0
POSTGRES_BENCHES = (
    "postgres.append_new_streams",
    "postgres.load_decide_append",
    "postgres.read_all_decoded",
    "postgres.append_16_writers",
)
TARGETS: dict[str, tuple[Target, ...]] = {
    "sqlite.append_new_streams": (ratio_at_least(2.0),),
    "sqlite.load_decide_append": (ratio_at_least(2.0),),
    "sqlite.read_all_decoded": (ratio_at_least(1.0), ours_at_least(READ_ALL_TARGET)),
    "postgres.read_all_decoded": (ours_at_least(READ_ALL_TARGET),),
    "postgres.append_16_writers": (ratio_at_least(4.0),),
    "sqlite.append_16_writers": (ratio_at_least(4.0),),
}
ATTEMPTS = 3  # rounds that may be found too short and measured again larger
DEFAULT_DSN = "postgresql://bvb:bvb@127.0.0.1:55432/bvb"
HORIZON_WAIT = 60.0  # seconds ours may wait for its seeded events to become readable

Measured = tuple[int, float, float]  # events handled, seconds, CPU seconds (process_time)


# ------------------------------------------------------------------ our side (asyncio)


async def atimed(work: Awaitable[int]) -> Measured:
    gc.collect()
    cpu = time.process_time()
    start = time.perf_counter()
    count = await work
    return count, time.perf_counter() - start, time.process_time() - cpu


def _new_event() -> NewEvent:
    return NewEvent(EVENT_TYPE, PAYLOAD)


async def ours_seed(store: EventStore, stream_ids: Sequence[str], length: int, batch: int) -> int:
    """`length` events in each stream, several streams per commit; returns the last position."""
    per_commit = max(1, batch // length)
    last = START
    for start in range(0, len(stream_ids), per_commit):
        results = await store.append_many(
            [
                StreamAppend(stream_id, [_new_event() for _ in range(length)], NO_STREAM)
                for stream_id in stream_ids[start : start + per_commit]
            ]
        )
        last = max(last, *(result.position for result in results))
    return last


async def wait_visible(store: EventStore, position: int, timeout: float) -> None:
    """Wait until readers see `position`. On PostgreSQL any transaction left open anywhere in the
    cluster holds our read horizon back (ADR 0003), and other work may share the server."""
    deadline = time.monotonic() + timeout
    while await store.head_position() < position:
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"our read horizon stayed below the seeded events for {timeout:.0f} s: "
                "a long transaction on the server holds it back"
            )
        await asyncio.sleep(0.05)


async def ours_append_new_streams(store: EventStore, stream_ids: Sequence[str]) -> int:
    for stream_id in stream_ids:
        await store.append(stream_id, [_new_event()], NO_STREAM)
    return len(stream_ids)


async def ours_load_decide_append(store: EventStore, stream_ids: Sequence[str]) -> int:
    for stream_id in stream_ids:
        count = 0
        last = -1
        for event in await store.read_stream(stream_id):
            count += 1
            last = event.version
        assert count > 0
        await store.append(stream_id, [_new_event()], last)
    return len(stream_ids)


async def ours_read_all_decoded(store: EventStore, page: int) -> int:
    decoded = 0
    after = START
    while True:
        batch = await store.read_all(after, page)
        for event in batch:
            AnswerRecorded.model_validate_json(event.data)
            decoded += 1
        if len(batch) < page:
            return decoded
        after = batch[-1].position


async def ours_concurrent_appends(store: EventStore, per_writer: Sequence[Sequence[str]]) -> int:
    counts = await asyncio.gather(*(ours_append_new_streams(store, ids) for ids in per_writer))
    return sum(counts)


def peer_timed(work: Callable[[], int]) -> Measured:
    return _with_cpu(lambda: timed(work))


def _with_cpu(run: Callable[[], tuple[int, float]]) -> Measured:
    """`run`'s count and seconds, and the process's CPU seconds around it (a collection first)."""
    gc.collect()
    cpu = time.process_time()
    count, seconds = run()
    return count, seconds, time.process_time() - cpu


# ------------------------------------------------------------------ the benches, per backend

OursBench = Callable[[EventStore], Awaitable[Measured]]
PeerBench = Callable[[ApplicationRecorder], Measured]


def append_new_streams(sizes: Sizes) -> tuple[OursBench, PeerBench]:
    async def ours(store: EventStore) -> Measured:
        await ours_append_new_streams(store, new_stream_ids(sizes.warmup, "w"))
        return await atimed(ours_append_new_streams(store, new_stream_ids(sizes.appends, "")))

    def theirs(recorder: ApplicationRecorder) -> Measured:
        peer.append_new_streams(recorder, new_stream_ids(sizes.warmup, "w"))
        ids = new_stream_ids(sizes.appends, "")
        return peer_timed(lambda: peer.append_new_streams(recorder, ids))

    return ours, theirs


def _decide_order(streams: Sequence[str], ops: int) -> list[str]:
    return [streams[i % len(streams)] for i in range(ops)]


def load_decide_append(sizes: Sizes) -> tuple[OursBench, PeerBench]:
    length, batch = sizes.decide_stream_length, sizes.seed_batch

    async def ours(store: EventStore) -> Measured:
        streams = new_stream_ids(sizes.decide_streams, "")
        warm = new_stream_ids(sizes.warmup, "w")
        await ours_seed(store, [*streams, *warm], length, batch)
        await ours_load_decide_append(store, warm)
        order = _decide_order(streams, sizes.decide_ops)
        return await atimed(ours_load_decide_append(store, order))

    def theirs(recorder: ApplicationRecorder) -> Measured:
        streams = new_stream_ids(sizes.decide_streams, "")
        warm = new_stream_ids(sizes.warmup, "w")
        peer.seed(recorder, [*streams, *warm], length, batch)
        peer.load_decide_append(recorder, warm)
        order = _decide_order(streams, sizes.decide_ops)
        return peer_timed(lambda: peer.load_decide_append(recorder, order))

    return ours, theirs


def read_all_decoded(sizes: Sizes) -> tuple[OursBench, PeerBench]:
    """The steady state of a replay: each side reads everything once untimed, then timed. The
    first read after a bulk write pays one-time costs on both sides (PostgreSQL sets hint bits on
    every row it visits first, caches warm) that no later reader pays again."""
    length = 10
    streams = sizes.read_all_events // length

    async def ours(store: EventStore) -> Measured:
        last = await ours_seed(store, new_stream_ids(streams, ""), length, sizes.seed_batch)
        await wait_visible(store, last, HORIZON_WAIT)
        await ours_read_all_decoded(store, sizes.page)  # warm-up: see above
        return await atimed(ours_read_all_decoded(store, sizes.page))

    def theirs(recorder: ApplicationRecorder) -> Measured:
        peer.seed(recorder, new_stream_ids(streams, ""), length, sizes.seed_batch)
        peer.read_all_decoded(recorder, sizes.page)  # warm-up
        return peer_timed(lambda: peer.read_all_decoded(recorder, sizes.page))

    return ours, theirs


def _per_writer(writers: int, per_writer: int, tag: str) -> list[list[str]]:
    return [new_stream_ids(per_writer, f"{tag}{w}") for w in range(writers)]


def concurrent_appends(sizes: Sizes) -> tuple[OursBench, PeerBench]:
    writers = sizes.writers
    each = max(1, sizes.appends // writers)
    warm_each = max(2, sizes.warmup // writers)

    async def ours(store: EventStore) -> Measured:
        await ours_concurrent_appends(store, _per_writer(writers, warm_each, "w"))
        return await atimed(ours_concurrent_appends(store, _per_writer(writers, each, "")))

    def theirs(recorder: ApplicationRecorder) -> Measured:
        peer.concurrent_appends(recorder, _per_writer(writers, warm_each, "w"))
        per_writer = _per_writer(writers, each, "")
        # The threads are started inside, before the timing.
        return _with_cpu(lambda: peer.concurrent_appends(recorder, per_writer))

    return ours, theirs


# ------------------------------------------------------------------ sides: fresh, then removed


class Backend(ABC):
    name: str
    details: dict[str, Any]  # printed with each of its results

    @abstractmethod
    def ours(self, pool_size: int) -> AbstractAsyncContextManager[EventStore]:
        """A fresh store of ours, removed on exit."""

    @abstractmethod
    def peer(self, pool_size: int) -> AbstractAsyncContextManager[ApplicationRecorder]:
        """A fresh recorder of the peer's, removed on exit."""


class SqliteBackend(Backend):
    name = "sqlite"

    def __init__(self, synchronous: Synchronous, journal_mode: str) -> None:
        self.synchronous = synchronous
        self.details = {
            "backend": f"SQLite {sqlite3.sqlite_version}",
            "journal_mode": journal_mode,
            "synchronous": synchronous,
        }

    @asynccontextmanager
    async def ours(self, pool_size: int) -> AsyncIterator[EventStore]:
        with tempfile.TemporaryDirectory(prefix="bench-ours-") as directory:
            store = await SqliteEventStore.open(
                Path(directory) / "events.db", synchronous=self.synchronous
            )
            try:
                yield store
            finally:
                await store.close()

    @asynccontextmanager
    async def peer(self, pool_size: int) -> AsyncIterator[ApplicationRecorder]:
        with (
            tempfile.TemporaryDirectory(prefix="bench-peer-") as directory,
            peer.sqlite_recorder(Path(directory) / "events.db") as recorder,
        ):
            yield recorder


class PostgresBackend(Backend):
    name = "postgres"

    def __init__(self, dsn: str, server: str, synchronous_commit: str) -> None:
        self.dsn = dsn
        self.details = {
            "backend": server,
            "synchronous_commit": synchronous_commit,
            "ours_driver": f"asyncpg {version('asyncpg')}",
            "peer_driver": f"psycopg {version('psycopg')} ({psycopg.pq.__impl__} implementation)",
        }

    async def _checkpoint(self) -> None:
        """Start each timed side with a clean slate: no dirty buffers left by the other side."""
        connection = await asyncpg.connect(self.dsn)
        try:
            await connection.execute("CHECKPOINT")
        except asyncpg.PostgresError:
            pass  # not allowed for this role: measure without it
        finally:
            await connection.close()

    @asynccontextmanager
    async def ours(self, pool_size: int) -> AsyncIterator[EventStore]:
        schema = f"bench_ours_{uuid4().hex[:12]}"
        try:
            store = await PostgresEventStore.open(self.dsn, schema=schema, pool_size=pool_size)
            try:
                await self._checkpoint()
                yield store
            finally:
                await store.close()
        finally:
            await drop_schema(self.dsn, schema)

    @asynccontextmanager
    async def peer(self, pool_size: int) -> AsyncIterator[ApplicationRecorder]:
        schema = f"bench_peer_{uuid4().hex[:12]}"
        connection = await asyncpg.connect(self.dsn)
        try:
            await connection.execute(f"CREATE SCHEMA {schema}")
        finally:
            await connection.close()
        try:
            await self._checkpoint()
            with peer.postgres_recorder(self.dsn, schema, pool_size) as recorder:
                yield recorder
        finally:
            await drop_schema(self.dsn, schema)


async def measure(
    backend: Backend,
    bench: str,
    benches: Callable[[Sizes], tuple[OursBench, PeerBench]],
    sizes: Sizes,
    pool_size: int = 1,
    extra: dict[str, Any] | None = None,
) -> BenchResult:
    name = f"{backend.name}.{bench}"
    ours_rates: list[float] = []
    peer_rates: list[float] = []
    ours_cpu: list[float] = []  # CPU µs per event of each counted round
    peer_cpu: list[float] = []
    ours_count = peer_count = 0
    ours_seconds = peer_seconds = 0.0
    try:
        for _ in range(ROUNDS + ATTEMPTS):
            ours_bench, peer_bench = benches(sizes)
            async with backend.ours(max(pool_size, 2)) as store:
                ours_count, ours_seconds, ours_cpu_s = await ours_bench(store)
            # Our store is closed, nothing of ours runs: the peer's synchronous code has the
            # process.
            async with backend.peer(pool_size) as recorder:
                peer_count, peer_seconds, peer_cpu_s = peer_bench(recorder)
            if ours_count != peer_count:
                raise RuntimeError(f"ours handled {ours_count} events, the peer {peer_count}")
            factor = count_round(
                ours_rates, peer_rates, (ours_count, ours_seconds), (peer_count, peer_seconds)
            )
            if factor is not None:
                sizes = sizes.scaled(factor)  # too short to judge: again, larger, not counted
                continue
            ours_cpu.append(ours_cpu_s / ours_count * 1e6)
            peer_cpu.append(peer_cpu_s / peer_count * 1e6)
            if len(ours_rates) == ROUNDS:
                break
        else:
            raise RuntimeError(f"no {ROUNDS} rounds of a second's work each")
    except Exception as error:
        # One failed bench (the server restarted, say) is a line of output, not a crashed run.
        return failed(name, f"{type(error).__name__}: {error}", backend.details)
    fields: dict[str, Any] = {
        "events": ours_count,
        "peer_events": peer_count,
        "ours_s": round(ours_seconds, 3),
        "peer_s": round(peer_seconds, 3),
        "ours_cpu_us": round(median(ours_cpu), 1),
        "peer_cpu_us": round(median(peer_cpu), 1),
        **rounds_detail(ours_rates, peer_rates),
        **backend.details,
        **(extra or {}),
    }
    return BenchResult(
        name, median(ours_rates), median(peer_rates), UNIT, fields, TARGETS.get(name, ())
    )


def failed(bench: str, error: str, details: dict[str, Any]) -> BenchResult:
    """A bench that could not be measured: `ours` 0.0 (BenchResult carries floats) and why."""
    return BenchResult(bench, 0.0, None, UNIT, {"skipped": True, "error": error, **details})


async def run_backend(backend: Backend, sizes: Sizes) -> AsyncIterator[BenchResult]:
    yield await measure(backend, "append_new_streams", append_new_streams, sizes)
    yield await measure(backend, "load_decide_append", load_decide_append, sizes)
    yield await measure(
        backend, "read_all_decoded", read_all_decoded, sizes, extra={"page": sizes.page}
    )
    yield await measure(
        backend,
        "append_16_writers",
        concurrent_appends,
        sizes,
        pool_size=sizes.writers,
        extra={"writers": sizes.writers, "pool_size": sizes.writers},
    )
    if isinstance(backend, SqliteBackend):
        yield await fsync_limit(backend, sizes)


async def fsync_limit(backend: SqliteBackend, sizes: Sizes) -> BenchResult:
    async def ours(store: EventStore, count: int) -> tuple[int, float]:
        await ours_append_new_streams(store, new_stream_ids(sizes.warmup, "w"))
        work = ours_append_new_streams(store, new_stream_ids(count, ""))
        appended, seconds, _ = await atimed(work)
        return appended, seconds

    try:
        return await eventstore_fsync.measure(sizes, backend.synchronous, backend.details, ours)
    except Exception as error:
        return failed(eventstore_fsync.BENCH, f"{type(error).__name__}: {error}", backend.details)


# ------------------------------------------------------------------ setup


@contextmanager
def _probe_directory() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="bench-probe-") as directory:
        yield Path(directory) / "probe.db"


def sqlite_backend() -> SqliteBackend:
    """Ours runs with the `synchronous` level the peer's connections actually have."""
    with _probe_directory() as path, peer.sqlite_recorder(path) as recorder:
        settings = peer.sqlite_settings(recorder)
    synchronous = settings["synchronous"]
    if synchronous not in ("FULL", "NORMAL"):
        raise RuntimeError(f"the peer runs SQLite with synchronous={synchronous}, ours cannot")
    return SqliteBackend(cast(Synchronous, synchronous), settings["journal_mode"])


def database_url() -> str:
    if url := os.environ.get("BVB_DATABASE_URL"):
        return url
    env_file = Path(__file__).resolve().parent.parent / "var" / "infra.env"
    if env_file.is_file():
        match = re.search(r"BVB_DATABASE_URL=(\S+)", env_file.read_text())
        if match:
            return match.group(1)
    return DEFAULT_DSN


async def postgres_backend(dsn: str) -> PostgresBackend | str:
    """The backend, or why PostgreSQL cannot be used."""
    try:
        connection = await asyncpg.connect(dsn, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        return f"PostgreSQL at {re.sub(r'//[^@]*@', '//', dsn)} unreachable: {error!r}"
    try:
        server = await connection.fetchval("SELECT version()")
        synchronous_commit = await connection.fetchval("SHOW synchronous_commit")
    finally:
        await connection.close()
    return PostgresBackend(dsn, str(server).split(" on ")[0], str(synchronous_commit))


async def run(quick: bool) -> AsyncIterator[BenchResult]:
    sizes = QUICK if quick else FULL
    common = {
        "payload_bytes": len(PAYLOAD),
        "peer_lib": f"eventsourcing {version('eventsourcing')}",
        "quick": quick,
    }
    sqlite = sqlite_backend()
    sqlite.details.update(common)
    async for result in run_backend(sqlite, sizes):
        yield result
    postgres = await postgres_backend(database_url())
    if isinstance(postgres, str):
        for bench in POSTGRES_BENCHES:
            yield failed(bench, postgres, common)
        return
    postgres.details.update(common)
    async for result in run_backend(postgres, sizes):
        yield result
