"""The processes `bench_portfolio` and `bench_sse` start, each as production runs its counterpart:

    python -m benchmarks.portfolio_processes serve-portfolio VAR_DIR PORT
        uvicorn serving `bilet_portfolio.app:create_app` on a prepared `var/` (SQLite)
    python -m benchmarks.portfolio_processes serve-portfolio-fed VAR_DIR PORT
        the same, fed in-process from VAR_DIR's stores (as `make run`): its update streams
        are woken by the feed's commits (docs/adr/0059), where serve-portfolio's poll
    python -m benchmarks.portfolio_processes serve-portfolio-fed-unaudited VAR_DIR PORT
        serve-portfolio-fed with its audit log swapped for one that keeps nothing (a
        diagnostic: what the audit append costs; never a figure of ours)
    python -m benchmarks.portfolio_processes serve-constant BODY_FILE ETAG PORT
        uvicorn serving a bare FastAPI app: the constant body, and 304 for its ETag
    python -m benchmarks.portfolio_processes serve-kit VAR_DIR BODY_FILE ETAG PORT
        the same constant behind the suite's service kit (`bilet.http.create_service_app`:
        request guard, metrics, problem+json, the bearer token verified with VAR_DIR's keys)
    python -m benchmarks.portfolio_processes relay DSN SCHEMA BOOTSTRAP TOPIC
        the identity relay (`bilet.relay`) over a PostgreSQL store, to a topic of its own
    python -m benchmarks.portfolio_processes worker DSN SCHEMA BOOTSTRAP TOPIC GROUP
        the portfolio worker's `KafkaFeed` into a PostgreSQL read-model schema
    python -m benchmarks.portfolio_processes waiter DSN SCHEMA TIMEOUT
        what the portfolio API does with a read-your-writes token: `ReadModel.wait_until` on
        the read model in SCHEMA; says `ready`, then reads `NUMBER POSITION STREAM_ID` lines on
        stdin and answers `seen NUMBER MONOTONIC_TIME` when the position is applied (`-1` after
        TIMEOUT s)
    python -m benchmarks.portfolio_processes tap BOOTSTRAP TOPIC
        a raw consumer of TOPIC (every partition, from its end); says `ready`, and at the end of
        stdin `tap POSITION MONOTONIC_TIME` for each store position (`ce_position`) it saw

Every one runs until SIGTERM. Uvicorn runs with its defaults (as `uvicorn --factory` does), minus
the access log, on both servers alike.
"""

import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response

HOST = "127.0.0.1"
PARTITIONS = 6  # of the identity topic the benchmark creates
CONSTANT_PATH = "/constant/v1/participants/{participant_id}"
KIT_PATH = "/kit/v1/participants/{participant_id}"


def constant_app(body: bytes, etag: str) -> FastAPI:
    """The peer: a bare FastAPI route answering a constant JSON body (and 304 for its ETag)."""
    app = FastAPI()
    headers = {"ETag": etag, "Cache-Control": "private, no-cache", "Vary": "Authorization"}

    @app.get(CONSTANT_PATH)
    async def constant(participant_id: str, request: Request) -> Response:
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(content=body, media_type="application/json", headers=headers)

    return app


def kit_app(var_dir: str, body: bytes, etag: str) -> FastAPI:
    """The constant behind `create_service_app`, its route asking for the caller's principal as
    the portfolio's routes do."""
    from uuid import UUID

    from fastapi import APIRouter

    from bilet.http import CurrentPrincipal, ServiceDescription, create_service_app
    from bilet.settings import PlatformSettings

    router = APIRouter(prefix="/v1")
    headers = {"ETag": etag, "Cache-Control": "private, no-cache", "Vary": "Authorization"}

    @router.get("/participants/{participant_id}")
    async def constant(
        participant_id: UUID, principal: CurrentPrincipal, request: Request
    ) -> Response:
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(content=body, media_type="application/json", headers=headers)

    description = ServiceDescription(name="kit", title="Kit", summary="A constant behind the kit.")
    return create_service_app(
        description, [router], settings=PlatformSettings(var_dir=Path(var_dir))
    )


def serve(app: Any, port: int) -> None:
    config = uvicorn.Config(app, host=HOST, port=port, log_level="warning", access_log=False)
    uvicorn.Server(config).run()


def serve_portfolio(
    var_dir: str, port: int, *, audited: bool = True, embedded_feed: bool = False
) -> None:
    from bilet_portfolio.app import create_app
    from bilet_portfolio.settings import PortfolioSettings

    settings = PortfolioSettings(var_dir=Path(var_dir), portfolio_embedded_feed=embedded_feed)
    app = create_app(settings)
    serve(app if audited else Unaudited(app), port)


class _Discarded:
    async def record(self, *records: object) -> None:
        return None


