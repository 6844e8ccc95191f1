"""`bvb portfolio …`: operations on the portfolio read model.

    bvb portfolio rebuild [--from stores|kafka]   replay the history into shadow tables and
                                                  switch, while the API keeps serving
    bvb portfolio status                          how far the read model is, per source

`--from stores` replays the services' event stores (`make run`: the SQLite files under `var/`);
`--from kafka` the topics from their beginnings. From the stores into PostgreSQL the history is
folded in a private SQLite fold, then copied with COPY (`BVB_PORTFOLIO_REBUILD_FOLD_MIB`, its
memory budget; docs/adr/0076; `BVB_PORTFOLIO_REBUILD_FOLD_STRICT=true` to decode every
recommendation set as it comes, docs/adr/0107). Without `--from`, the rebuild replays what the
live read model was fed from (its checkpoints say), else Kafka when `BVB_KAFKA_BOOTSTRAP` is set.
The progress bar on stderr counts source positions (stores) or Kafka offsets reached.
"""

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Callable, Mapping
from typing import Final, TextIO, TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from bilet.contracts import CATALOGUE
from bilet.projections import ReadModel, RebuildError, rebuild_from_kafka, rebuild_from_stores
from bilet.projections.collector import CollectorSettings, restore_collector, tune_collector
from bilet.projections.kafka import partitions_of
from bilet.projections.port import SHADOW_SUFFIX
from bilet_portfolio.adapters.projection import PortfolioProjection
from bilet_portfolio.adapters.projection.recommender import LeftSetRefused, streams_refused_live
from bilet_portfolio.adapters.stores import open_read_model, open_sources
from bilet_portfolio.settings import PROJECTION_NAME, SOURCES, PortfolioSettings, topic_of

PROG: Final = "bvb portfolio"
BAR_WIDTH = 30
TICK_SECONDS = 0.2

Settings = TypeVar("Settings", bound=BaseSettings)


class SettingsUnusable(Exception):
    """A `BVB_*` setting the command cannot run with, said on one line."""


def _settings(kind: type[Settings]) -> Settings:
    """`kind` read from the environment; a bad value raises `SettingsUnusable` naming each bad
    variable (pydantic's own message takes several lines per value)."""
    try:
        return kind()
    except ValidationError as error:
        prefix = kind.model_config.get("env_prefix") or ""
        raise SettingsUnusable(
            "; ".join(
                f"{prefix}{'_'.join(str(part) for part in item['loc'])}".upper()
                + f": {item['msg']}"
                for item in error.errors()
            )
        ) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    rebuild = commands.add_parser("rebuild", help="rebuild the read model without downtime")
    rebuild.add_argument("--from", dest="origin", choices=("stores", "kafka"), default=None)
    commands.add_parser("status", help="positions reached per source")
    return parser


class ProgressBar:
    """`[#####.....]  45%  12,345 / 27,000` on one line of a terminal, redrawn in place."""

    def __init__(self, out: TextIO, label: str) -> None:
        self.out = out
        self.label = label

    def draw(self, done: int, total: int) -> None:
        share = 1.0 if total <= 0 else min(1.0, done / total)
        filled = int(share * BAR_WIDTH)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        self.out.write(f"\r{self.label} [{bar}] {share:4.0%}  {done:,} / {total:,}")
        self.out.flush()

    def finish(self) -> None:
        self.out.write("\n")
        self.out.flush()


async def _watch(
    watched: Callable[[], ReadModel],
    goals: Mapping[tuple[str, int], int],
    bar: ProgressBar,
    done: Callable[[], bool],
) -> None:
    """Redraw the bar from the shadow's checkpoints (in the read model `watched` names now: a
    folded rebuild's fold until it is copied) until told to stop."""
    total = sum(goals.values())
    while not done():
        with contextlib.suppress(Exception):  # the shadow's bookkeeping may not exist yet
            reached = await watched().checkpoints(PROJECTION_NAME + SHADOW_SUFFIX)
            bar.draw(sum(min(reached.get(key, 0), goal) for key, goal in goals.items()), total)
        await asyncio.sleep(TICK_SECONDS)


def _origin_of(checkpoints: Mapping[tuple[str, int], int], settings: PortfolioSettings) -> str:
    feeds = {feed for feed, _ in checkpoints}
    if feeds & set(SOURCES):
        return "stores"
    if feeds:
        return "kafka"
    return "kafka" if settings.kafka_bootstrap else "stores"


