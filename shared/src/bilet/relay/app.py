"""Wires a relay from its settings (the composition root of `python -m bilet.relay`)."""

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator

from prometheus_client import start_http_server

from bilet.eventstore import EventStore
from bilet.relay.kafka import KafkaConnector
from bilet.relay.metrics import RelayMetrics
from bilet.relay.positions import PositionStore
from bilet.relay.relay import RECOVERABLE_ERRORS, Relay
from bilet.relay.settings import RelaySettings, StoreLocation

_log = logging.getLogger("bilet.relay")


@contextlib.asynccontextmanager
async def open_store(
    location: StoreLocation, poll_interval: float
) -> AsyncIterator[tuple[EventStore, PositionStore, tuple[type[BaseException], ...]]]:
    """The event store, the relay's position store beside it, and the database's errors that mean
    "unreachable for now"."""
    store: EventStore
    positions: PositionStore
    recoverable = RECOVERABLE_ERRORS
    if location.sqlite_path is not None:
        from bilet.eventstore.sqlite import SqliteEventStore
        from bilet.relay.sqlite import SqlitePositionStore

        store = await SqliteEventStore.open(location.sqlite_path)
        try:
            positions = await SqlitePositionStore.open(location.sqlite_path)
        except BaseException:
            await store.close()
            raise
    else:
        import asyncpg

        from bilet.eventstore.postgres import PostgresEventStore
        from bilet.relay.postgres import PostgresPositionStore

        assert location.dsn is not None
        store = await PostgresEventStore.open(location.dsn, schema=location.schema, pool_size=4)
        try:
            positions = await PostgresPositionStore.open(location.dsn, schema=location.schema)
        except BaseException:
            await store.close()
            raise
        recoverable = (*recoverable, asyncpg.PostgresError, asyncpg.InterfaceError)
    # Appends from other processes reach a subscription by polling (SQLite), or by NOTIFY with
    # polling as the fallback (PostgreSQL).
    store.poll_interval = poll_interval
    try:
        yield store, positions, recoverable
    finally:
        await positions.close()
        await store.close()


@contextlib.asynccontextmanager
async def open_relay(
    settings: RelaySettings, metrics: RelayMetrics | None = None
) -> AsyncIterator[Relay]:
    service = settings.service()
    connect = KafkaConnector(settings.kafka_options(), service)
    async with open_store(settings.store_location(), settings.relay_poll_interval) as opened:
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


async def serve(settings: RelaySettings) -> None:
    """Run one relay until SIGTERM or SIGINT, then finish cleanly (see `Relay.stop`)."""
    metrics = RelayMetrics()
    server = None
    if settings.relay_metrics_port is not None:
        server, _ = start_http_server(
            settings.relay_metrics_port, addr=settings.host, registry=metrics.registry
        )
    try:
        async with open_relay(settings, metrics) as relay:
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, relay.stop)
            location = settings.store_location()
            _log.info(
                "relay starting",
                extra={
                    "relay": relay.name,
                    "store": "sqlite" if location.sqlite_path is not None else "postgresql",
                    "schema": location.schema if location.dsn is not None else None,
                    "metrics_port": settings.relay_metrics_port,
                },
            )
            await relay.run()
    finally:
        if server is not None:
            server.shutdown()
