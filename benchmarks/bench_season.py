"""`simulate.season`: how fast `bvb simulate season` writes a season through the services' use
cases into SQLite stores (`synchronous=NORMAL`, the bulk load's setting, docs/adr/0056; each
service's writes committed through the season's unit of work, docs/adr/0069), in
events per second over every store's events, against a peer that appends the very same events
(copied from the simulated stores) with the store's raw `append_many`, 500 a commit, into fresh
stores with the same setting: the price of deciding every event through the domain. The
target is the issue's: 20,000 events/s.

Two figures, each round taking both: `simulate.season`, one process, and
`simulate.season.two_processes`, a forked helper deciding half of the diagnostics phase (ADR
0094), both pinned (`processes`) so that how busy the machine is never chooses the path a round
takes; the peer appends the one-process season's events (both write the same events)."""

import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.result import BenchResult, ours_at_least
from benchmarks.rounds import ROUNDS, median, rounds_detail
from bilet.contracts import CATALOGUE
from bilet.eventstore import ANY, NewEvent, RecordedEvent, StreamAppend
from bilet.eventstore.sqlite import SqliteEventStore
from bilet.settings import PlatformSettings
from bilet_host.simulate import SeasonPlan, simulate_season

PEER_COMMIT = 500  # events per append_many of the peer
TARGET = 20_000  # events/s, issue #16


async def _events(var_dir: Path) -> dict[str, list[RecordedEvent]]:
    """Every store's events (the services' audit and reservations included)."""
    out: dict[str, list[RecordedEvent]] = {}
    settings = PlatformSettings(var_dir=var_dir)
    for service in CATALOGUE.producers():
        path = settings.sqlite_path(service)
        async with await SqliteEventStore.open(path, "NORMAL") as store:
            events: list[RecordedEvent] = []
            position = 0
            while page := await store.read_all(position, 10_000):
                events += page
                position = page[-1].position
        out[service] = events
    return out


async def _ours(
    plan: SeasonPlan, var_dir: Path, processes: int
) -> tuple[float, float, dict[str, float], dict[str, list[RecordedEvent]]]:
    """Events per second of wall time and per second of CPU (every thread of the process, and
    its helper process's, docs/adr/0094), and each phase's CPU seconds: on a machine shared with
    other work CPU says what the code costs."""
    started, cpu = time.perf_counter(), time.process_time()
    report = await simulate_season(plan, var_dir, synchronous="NORMAL", processes=processes)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu + report.helper_cpu_seconds
    assert not report.refused, report.refused
    assert (report.helped > 0) == (processes > 1), report.helped  # the path it was pinned to
    events = await _events(var_dir)
    written = sum(map(len, events.values()))
    return written / elapsed, written / cpu, report.cpu_seconds, events


async def _peer(events: dict[str, list[RecordedEvent]], out: Path) -> float:
    started = time.perf_counter()
    for name, recorded in events.items():
        async with await SqliteEventStore.open(out / f"{name}.sqlite3", "NORMAL") as store:
            for start in range(0, len(recorded), PEER_COMMIT):
                streams: dict[str, list[NewEvent]] = {}  # one part per stream, in order
                for e in recorded[start : start + PEER_COMMIT]:
                    streams.setdefault(e.stream_id, []).append(NewEvent(e.type, e.data, e.metadata))
                await store.append_many([StreamAppend(s, new, ANY) for s, new in streams.items()])
    return sum(map(len, events.values())) / (time.perf_counter() - started)


@dataclass
class _Mode:
    """One figure's rounds: events/s, events per CPU-second, each phase's CPU seconds."""

    processes: int
    rates: list[float] = field(default_factory=list)
    per_cpu_second: list[float] = field(default_factory=list)
    phases: list[dict[str, float]] = field(default_factory=list)


async def run(quick: bool) -> AsyncIterator[BenchResult]:
    plan = SeasonPlan(seed=1, regions=1 if quick else 2, pupils=40 if quick else 400, season=2026)
    modes = {"simulate.season": _Mode(1), "simulate.season.two_processes": _Mode(2)}
    peer: list[float] = []
    written = 0
    for _ in range(ROUNDS):
        with tempfile.TemporaryDirectory(prefix="bench-season-") as tmp:
            for name, mode in modes.items():
                rate, per_cpu_second, by_phase, events = await _ours(
                    plan, Path(tmp) / name, mode.processes
                )
                mode.rates.append(rate)
                mode.per_cpu_second.append(per_cpu_second)
                mode.phases.append(by_phase)
                if mode.processes == 1:
                    (Path(tmp) / "peer").mkdir()
                    peer.append(await _peer(events, Path(tmp) / "peer"))
                    written = sum(map(len, events.values()))
    for name, mode in modes.items():
        yield BenchResult(
            name,
            median(mode.rates),
            median(peer),
            "events/s",
            {
                "regions": plan.regions,
                "pupils": plan.pupils,
                "events": written,
                "synchronous": "NORMAL",
                "processes": mode.processes,
                "peer_is": f"the same events, raw append_many, {PEER_COMMIT} a commit",
                "events_per_cpu_second_ours": round(median(mode.per_cpu_second)),
                # Where the CPU goes: each phase's median CPU seconds over the rounds (the
                # helper's counted in diagnostics').
                "cpu_seconds_by_phase": {
                    phase: round(median([p[phase] for p in mode.phases]), 3)
                    for phase in mode.phases[0]
                },
                **rounds_detail(mode.rates, peer),
            },
            (ours_at_least(TARGET),),
        )
