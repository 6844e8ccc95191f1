"""`simulate.season`: how fast `bvb simulate season` writes a season through the services' use
cases into SQLite stores (`synchronous=NORMAL`, the bulk load's setting, docs/adr/0056; each
service's writes committed through the season's unit of work, docs/adr/0069), in
events per second over every store's events, against a peer that appends the very same events
(copied from the simulated stores) with the store's raw `append_many`, 500 a commit, into fresh
stores with the same setting: the price of deciding every event through the domain. The
target is the issue's: 20,000 events/s."""

import tempfile
import time
from collections.abc import AsyncIterator
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
    plan: SeasonPlan, var_dir: Path
) -> tuple[float, float, dict[str, float], dict[str, list[RecordedEvent]], bool]:
    """Events per second of wall time and per second of CPU (every thread of the process, and
    its helper process's, docs/adr/0094), and each phase's CPU seconds: on a machine shared with
    other work CPU says what the code costs."""
    started, cpu = time.perf_counter(), time.process_time()
    report = await simulate_season(plan, var_dir, synchronous="NORMAL")
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu + report.helper_cpu_seconds
    assert not report.refused, report.refused
    events = await _events(var_dir)
    written = sum(map(len, events.values()))
    return written / elapsed, written / cpu, report.cpu_seconds, events, report.helped > 0


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


async def run(quick: bool) -> AsyncIterator[BenchResult]:
    plan = SeasonPlan(seed=1, regions=1 if quick else 2, pupils=40 if quick else 400, season=2026)
    ours, ours_cpu, peer, written, helped = [], [], [], 0, 0
    phases: list[dict[str, float]] = []
    for _ in range(ROUNDS):
        with tempfile.TemporaryDirectory(prefix="bench-season-") as tmp:
            rate, per_cpu_second, by_phase, events, with_helper = await _ours(
                plan, Path(tmp) / "var"
            )
            helped += with_helper
            phases.append(by_phase)
            (Path(tmp) / "peer").mkdir()
            ours.append(rate)
            ours_cpu.append(per_cpu_second)
            peer.append(await _peer(events, Path(tmp) / "peer"))
            written = sum(map(len, events.values()))
    yield BenchResult(
        "simulate.season",
        median(ours),
        median(peer),
        "events/s",
        {
            "regions": plan.regions,
            "pupils": plan.pupils,
            "events": written,
            "synchronous": "NORMAL",
            "peer_is": f"the same events, raw append_many, {PEER_COMMIT} a commit",
            "events_per_cpu_second_ours": round(median(ours_cpu)),
            # rounds whose diagnostics phase forked a helper (a core to spare, ADR 0094)
            "rounds_with_a_helper": helped,
            # Where the CPU goes: each phase's median CPU seconds over the rounds.
            "cpu_seconds_by_phase": {
                name: round(median([p[name] for p in phases]), 3) for name in phases[0]
            },
            **rounds_detail(ours, peer),
        },
        (ours_at_least(TARGET),),
    )
