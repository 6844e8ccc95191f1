"""`bvb analytics export`: the published events as pseudonymised Parquet and a DuckDB file.

    bvb analytics export --from stores --purpose PURPOSE --out DIR [--since WHEN] [--until WHEN]
    bvb analytics export --from kafka  --purpose PURPOSE --out DIR [--from-offsets FILE] ...

Reads the services' stores (the settings the services use: `BVB_*`, SQLite files under var/ or
their PostgreSQL schemas; only read) or their Kafka topics (`BVB_KAFKA_BOOTSTRAP`), keeps the
events the purpose may hold (docs/analytics.md), and continues where the last run into DIR
stopped. Ctrl-C stops it; the next run resumes from the last commit. WHEN is a duration back
from now (`7d`) or an ISO date or time (UTC when no offset).
"""

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from aiokafka.errors import KafkaError
from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from bilet import stores
from bilet.analytics import (
    ExportRefused,
    ExportReport,
    ExportRequest,
    ExportRun,
    InvalidPurpose,
    KafkaSource,
    ManifestError,
    Source,
    StoreSource,
)
from bilet.analytics.export import EXPORT_YOUNG
from bilet.contracts import CATALOGUE
from bilet.crypto import SubjectErased
from bilet.eventstore import EventStore
from bilet.projections.collector import CollectorSettings, restore_collector, tune_collector
from bilet.settings import PlatformSettings
from bilet.stores import StoreSettingsError
from bilet_consent.adapters.stores import open_event_store as open_consent_store
from bilet_consent.settings import ConsentSettings
from bilet_host import replay_cli
from bilet_host.audit_cli import moment
from bilet_identity.adapters.stores import open_event_store as open_identity_store
from bilet_identity.settings import IdentitySettings

PROG: Final = "bvb analytics export"
INTERRUPTED: Final = 130


def add_commands(analytics: argparse.ArgumentParser) -> None:
    """`bvb analytics …`'s commands, on the host's parser."""
    commands = analytics.add_subparsers(dest="analytics_command", required=True)
    parser = commands.add_parser(
        "export",
        help="the published events as pseudonymised Parquet tables and a DuckDB file",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument(
        "--from",
        dest="source",
        required=True,
        choices=["stores", "kafka"],
        help="the services' stores (BVB_* settings) or their topics (BVB_KAFKA_BOOTSTRAP)",
    )
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--since", type=moment, help="only events recorded from then (first run)")
    start.add_argument(
        "--from-offsets",
        type=Path,
        help="JSON {lane: cursor} where a first run starts (lanes: a service, or topic:partition)",
    )
    parser.add_argument("--until", type=moment, help="only events recorded before then")
    parser.add_argument("--purpose", required=True, help="the purpose (its own pseudonyms)")
    parser.add_argument("--out", required=True, type=Path, help="the export directory")
    parser.add_argument(
        "--topic-prefix", default="bilet.", help="Kafka topics are <prefix><service>"
    )
    parser.add_argument("--chunk-events", type=int, default=100_000, help=argparse.SUPPRESS)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=export_command)
    replay_cli.add_command(commands)


class _Rate(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} events/s")


