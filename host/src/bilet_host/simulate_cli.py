"""`bvb simulate season`: the command line of the season simulation (`bilet_host.simulate`).

Prints what the season holds, what the services' rules refused, and how many events per second
were written (every store's new events over the wall time of the whole run).
"""

import argparse
import asyncio
import sqlite3
import sys
import time
from pathlib import Path
from typing import Literal

from bilet import stores
from bilet.contracts import CATALOGUE
from bilet.settings import PlatformSettings
from bilet_host.simulate import SeasonPlan, SimulationReport, simulate_season

DEFAULT_SEASON = 2026


def add_commands(simulate: argparse.ArgumentParser) -> None:
    commands = simulate.add_subparsers(dest="simulate_command", required=True)
    parser = commands.add_parser(
        "season",
        help="write a synthetic, reproducible season into the stores through the use cases",
    )
    parser.add_argument("--regions", type=int, required=True, help="how many regions (1–89)")
    parser.add_argument("--pupils", type=int, required=True, help="how many pupils in all")
    parser.add_argument("--seed", type=int, default=1, help="the seed (same seed: same season)")
    parser.add_argument(
        "--season", type=int, default=DEFAULT_SEASON, help=f"the season (default {DEFAULT_SEASON})"
    )
    parser.add_argument("--var-dir", type=Path, help="the stores' directory (default BVB_VAR_DIR)")
    parser.add_argument(
        "--sync",
        choices=("full", "normal"),
        help="SQLite stores' synchronous for the load (default: the settings', FULL); normal "
        "survives a crash of the process, not a power loss, until the final checkpoint",
    )
    parser.add_argument(
        "--processes",
        type=int,
        choices=(1, 2),
        help="2: a forked helper decides half of the diagnostics phase (SQLite stores; the same "
        "season as one process); default: 2 when the machine had half a core idle through the "
        "first phases, else 1",
    )
    parser.set_defaults(handler=season_command)


def season_command(args: argparse.Namespace) -> int:
    if args.pupils < 1 or not 1 <= args.regions <= 89 or args.regions > args.pupils:
        print("bvb simulate season: 1 to 89 regions, at least one pupil each", file=sys.stderr)
        return 2
    plan = SeasonPlan(args.seed, args.regions, args.pupils, args.season)
    settings = (
        PlatformSettings() if args.var_dir is None else PlatformSettings(var_dir=args.var_dir)
    )
    before = asyncio.run(_store_heads(settings))
    if any(before.values()):
        # A season is simulated into empty stores: into `make run`'s or another season's, its
        # regions and pupils would collide (or worse, mix with real ones).
        print(
            "bvb simulate season: the stores are not empty; give a new --var-dir", file=sys.stderr
        )
        return 2
    started = time.perf_counter()
    synchronous: Literal["FULL", "NORMAL"] | None = None
    if args.sync is not None:
        synchronous = "NORMAL" if args.sync == "normal" else "FULL"
    report = asyncio.run(
        simulate_season(plan, args.var_dir, synchronous=synchronous, processes=args.processes)
    )
    if settings.event_store == "sqlite":
        checkpoint(settings.var_dir)
    elapsed = time.perf_counter() - started
    written = asyncio.run(_written_since(settings, before))
    print(_summary(plan, report, written, elapsed), flush=True)
    return 1 if report.refused else 0


def checkpoint(var_dir: Path) -> None:
    """Copy every SQLite database's write-ahead log into its file and sync it (a connection's
    default `synchronous` is FULL): after a `--sync normal` load, what was written is as durable
    as a FULL load's once this returns (docs/adr/0056). Counted in the run's time."""
    for path in sorted(var_dir.glob("*.sqlite3")):
        db = sqlite3.connect(path)
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.close()


async def _store_heads(settings: PlatformSettings) -> dict[str, int]:
    heads = {}
    sources = await stores.open_source_stores(settings, list(CATALOGUE.producers()))
    for service, store in sources.items():
        heads[service] = await store.head_position()
        await store.close()
    return heads


async def _written_since(settings: PlatformSettings, heads: dict[str, int]) -> dict[str, int]:
    """The events each store holds after its head before the run, counted (positions are no
    count on PostgreSQL): the services' own internal events, audit and reservations, included."""
    written = {}
    sources = await stores.open_source_stores(settings, list(CATALOGUE.producers()))
    for service, store in sources.items():
        position, count = heads[service], 0
        while page := await store.read_all(position, 10_000):
            count += len(page)
            position = page[-1].position
        written[service] = count
        await store.close()
    return written


def _summary(
    plan: SeasonPlan, report: SimulationReport, written: dict[str, int], elapsed: float
) -> str:
    refused = ", ".join(f"{code}: {n}" for code, n in sorted(report.refused.items())) or "none"
    total = sum(written.values())
    lines = [
        f"Season {plan.season} (seed {plan.seed}), {plan.regions} region(s):",
        f"  pupils {report.pupils} in {report.schools} schools; verified consents "
        f"{report.consents} ({report.analytics_consents} covering analytics)",
        f"  diagnostics stages completed {report.stages}",
        f"  career events {report.career_events}; bookings {report.bookings}, attended "
        f"{report.attended}, feedback {report.feedback}",
        f"  refused by the services' rules: {refused}",
        f"  {total} events in {elapsed:.1f} s: {total / max(elapsed, 1e-9):.0f} events/s",
    ]
    for service, seconds in report.seconds.items():
        events = written.get(service, 0)
        cpu = report.cpu_seconds.get(service, 0.0)
        lines.append(
            f"    {service:<12} {events:>9} events in {seconds:7.1f} s: "
            f"{events / max(seconds, 1e-9):.0f} events/s; {cpu:.1f} s of CPU: "
            f"{events / max(cpu, 1e-9):.0f} events per CPU-second"
        )
    return "\n".join(lines)
