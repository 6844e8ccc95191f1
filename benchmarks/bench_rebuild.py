"""A season on PostgreSQL, replayed: the portfolio rebuild and the analytics funnel (issue 16).

The season: a small one simulated through the services' use cases (`bvb simulate season`, 2
regions × 20 pupils, 372 published events and 5 shared ones) copied with fresh ids into five
PostgreSQL event stores, one schema per service (`benchmarks/season_copies.py`: published events
only, sealed fields copied sealed, times laid out over the season's calendar). The rebuild
replays 10 copies (quick: 200 pupils, 3,725 events) or 100 (full: 2,000 pupils, ~37,000
events), not the issue's 100,000 pupils (seeding them alone would take an hour here); the
figure for 1 M pupils is projected from the measured rate. The rebuild folds the history in a
private SQLite fold through the projection's own handlers and writes the finished tables with
COPY (docs/adr/0076); the portfolio's documents, counts and superseded recommendation sets
wait for the copy, once per pupil (docs/adr/0097), and a set is decoded only if it is its
pupil's season's last (docs/adr/0107: the season's pupils are issued ~4.4 sets each). The funnel
is then asked of the same stores (the same copies: the quick and full seasons are the
rebuild's).

`portfolio.rebuild.postgres` (events/s; target: 30 M events in 10 minutes, i.e. >= 50,000/s):
- ours: what `bvb portfolio rebuild --from stores` runs — `rebuild_from_stores` of
  `PortfolioProjection` over the five stores (published types only) into a fresh PostgreSQL
  read-model schema, folded (the default budget of `BVB_PORTFOLIO_REBUILD_FOLD_MIB`): shadow
  tables, the sources merged by recorded time into the fold, every handler's SQL there, the
  COPY, the switch; from the call to its return, with the command's garbage collector (the
  projection workers', docs/adr/0114). The read model must then hold every pupil;
- peer: a bare read of the same events from the same stores, the same pages (2,000 events, the
  rebuild's) with the same type filter, counted and dropped: the floor of any replay;
- extra: the events per second of the rebuild process's own CPU (`process_time`; on this shared
  machine the wall clock follows the load), and the time a season of 1 M pupils of this shape,
  and one of 30 M events, would take at the measured rate (linear: the rebuild's cost is per
  event; tables grow, so it is a lower bound), against the issue's 10 minutes.

`analytics.funnel.duckdb` (ms per query; lower is better; the issue sets no target):
- the season exported once (`ExportRun` from the stores, purpose `bench_funnel`; its time is in
  the extra figures);
- ours: worked query 3 of docs/analytics.md, as printed, in DuckDB over the export;
- peer: the same question over the raw event tables (`benchmarks/funnel_queries.py`: JSON read
  with jsonb operators, the export's population rule written in SQL); both answers are compared
  row by row before timing;
- each side runs its query again and again for at least a second per round.

Rounds: 3 per line, sides alternating; medians reported. When PostgreSQL cannot be reached, both
lines say `"skipped": true`.
"""

import asyncio
import contextlib
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import asyncpg

from benchmarks.funnel_queries import FunnelRow, documented_funnel, raw_funnel
from benchmarks.infra import database_url, drop_schemas, unreachable
from benchmarks.result import BenchResult, ours_at_least
from benchmarks.rounds import ROUNDS, median, per_call, rounds_detail
from benchmarks.season_copies import SEASON, SeasonTemplate, seed, simulated_template, store_schemas
from bilet.analytics import ExportRequest, ExportRun, StoreSource, connect
from bilet.contracts import CATALOGUE
from bilet.crypto import InMemoryKeyStore
from bilet.eventstore import EventStore
from bilet.eventstore.postgres import PostgresEventStore
from bilet.projections import rebuild_from_stores
from bilet.projections.collector import CollectorSettings, restore_collector, tune_collector
from bilet.projections.folded import DEFAULT_MEMORY_MIB
from bilet.projections.postgres import PostgresReadModel
from bilet.projections.readmodel.schema import DEAD_LETTERS
from bilet.projections.rebuild import REBUILD_FROM_STORES
from bilet_host.simulate import SeasonPlan
from bilet_portfolio.adapters.projection import PortfolioProjection
from bilet_portfolio.adapters.projection.tables import PARTICIPANTS

TEMPLATE: Final = SeasonPlan(seed=1, regions=2, pupils=20, season=SEASON)
TARGET_EVENTS: Final = 30_000_000
TARGET_PUPILS: Final = 1_000_000
TARGET_SECONDS: Final = 600.0
PAGE: Final = REBUILD_FROM_STORES["batch_size"]  # the pages the rebuild reads
# How long the seeded events may stay held back by another transaction of the cluster.
VISIBLE_WITHIN: Final = 120.0
REBUILD_LINE: Final = "portfolio.rebuild.postgres"
FUNNEL_LINE: Final = "analytics.funnel.duckdb"


