"""Wires a relay from its settings (the composition root of `python -m bilet.relay`)."""

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator

from bilet.eventstore import EventStore
from bilet.relay.health import serve_health
from bilet.relay.kafka import KafkaConnector
from bilet.relay.lease import RelayLease
from bilet.relay.metrics import RelayMetrics
from bilet.relay.positions import PositionsApart, PositionStore
from bilet.relay.relay import RECOVERABLE_ERRORS, Relay
from bilet.relay.settings import RelaySettings, StoreLocation
from bilet.settings import PlatformSettings

_log = logging.getLogger("bilet.relay")


@contextlib.asynccontextmanager
async def open_store(
    location: StoreLocation, poll_interval: float, settings: PlatformSettings | None = None
) -> AsyncIterator[tuple[EventStore, PositionStore, tuple[type[BaseException], ...]]]:
    """The event store, the relay's position store, and the errors that mean "unreachable for
    now". Positions live beside a SQLite or PostgreSQL store; a KurrentDB store's relay keeps
    them at `BVB_RELAY_STORE` instead, and reaches KurrentDB as `settings` say (ADR 0058)."""
    store, recoverable = await _open_events(location, settings)
    try:
        positions = await _open_positions(location)
    except BaseException:
        await store.close()
        raise
    if location.kurrentdb:
        # Their table is not beside the events: counting the unpublished ones is not cheap.
        positions = PositionsApart(positions)
    if location.dsn is not None:
        import asyncpg

        recoverable = (*recoverable, asyncpg.PostgresError, asyncpg.InterfaceError)
    # Appends from other processes reach a subscription by polling (SQLite), by NOTIFY with
    # polling as the fallback (PostgreSQL), or live (KurrentDB: this is its resubscribe delay).
    store.poll_interval = poll_interval
    try:
        yield store, positions, recoverable
    finally:
        await positions.close()
        await store.close()


async def _open_events(
    location: StoreLocation, settings: PlatformSettings | None
) -> tuple[EventStore, tuple[type[BaseException], ...]]:
    if location.kurrentdb:
        if settings is None:
            raise ValueError("a KurrentDB store is reached as the settings say: pass them")
        # Imported here: only a KurrentDB relay loads the gRPC client.
        from kurrentdbclient import exceptions as kurrentdb

        from bilet.eventstore.kurrentdb import KurrentDbEventStore

        kurrent = await KurrentDbEventStore.open(
            settings.kurrentdb_connection_string(),
            namespace=location.schema,
            root_certificates=settings.kurrentdb_root_certificates(),
        )
        # "Unreachable for now": no node found or no leader (an election), a deadline passed,
        # the server aborted the call. Its subscription resubscribes by itself.
        unreachable = (
            kurrentdb.ServiceUnavailableError,
            kurrentdb.DeadlineExceededError,
            kurrentdb.DiscoveryFailedError,
            kurrentdb.NodeIsNotLeaderError,
            kurrentdb.AbortedByServerError,
        )
        return kurrent, (*RECOVERABLE_ERRORS, *unreachable)
    if location.sqlite_path is not None:
        from bilet.eventstore.sqlite import SqliteEventStore

        return await SqliteEventStore.open(location.sqlite_path), RECOVERABLE_ERRORS
    from bilet.eventstore.postgres import PostgresEventStore

    assert location.dsn is not None
    store = await PostgresEventStore.open(location.dsn, schema=location.schema, pool_size=4)
    return store, RECOVERABLE_ERRORS


async def _open_positions(location: StoreLocation) -> PositionStore:
    if location.sqlite_path is not None:
        from bilet.relay.sqlite import SqlitePositionStore

        return await SqlitePositionStore.open(location.sqlite_path)
    from bilet.relay.postgres import PostgresPositionStore

    assert location.dsn is not None
    return await PostgresPositionStore.open(location.dsn, schema=location.schema)


@contextlib.asynccontextmanager
async def open_relay(
    settings: RelaySettings, metrics: RelayMetrics | None = None
) -> AsyncIterator[Relay]:
    service = settings.service()
    connect = KafkaConnector(settings.kafka_options(), service)
    location = settings.store_location()
    async with open_store(location, settings.relay_poll_interval, settings) as opened:
        store, positions, recoverable = opened
        yield Relay(
            name=connect.topic,
            store=store,
            positions=positions,
            connect=connect,
            options=settings.relay_options(),
            metrics=metrics,
            recoverable=recoverable,
        )


@contextlib.asynccontextmanager
async def held_lease(location: StoreLocation) -> AsyncIterator["asyncio.Future[None] | None"]:
    """The store's relay lease (bilet.relay.lease), waited for; yields the future that completes
    if the lease is lost. A SQLite store is one file on one machine: no lease."""
    if location.dsn is None:  # SQLite, or a KurrentDB store's relay positions in a SQLite file
        yield None
        return
    lease = RelayLease(location.dsn, location.schema)
    try:
        await lease.acquire()
        yield lease.lost
    finally:
        await lease.release()


async def serve(settings: RelaySettings) -> int:
    """Run one relay until SIGTERM or SIGINT, then finish cleanly (see `Relay.stop`); with a
    PostgreSQL store, only while it holds the store's lease. The exit status: 1 when the lease
    was lost (the supervisor starts it again, to wait behind the lease), else 0."""
    metrics = RelayMetrics()
    phase = "waiting for the relay lease"
    relay_name = KafkaConnector(settings.kafka_options(), settings.service()).topic

    def readiness() -> tuple[bool, str]:
        connected = metrics.registry.get_sample_value(
            "bilet_relay_connected", {"relay": relay_name}
        )
        if phase != "publishing":
            return False, phase
        if connected != 1:
            return False, "no producer session: connecting to Kafka or backing off"
        return True, "publishing"

    server = None
    if settings.relay_metrics_port is not None:
        server = await serve_health(
            settings.host, settings.relay_metrics_port, metrics.registry, readiness
        )
    loop = asyncio.get_running_loop()
    waiting = asyncio.current_task()
    assert waiting is not None
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, waiting.cancel)  # while waiting for the lease
    location = settings.store_location()
    lost: asyncio.Future[None] | None = None
    try:
        async with held_lease(location) as lost, open_relay(settings, metrics) as relay:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, relay.stop)
            if lost is not None:
                lost.add_done_callback(lambda _: relay.stop())
            phase = "publishing"
            _log.info(
                "relay starting",
                extra={
                    "relay": relay.name,
                    "store": location.kind,
                    "schema": location.schema if location.dsn is not None else None,
                    "metrics_port": settings.relay_metrics_port,
                },
            )
            await relay.run()
    except asyncio.CancelledError:
        _log.info("stopped while waiting for the relay lease")
        return 0
    finally:
        if server is not None:
            server.close()
            await server.wait_closed()
    return 1 if lost is not None and lost.done() else 0
