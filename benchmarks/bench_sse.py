"""The portfolio's server-sent events at rest: what open, idle update streams cost the API process.

`portfolio.sse.idle_1000` (% of one core; target: ours <= 5 %, issue 17):
- ours: the CPU time (user + system, from `/proc/<pid>/stat`: Linux) the portfolio's API process
  spends per second of a window while 1,000 update streams are open and nothing changes, minus
  what it spends per second of a window of the same length with none open, in the same round:
  what the streams themselves cost (clock ticks of 10 ms make a 2 s window's figure accurate to
  0.5 %; a figure below 0 is the floor's own noise). The process is uvicorn serving `create_app`
  over a prepared SQLite `var/` (`benchmarks.portfolio_world`, a school of pupils), fed
  in-process as `make run` feeds it, so its streams sleep until a commit changes their pupil
  (docs/adr/0059); each stream is a school navigator's, spread over the school's pupils, on a
  keep-alive connection of its own from this process, opened and read up to its first event
  before the window starts.
- peer: the same process over the same window length with no stream open (the feed looking at
  its sources, uvicorn's timers): the process's floor. The ratio says how many idle processes
  the streams weigh.
- `portfolio.sse.idle_1000.polling` (a diagnostic, no target): the same, the server fed by no
  feed of its own (a SQLite read model fed by another process: no commit can wake a stream
  there), so every stream looks at its pupil every `portfolio_sse_poll_seconds` (0.25 s) — what
  every stream cost before ADR 0059. A process cannot use more of a core than the machine
  gives it: under a high load average (on the line) this figure is capped by that.
- rounds: 3, each a peer window, the streams opened, an ours window, the streams closed;
  windows of 2 s (quick) or 10 s (full); the medians, and each side's rounds with their spread.
"""

import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from datetime import date
from pathlib import Path

from benchmarks.bench_portfolio import server_process
from benchmarks.infra import process_cpu
from benchmarks.portfolio_processes import HOST
from benchmarks.portfolio_world import World, prepare
from benchmarks.result import BenchResult, ours_at_most
from benchmarks.rounds import ROUNDS, median, rounds_detail
from bilet.http import Role
from bilet.http.devkeys import ensure_development_keys
from bilet_portfolio.settings import PortfolioSettings

STREAMS = 1000
PUPILS = 50
IDLE_TARGET = 5.0  # % of one core
OPENING_AT_ONCE = 50  # streams being opened at a time (each a request, an access check)
SETTLE_SECONDS = 0.5  # after the last stream's first event, before the window
WOUND_UP_SECONDS = 2.0  # after the streams are closed, before the next floor's window
QUICK_WINDOW, FULL_WINDOW = 2.0, 10.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process so far (Linux `/proc/<pid>/stat`)."""
    seconds = process_cpu(pid)
    if seconds is None:
        raise RuntimeError(f"no CPU time for process {pid}: no /proc, or it has ended")
    return seconds


async def core_share(pid: int, seconds: float) -> float:
    """The % of one core the process used over the next `seconds`."""
    cpu, started = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(seconds)
    return 100 * (cpu_seconds(pid) - cpu) / (time.monotonic() - started)


async def _open_stream(port: int, path: str, authorization: str) -> asyncio.StreamWriter:
    """A stream read up to its first event (a `portfolio` event: access was granted)."""
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: {authorization}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    if head[9:12] != b"200":
        raise RuntimeError(f"the stream was refused: {head[:40]!r}")
    await reader.readuntil(b"event: portfolio")
    return writer


@contextlib.asynccontextmanager
async def open_streams(port: int, paths: Sequence[str], authorization: str) -> AsyncIterator[None]:
    """`len(paths)` open streams for the block's duration; unread keep-alives wait in buffers."""
    limit = asyncio.Semaphore(OPENING_AT_ONCE)
    writers: list[asyncio.StreamWriter] = []

    async def one(path: str) -> None:
        async with limit:
            writers.append(await _open_stream(port, path, authorization))

    try:
        await asyncio.gather(*(one(path) for path in paths))
        await asyncio.sleep(SETTLE_SECONDS)
        yield
    finally:
        for writer in writers:
            writer.close()
        await asyncio.gather(*(writer.wait_closed() for writer in writers), return_exceptions=True)


async def idle_streams(
    name: str, role: str, var_dir: Path, world: World, window: float, *, target: bool
) -> BenchResult:
    signer = ensure_development_keys(var_dir)
    authorization = "Bearer " + signer.mint(Role.NAVIGATOR, school=str(world.school_id))
    paths = [
        f"/portfolio/v1/participants/{world.pupil(number % PUPILS)}/updates"
        for number in range(STREAMS)
    ]
    ours: list[float] = []
    peer: list[float] = []
    async with server_process([], [role, str(var_dir)], "/portfolio/readyz") as (port, pid):
        for _ in range(ROUNDS):
            await asyncio.sleep(WOUND_UP_SECONDS)  # the previous round's streams wound up
            idle = await core_share(pid, window)
            async with open_streams(port, paths, authorization):
                with_streams = await core_share(pid, window)
            peer.append(idle)
            ours.append(with_streams - idle)  # below 0 when the floor's noise is larger
    return BenchResult(
        name,
        median(ours),
        median(peer),
        "% of a core",
        {
            "streams": STREAMS,
            "pupils": PUPILS,
            "window_s": window,
            "load_average_1m": round(os.getloadavg()[0], 2),
            **rounds_detail(ours, peer),
        },
        (ours_at_most(IDLE_TARGET),) if target else (),
    )


async def run(quick: bool) -> AsyncIterator[BenchResult]:
    window = QUICK_WINDOW if quick else FULL_WINDOW
    with tempfile.TemporaryDirectory(prefix="bench-sse-") as directory:
        var_dir = Path(directory) / "var"
        world = await prepare(PortfolioSettings(var_dir=var_dir), PUPILS, date.today())
        yield await idle_streams(
            "portfolio.sse.idle_1000", "serve-portfolio-fed", var_dir, world, window, target=True
        )
        yield await idle_streams(
            "portfolio.sse.idle_1000.polling",
            "serve-portfolio",
            var_dir,
            world,
            window,
            target=False,
        )