@dataclass(frozen=True)
class Sizes:
    rebuild_copies: int  # the season the rebuild replays
    funnel_copies: int  # the season the funnel is asked of (the rebuild's, with more copies)


# Seeding runs at ~1,000 events/s here (docs/adr/0061): the 100,000 pupils would take
# an hour to seed, so the seasons are smaller and the figure for 1 M pupils is projected from
# the rate. The rebuild and the funnel share one season (docs/adr/0076).
QUICK: Final = Sizes(rebuild_copies=10, funnel_copies=10)
FULL: Final = Sizes(rebuild_copies=100, funnel_copies=100)


async def _rebuild(
    dsn: str, sources: Mapping[str, EventStore], schema: str
) -> tuple[float, float, int]:
    """One rebuild into a fresh read-model schema: (seconds, this process's CPU seconds,
    participants in the result). An event dead-lettered instead of applied would make the
    rebuild look faster: none may be."""
    # The collector `bvb portfolio rebuild` runs with (the projection workers', ADR 0114); its
    # settings read before the read model is opened, as the command does: a bad one leaves
    # nothing open.
    collector_settings = CollectorSettings()
    read_model = await PostgresReadModel.open(dsn, schema=schema)
    collector = tune_collector(collector_settings, process="portfolio rebuild bench")
    try:
        started, cpu_started = time.perf_counter(), time.process_time()
        await rebuild_from_stores(
            read_model,
            PortfolioProjection(),
            sources,
            event_types=CATALOGUE.event_types(),
            fold_memory_mib=DEFAULT_MEMORY_MIB,
        )
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    finally:
        restore_collector(collector)
        await read_model.close()
    connection = await asyncpg.connect(dsn)
    try:
        built = await connection.fetchval(f"SELECT count(*) FROM {schema}.{PARTICIPANTS}")  # noqa: S608
        dead = await connection.fetchval(f"SELECT count(*) FROM {schema}.{DEAD_LETTERS}")  # noqa: S608
        assert dead == 0, f"the rebuild dead-lettered {dead} events"
    finally:
        await connection.close()
        await drop_schemas(dsn, [schema])
    return elapsed, cpu, int(built)


async def _bare_read(sources: Mapping[str, EventStore]) -> int:
    read = 0
    published = CATALOGUE.event_types()
    for store in sources.values():
        position = 0
        while page := await store.read_all(position, PAGE, event_types=published):
            read += len(page)
            position = page[-1].position
    return read


async def _until_visible(sources: Mapping[str, EventStore], events: int) -> None:
    """Wait until every seeded event can be read. A PostgreSQL store reads only below its
    horizon, which any transaction still open anywhere in the cluster holds back (another
    helper's tests on the shared servers): a round timed before then replays part of the season
    (a bare read counted 825 of 3,725 events, a rebuild built 0 of 200 pupils). The horizon
    only grows, so once all are read they stay readable for every round."""
    deadline = time.monotonic() + VISIBLE_WITHIN
    while (read := await _bare_read(sources)) != events:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{read} of {events} seeded events readable: the horizon is held")
        await asyncio.sleep(0.2)  # a poll of the stores' horizon, not a synchronisation


async def _rebuild_line(
    dsn: str, sources: Mapping[str, EventStore], events: int, pupils: int, prefix: str
) -> BenchResult:
    ours: list[float] = []
    ours_cpu: list[float] = []  # events per second of this process's CPU (the fold is CPU-bound)
    peer: list[float] = []
    for round_number in range(ROUNDS):
        sides = ["ours", "peer"] if round_number % 2 == 0 else ["peer", "ours"]
        for side in sides:
            if side == "ours":
                seconds, cpu, built = await _rebuild(dsn, sources, f"{prefix}_rm{round_number}")
                ours_cpu.append(events / cpu)
                assert built == pupils, f"the rebuild holds {built} of {pupils} pupils"
                ours.append(events / seconds)
            else:

                async def read_all() -> None:
                    read = await _bare_read(sources)
                    assert read == events, f"a bare read counted {read} of {events} events"

                calls, seconds = await per_call(read_all)
                peer.append(calls * events / seconds)
    rate = median(ours)
    per_pupil = events / pupils
    return BenchResult(
        REBUILD_LINE,
        rate,
        median(peer),
        "events/s",
        {
            "events": events,
            "pupils": pupils,
            "events_per_pupil": round(per_pupil, 2),
            "store": "postgres",
            "peer_is": f"a bare read_all of the same events, {PAGE} a page, same type filter",
            "projected_minutes_30m_events": round(TARGET_EVENTS / rate / 60, 1),
            "projected_minutes_1m_pupils": round(TARGET_PUPILS * per_pupil / rate / 60, 1),
            "target_minutes": TARGET_SECONDS / 60,
            # Wall-clock rates here follow the machine's load; the CPU the rebuild's process
            # spent per event does much less (docs/adr/0076).
            "ours_events_per_cpu_second": round(median(ours_cpu), 1),
            "projected_minutes_30m_events_one_free_core": round(
                TARGET_EVENTS / median(ours_cpu) / 60, 1
            ),
            **rounds_detail(ours, peer),
        },
        (ours_at_least(TARGET_EVENTS / TARGET_SECONDS),),
    )


