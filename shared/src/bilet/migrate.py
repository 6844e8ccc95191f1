"""`python -m bilet.migrate --service NAME` (and `bvb migrate`): make a service's PostgreSQL
schemas before its processes start, as a role that may CREATE (the migrations Job, ADR 0057).

What a service needs is said by its own `bilet_<service>.migrations` module: a `migrate()`
coroutine that opens, inside `migrating()`, what its processes open (its event store, whose
schema also holds the relay's positions and its audit trail, its read model with its
projections' tables, and anything of its own) and closes them. Then the application roles,
started with `BVB_SCHEMA=verify`, need no DDL rights. With `BVB_EVENT_STORE=kurrentdb` the
events need no schema; the read model, and the relay's positions in PostgreSQL, are made all the
same (ADR 0058). The suite's key store is not migrated here: its role must own its tables (an
erasure's VACUUM rewrites them), so it migrates as it opens under that role
(`BVB_KEY_STORE_URL`).
"""

import argparse
import asyncio
import contextlib
import importlib
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence

from bilet.eventstore import EventStore
from bilet.logs import configure_logging
from bilet.pgschema import migrating
from bilet.projections import Projection, ReadModel
from bilet.services import SERVICE_NAMES
from bilet.settings import PlatformSettings


async def migrate_stores(
    open_event_store: Callable[[], Awaitable[EventStore]],
    open_read_model: Callable[[], Awaitable[ReadModel]],
    projections: Callable[[EventStore], Iterable[Projection]],
    *others: Callable[[], Awaitable[object]],
) -> None:
    """Open (and so migrate) a service's event store, relay positions, read model with the live
    tables of the `projections` (given the store, as some projections append to it), and
    `others` (each opener's result closed by its `close()`)."""
    with migrating():
        async with contextlib.AsyncExitStack() as stack:
            store = await open_event_store()
            stack.push_async_callback(store.close)
            await _migrate_relay_positions(store)
            read_model = await open_read_model()
            stack.push_async_callback(read_model.close)
            for projection in projections(store):
                await read_model.install(projection)
            for opener in others:
                opened = await opener()
                close = getattr(opened, "close", None)
                if close is not None:
                    stack.push_async_callback(close)


async def _migrate_relay_positions(store: EventStore) -> None:
    """The relay keeps its positions next to the store it publishes (bilet.relay.postgres); a
    KurrentDB store's relay keeps them in the service's PostgreSQL database, in the schema named
    as the store's namespace (ADR 0058). KurrentDB itself has no schema to make."""
    from bilet.eventstore.postgres import PostgresEventStore
    from bilet.relay.postgres import PostgresPositionStore

    if isinstance(store, PostgresEventStore):
        dsn, schema = store.connection_url, store.schema
    else:
        settings = PlatformSettings()
        if settings.event_store != "kurrentdb" or settings.database_url is None:
            return  # SQLite: the relay makes its table in the store's file as it opens
        from bilet.eventstore.kurrentdb import KurrentDbEventStore

        assert isinstance(store, KurrentDbEventStore)
        dsn, schema = settings.database_url, store.namespace
    positions = await PostgresPositionStore.open(dsn, schema=schema)
    await positions.close()


async def migrate(services: Sequence[str]) -> None:
    for service in services:
        module = importlib.import_module(f"bilet_{service}.migrations")
        await module.migrate()
        print(f"migrated: {service}")


DESCRIPTION = "Make the services' PostgreSQL schemas (a role that may CREATE; ADR 0057)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments, here and as `bvb migrate`."""
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--service", choices=SERVICE_NAMES, help="one service")
    which.add_argument("--all", action="store_true", help="every service (needs all installed)")


def run(args: argparse.Namespace) -> int:
    configure_logging()
    asyncio.run(migrate(SERVICE_NAMES if args.all else (args.service,)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bilet.migrate", description=DESCRIPTION)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
