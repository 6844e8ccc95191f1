"""`bvb analytics replay`: a read model as of a moment, in a file of its own.

    bvb analytics replay --until WHEN [--projection portfolio] --out FILE

Replays the services' stores (the `BVB_*` settings the services use; only read), every published
event recorded at or before WHEN, through the projection into a new SQLite file: "what did the
portfolios look like on 1 November". The live read model is not touched. The file holds what the
read model holds: sealed fields stay sealed envelopes (the portfolio keeps no readable name).
WHEN is a duration back from now (`7d`) or an ISO date or time (UTC when no offset).
"""

import argparse
import asyncio
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from bilet import stores
from bilet.contracts import CATALOGUE
from bilet.eventstore import EventStore
from bilet.projections import Projection
from bilet.projections.as_of import replay_until
from bilet.projections.sqlite import SqliteReadModel
from bilet.settings import PlatformSettings
from bilet.stores import StoreSettingsError
from bilet_host.audit_cli import moment
from bilet_portfolio.adapters.projection import PortfolioProjection
from bilet_portfolio.settings import SOURCES as PORTFOLIO_SOURCES

PROG: Final = "bvb analytics replay"


@dataclass(frozen=True)
class Replayable:
    """A projection `replay` can build, and the services it reads."""

    make: type[Projection]
    sources: tuple[str, ...]


PROJECTIONS: Final = {"portfolio": Replayable(PortfolioProjection, PORTFOLIO_SOURCES)}


def add_command(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = commands.add_parser(
        "replay",
        help="a read model as of a moment, into a separate SQLite file",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument(
        "--until", required=True, type=moment, help="events recorded at or before then"
    )
    parser.add_argument("--projection", choices=sorted(PROJECTIONS), default="portfolio")
    parser.add_argument("--out", required=True, type=Path, help="a new SQLite file")
    parser.set_defaults(handler=replay_command)


def replay_command(args: argparse.Namespace) -> int:
    out: Path = args.out
    if out.is_dir() or (out.exists() and out.stat().st_size > 0):
        print(f"{PROG}: {out} exists and is not empty: choose a new file", file=sys.stderr)
        return 2
    if not out.parent.is_dir():
        print(f"{PROG}: {out.parent} is not a directory", file=sys.stderr)
        return 2
    try:
        reached = asyncio.run(_replay(PROJECTIONS[args.projection], args.until, out))
    except StoreSettingsError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"{PROG}: cannot read the stores: {error}", file=sys.stderr)
        return 1
    positions = ", ".join(f"{source} {position}" for source, position in sorted(reached.items()))
    print(f"replayed {args.projection} as of {args.until.isoformat()} into {out}: {positions}")
    return 0


async def _replay(replayable: Replayable, until: datetime, out: Path) -> dict[str, int]:
    settings = PlatformSettings()
    sources = await _open_sources(settings, replayable.sources)
    try:
        read_model = await SqliteReadModel.open(out)
        try:
            return await replay_until(
                read_model,
                replayable.make(),
                sources,
                until,
                event_types=CATALOGUE.event_types(),  # published ones only, as a relay would
            )
        finally:
            await read_model.close()
    finally:
        for store in sources.values():
            await store.close()


async def _open_sources(
    settings: PlatformSettings, services: tuple[str, ...]
) -> dict[str, EventStore]:
    present = [
        service
        for service in services
        # a service that never ran here has nothing to replay: leave no empty store behind
        if settings.event_store != "sqlite" or settings.sqlite_path(service).exists()
    ]
    return await stores.open_source_stores(settings, present)