class Unaudited:
    """The portfolio app with its audit log replaced, once its lifespan has built it."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.app.state.portfolio.audit = _Discarded()
        await self.app(scope, receive, send)


async def _until_stopped(task: "asyncio.Task[None]", stop: "asyncio.Event") -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()


async def relay(dsn: str, schema: str, bootstrap: str, topic: str) -> None:
    """`python -m bilet.relay --service identity` over `schema`, publishing to `topic`."""
    from bilet.relay import KafkaConnector, Relay
    from bilet.relay.app import open_store
    from bilet.relay.settings import RelaySettings

    settings = RelaySettings(
        relay_service="identity",
        relay_store=dsn,
        relay_schema=schema,
        kafka_bootstrap=bootstrap,
    )
    connect = KafkaConnector(settings.kafka_options(), "identity", topic=topic)
    async with open_store(settings.store_location(), settings.relay_poll_interval) as opened:
        store, positions, recoverable = opened
        running = Relay(
            name=topic,
            store=store,
            positions=positions,
            connect=connect,
            options=settings.relay_options(),
            recoverable=recoverable,
        )
        task = asyncio.create_task(running.run())
        await _until_stopped(task, asyncio.Event())
        running.stop()
        await task


async def worker(dsn: str, schema: str, bootstrap: str, topic: str, group: str) -> None:
    """`python -m bilet_portfolio.worker`'s feed (`worker.build_feed`), from `topic` (carrying
    identity's events) into the read model in `schema`."""
    from prometheus_client import CollectorRegistry

    from bilet.projections import KafkaFeed, ProjectionMetrics
    from bilet.projections.postgres import PostgresReadModel
    from bilet_portfolio.adapters.projection import PortfolioProjection

    read_model = await PostgresReadModel.open(dsn, schema=schema)
    try:
        feed = KafkaFeed(
            read_model,
            PortfolioProjection(),
            bootstrap_servers=bootstrap,
            topics=[topic],
            group_id=group,
            metrics=ProjectionMetrics(CollectorRegistry()),
            sources={topic: "identity"},
        )
        task = asyncio.create_task(feed.run())
        await _until_stopped(task, asyncio.Event())
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    finally:
        await read_model.close()


def _answer(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def _stdin() -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def waiter(dsn: str, schema: str, timeout: str) -> None:
    import time

    from bilet.projections import NotApplied
    from bilet.projections.postgres import PostgresReadModel

    read_model = await PostgresReadModel.open(dsn, schema=schema)

    async def wait(number: str, position: int, stream_id: str) -> None:
        try:
            await read_model.wait_until(
                "portfolio", "identity", position, float(timeout), stream_id=stream_id
            )
            seen = time.monotonic()
        except NotApplied:
            seen = -1.0
        _answer(f"seen {number} {seen!r}")

    pending: set[asyncio.Task[None]] = set()
    try:
        reader = await _stdin()
        await read_model.wait_until("portfolio", "identity", 0, 1.0)  # listening from now on
        _answer("ready")
        while line := await reader.readline():
            number, position, stream_id = line.decode().split()
            task = asyncio.create_task(wait(number, int(position), stream_id))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)
    finally:
        await read_model.close()


async def tap(bootstrap: str, topic: str) -> None:
    import time

    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level="read_committed"
    )
    arrived: dict[int, float] = {}

    async def follow() -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=500, max_records=2000)
            now = time.monotonic()
            for records in batch.values():
                for record in records:
                    for name, value in record.headers:
                        if name == "ce_position":
                            arrived.setdefault(int(value), now)

    await consumer.start()
    following = None
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        following = asyncio.create_task(follow())
        reader = await _stdin()
        _answer("ready")
        await reader.read()  # until the end of stdin
        await asyncio.sleep(0.5)  # the last fetch
        for position, at in list(arrived.items()):
            _answer(f"tap {position} {at!r}")
    finally:
        if following is not None:
            following.cancel()
            await asyncio.gather(following, return_exceptions=True)
        await consumer.stop()


def main(argv: list[str]) -> int:
    role, *args = argv
    if role == "serve-portfolio":
        serve_portfolio(args[0], int(args[1]))
    elif role == "serve-portfolio-fed":
        serve_portfolio(args[0], int(args[1]), embedded_feed=True)
    elif role == "serve-portfolio-fed-unaudited":
        serve_portfolio(args[0], int(args[1]), audited=False, embedded_feed=True)
    elif role == "serve-constant":
        serve(constant_app(Path(args[0]).read_bytes(), args[1]), int(args[2]))
    elif role == "serve-kit":
        serve(kit_app(args[0], Path(args[1]).read_bytes(), args[2]), int(args[3]))
    elif role == "relay":
        asyncio.run(relay(*args))
    elif role == "worker":
        asyncio.run(worker(*args))
    elif role == "waiter":
        asyncio.run(waiter(*args))
    elif role == "tap":
        asyncio.run(tap(*args))
    else:
        raise SystemExit(f"unknown role {role!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