class BarProgress:
    """The run's progress as a bar with count, rate and ETA, on stderr."""

    def __init__(self, console: Console) -> None:
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            _Rate(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None

    def begin(self, phase: str, total: int) -> None:
        self._bar.start()
        self._task = self._bar.add_task(phase, total=max(total, 1))

    def advance(self, amount: int) -> None:
        if self._task is not None and amount:
            self._bar.advance(self._task, amount)

    def stop(self) -> None:
        self._bar.stop()


def export_command(args: argparse.Namespace) -> int:
    try:
        start = _offsets(args.from_offsets) if args.from_offsets else None
        request = ExportRequest(
            purpose=args.purpose,
            out=args.out,
            since=args.since,
            until=args.until,
            start=start,
            chunk_events=args.chunk_events,
        )
    except (InvalidPurpose, ValueError, OSError) as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    console = Console(stderr=True)
    progress = None if args.quiet else BarProgress(console)
    try:
        report = asyncio.run(_export(args, request, progress))
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; the next run resumes from the last commit", file=sys.stderr)
        return INTERRUPTED
    except (ExportRefused, ManifestError, ValidationError, StoreSettingsError) as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    except SubjectErased:
        print(f"{PROG}: the purpose {args.purpose!r} was retired: its key is gone", file=sys.stderr)
        return 2
    except (OSError, LookupError, KafkaError) as error:
        print(f"{PROG}: cannot read the source: {error}", file=sys.stderr)
        return 1
    finally:
        if progress is not None:
            progress.stop()
    print(_summary(report, request))
    return 0


def _offsets(path: Path) -> dict[str, int]:
    document = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in document.values()
    ):
        raise ValueError(f"{path}: expected a JSON object of lane → non-negative integer")
    return {str(lane): int(cursor) for lane, cursor in document.items()}


async def _export(
    args: argparse.Namespace, request: ExportRequest, progress: BarProgress | None
) -> ExportReport:
    settings = PlatformSettings()
    source = await _open_source(args, settings)
    try:
        keystore = await stores.open_key_store(settings)
        # Start-up is done. A run decodes events by the million while it holds a chunk's rows
        # and the population: with the collector's defaults, young collections every 700
        # survivors walked those again and again, a fifth to a third of the run's CPU (ADR 0083).
        # The projection workers' policy (ADR 0074), for the run only: `main` also runs inside
        # other processes (tests). Its young threshold is the one ADR 0083 measured the export
        # at (50,000), not the feeds' later 500,000 (ADR 0082), which was measured for what a
        # feed holds in flight, not for an export's chunks.
        collector = tune_collector(CollectorSettings(young=EXPORT_YOUNG))
        try:
            return await ExportRun(source, keystore, request, progress=progress).execute()
        finally:
            restore_collector(collector)
            await keystore.close()
    finally:
        await source.close()


async def _open_source(args: argparse.Namespace, settings: PlatformSettings) -> Source:
    services = CATALOGUE.producers()
    if args.source == "kafka":
        if not settings.kafka_bootstrap:
            raise StoreSettingsError("--from kafka needs BVB_KAFKA_BOOTSTRAP")
        topics = {service: f"{args.topic_prefix}{service}" for service in services}
        return await KafkaSource.open(settings.kafka_connection(), topics)
    return StoreSource(await _open_stores(settings, services))


async def _open_stores(
    settings: PlatformSettings, services: tuple[str, ...]
) -> dict[str, EventStore]:
    opened: dict[str, EventStore] = {}
    try:
        for service in services:
            if settings.event_store == "sqlite" and not settings.sqlite_path(service).exists():
                continue  # never ran here: nothing to read, and no empty store left behind
            if service == "identity":
                opened[service] = await open_identity_store(IdentitySettings())
            elif service == "consent":
                opened[service] = await open_consent_store(ConsentSettings())
            else:
                opened[service] = await stores.open_event_store(settings, service)
    except BaseException:
        for store in opened.values():
            await store.close()
        raise
    return opened


def _summary(report: ExportReport, request: ExportRequest) -> str:
    manifest = report.manifest
    if not report.changed:
        return f"nothing new for {request.purpose!r} in {request.out}"
    lines = [f"exported for {request.purpose!r} into {request.out}:"]
    written: Mapping[str, int] = report.rows
    for table, rows in sorted(manifest.tables.items()):
        lines.append(f"  {table:<32} {rows:>10} rows (+{written.get(table, 0)})")
    lines.append(
        f"  participants: {manifest.participants} exported, "
        f"{manifest.excluded_participants} not covered by a consent (counted only)"
    )
    if report.removed_rows:
        lines.append(f"  removed {report.removed_rows} rows of participants who left the export")
    return "\n".join(lines)
