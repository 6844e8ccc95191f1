"""Wires a relay from its settings (the composition root of `python -m bilet.relay`)."""

import asyncio
import contextlib
import json
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

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


# ------------------------------------------------------------------ structured logs

_STANDARD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's `extra` fields.

    The relay logs ids, positions and error types only, never event data or metadata.
    """

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_FIELDS and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiokafka's info lines (connections, metadata) say nothing the relay's own lines do not.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