def _fold_memory(read_model: ReadModel, settings: PortfolioSettings) -> int | None:
    """The fold's memory budget for a rebuild from the stores into PostgreSQL (ADR 0076); None
    (statement by statement, ADR 0068) on SQLite, or when the setting is 0."""
    if read_model.dialect != "postgresql" or settings.portfolio_rebuild_fold_mib == 0:
        return None
    return settings.portfolio_rebuild_fold_mib


async def rebuild(
    settings: PortfolioSettings,
    origin: str | None,
    out: TextIO,
    collector_settings: CollectorSettings | None = None,
) -> int:
    # A rebuild replays the history through the projection's handlers, as a projection worker
    # does, so it takes the workers' collector (ADR 0074, `BVB_PROJECTION_GC_*`) for its run:
    # with the interpreter's own, each full collection walked every module, class and schema of
    # the process again, ~4–7 µs of the fold's ~85 µs of CPU per event (ADR 0114). Its settings
    # are read before anything is opened: a bad one leaves nothing to close.
    collector_settings = collector_settings or _settings(CollectorSettings)
    read_model = await open_read_model(settings)
    finished = False
    # Restored after: tests run the command in their own process.
    collector = tune_collector(collector_settings, process="portfolio rebuild")
    try:
        projection = PortfolioProjection(
            strict_fold=settings.portfolio_rebuild_fold_strict,
            strict_streams=await streams_refused_live(read_model, PROJECTION_NAME),
        )
        if origin is None:
            origin = _origin_of(await read_model.checkpoints(PROJECTION_NAME), settings)
        if origin == "kafka":
            if not settings.kafka_bootstrap:
                print("--from kafka needs BVB_KAFKA_BOOTSTRAP", file=out)
                return 2
            topics = [topic_of(source) for source in SOURCES]
            connection = settings.kafka_connection()
            consumer = connection.consumer()
            await consumer.start()
            try:
                ends = await consumer.end_offsets(await partitions_of(connection, topics))
            finally:
                await consumer.stop()
            goals = {(tp.topic, tp.partition): end for tp, end in ends.items()}
            bar = ProgressBar(out, "rebuilding portfolio from Kafka ")
            watcher = asyncio.create_task(_watch(lambda: read_model, goals, bar, lambda: finished))
            try:
                report = await rebuild_from_kafka(
                    read_model,
                    projection,
                    bootstrap_servers=connection,
                    topics=topics,
                )
            finally:
                finished = True
                await watcher
        else:
            sources = await open_sources(settings)
            try:
                goals = {(s, 0): await store.head_position() for s, store in sources.items()}
                bar = ProgressBar(out, "rebuilding portfolio from the stores ")
                shown = [read_model]  # a fold, once the rebuild has one, shows the progress
                watcher = asyncio.create_task(
                    _watch(lambda: shown[-1], goals, bar, lambda: finished)
                )
                try:
                    report = await rebuild_from_stores(
                        read_model,
                        projection,
                        sources,
                        event_types=CATALOGUE.event_types(),
                        fold_memory_mib=_fold_memory(read_model, settings),
                        on_fold=shown.append,
                    )
                finally:
                    finished = True
                    await watcher
            finally:
                for store in sources.values():
                    await store.close()
        bar.draw(sum(goals.values()), sum(goals.values()))
        bar.finish()
        print(
            f"rebuilt {report.projection} in {report.seconds:.1f} s "
            f"({report.rounds} round{'s' if report.rounds != 1 else ''}); switched live",
            file=out,
        )
        return 0
    except (RebuildError, LeftSetRefused) as stopped:
        # The live read model is untouched (no switch happened): say why, not a traceback.
        print(f"\nrebuild stopped, the live read model unchanged: {stopped}", file=out)
        return 1
    finally:
        restore_collector(collector)
        await read_model.close()


async def status(settings: PortfolioSettings, out: TextIO) -> int:
    read_model = await open_read_model(settings)
    try:
        for source in SOURCES:
            print(f"{source}: {await read_model.position(PROJECTION_NAME, source)}", file=out)
        parked = await read_model.parked(PROJECTION_NAME)
        print(f"parked streams: {len(parked)}", file=out)
        for stream in parked:
            print(
                f"  {stream.source} {stream.stream_id}@{stream.version}: {stream.reason}", file=out
            )
        return 0
    finally:
        await read_model.close()


def main(argv: list[str], *, settings: PortfolioSettings | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = settings or _settings(PortfolioSettings)
        collector = _settings(CollectorSettings) if args.command == "rebuild" else None
    except SettingsUnusable as error:
        print(f"{PROG}: the BVB_* settings are not usable: {error}", file=sys.stderr)
        return 2
    if args.command == "rebuild":
        return asyncio.run(rebuild(settings, args.origin, sys.stderr, collector))
    return asyncio.run(status(settings, sys.stdout))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