def _duck_rows(out: Path) -> Callable[[], list[FunnelRow]]:
    database = connect(out)
    database.execute("SET TimeZone = 'UTC'")
    sql = documented_funnel()

    def ask() -> list[FunnelRow]:
        return [_row(*row) for row in database.execute(sql).fetchall()]

    return ask


def _row(region: Any, week: datetime, *counts: int) -> FunnelRow:
    at = week.astimezone(UTC) if week.tzinfo else week.replace(tzinfo=UTC)
    registered, consented, stages, attended = (int(count) for count in counts)
    return (region, at, registered, consented, stages, attended)


async def _funnel_line(
    dsn: str, sources: Mapping[str, EventStore], schemas: Mapping[str, str], root: Path
) -> BenchResult:
    out = root / "export"
    started = time.perf_counter()
    report = await ExportRun(
        StoreSource(sources), InMemoryKeyStore(), ExportRequest("bench_funnel", out)
    ).execute()
    export_seconds = time.perf_counter() - started
    ask_duckdb = _duck_rows(out)
    raw_sql = raw_funnel(
        schemas["identity"], schemas["consent"], schemas["diagnostics"], schemas["events"]
    )
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("SET TIME ZONE 'UTC'")

        async def ask_postgres() -> list[FunnelRow]:
            return [_row(*row.values()) for row in await connection.fetch(raw_sql)]

        answer = ask_duckdb()
        assert answer == await ask_postgres(), "DuckDB and PostgreSQL answer differently"
        assert sum(row[2] for row in answer) > 0, "the funnel counted nobody"

        async def duckdb_once() -> None:
            ask_duckdb()

        ours: list[float] = []
        peer: list[float] = []
        for round_number in range(ROUNDS):
            sides = [(ours, duckdb_once), (peer, ask_postgres)]
            if round_number % 2:
                sides.reverse()
            for times, once in sides:
                calls, seconds = await per_call(once)
                times.append(seconds / calls * 1000)
    finally:
        await connection.close()
    return BenchResult(
        FUNNEL_LINE,
        median(ours),
        median(peer),
        "ms",
        {
            "rows": len(answer),
            "pupils_counted": sum(row[2] for row in answer),
            "exported_events": sum(report.manifest.tables.values()),
            "export_seconds": round(export_seconds, 1),
            "peer_is": "the same funnel in SQL over the raw PostgreSQL event tables (jsonb)",
            "ratio_is": "DuckDB time / PostgreSQL time (lower is better)",
            **rounds_detail(ours, peer),
        },
    )


def _skipped(reason: str) -> list[BenchResult]:
    return [
        BenchResult(REBUILD_LINE, 0.0, None, "events/s", {"skipped": True, "reason": reason}),
        BenchResult(FUNNEL_LINE, 0.0, None, "ms", {"skipped": True, "reason": reason}),
    ]


async def run(quick: bool) -> AsyncIterator[BenchResult]:
    dsn = database_url()
    if (reason := await unreachable(None, dsn)) is not None:
        for result in _skipped(reason):
            yield result
        return
    sizes = QUICK if quick else FULL
    template: SeasonTemplate = await simulated_template(TEMPLATE)
    prefix = f"benchrb{uuid.uuid4().hex[:10]}"
    schemas = store_schemas(prefix)
    sources: dict[str, EventStore] = {}
    try:
        started = time.perf_counter()
        events = await seed(dsn, schemas, template, sizes.rebuild_copies)
        seed_seconds = time.perf_counter() - started
        for service, schema in schemas.items():
            sources[service] = await PostgresEventStore.open(dsn, schema=schema, pool_size=4)
        await _until_visible(sources, events)
        pupils = template.pupils * sizes.rebuild_copies
        line = await _rebuild_line(dsn, sources, events, pupils, prefix)
        yield replace(
            line,
            extra={
                **line.extra,
                "copies": sizes.rebuild_copies,
                "seed_seconds": round(seed_seconds, 1),
                "quick": quick,
            },
        )
        more = sizes.funnel_copies - sizes.rebuild_copies
        if more > 0:
            events += await seed(dsn, schemas, template, more, first=False, seed=2)
        with tempfile.TemporaryDirectory(prefix="bench-funnel-") as directory:
            funnel = await _funnel_line(dsn, sources, schemas, Path(directory))
        yield replace(
            funnel,
            extra={
                **funnel.extra,
                "events": events,
                "pupils": template.pupils * sizes.funnel_copies,
                "quick": quick,
            },
        )
    finally:
        for store in sources.values():
            with contextlib.suppress(Exception):
                await store.close()
        await drop_schemas(dsn, list(schemas.values()))
