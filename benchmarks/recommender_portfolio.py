"""The last hops of the recommender's latency (ADR 0070), from the set appended to the set visible
in the portfolio, as issue #15 measures it: the relay (`bilet.relay`, as `python -m bilet.relay
--service recommender` builds it) publishes the faust worker's store to a topic of the run's own,
and the portfolio's feed (`PortfolioProjection` on a `KafkaFeed`, as `python -m
bilet_portfolio.worker` runs it) projects it into a PostgreSQL read model of its own; each in a
process of its own:

    python -m benchmarks.recommender_portfolio relay DSN SCHEMA BOOTSTRAP TOPIC
    python -m benchmarks.recommender_portfolio portfolio DSN SCHEMA BOOTSTRAP TOPIC GROUP TIMES

The portfolio's feed runs through `bilet.projections.worker.serve_feed`, as the portfolio
worker does, so it tunes its collector as in production (ADR 0074). When it stops it writes
to TIMES (JSON) when each stream's first batch was taken by its partition's worker and when that
batch was committed (`TimedFeed`), which splits the last hop (ADR 0096).

`PortfolioSeen` reads that read model for the participants whose set the portfolio shows, woken
by the feed's commits (the read model's change signals: its NOTIFYs) and at least every
`POLL_SECONDS`. A set is visible from the moment the transaction that wrote it commits: where the
server records commit times (`track_commit_timestamp`, which scripts/infra/infra.sh sets), that is
PostgreSQL's own commit time of the row's writer, whenever the bench reads it; elsewhere the
feed's moment after its commit returned (`TimedFeed`). Either way the bench's event loop, busy
pacing the producer, adds nothing to it (ADR 0104). The bench's first read is kept beside it, as
ADR 0096 measured it (the database's `statement_timestamp()` of the read that saw the set)."""

import asyncio
import contextlib
import ipaddress
import json
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from uuid import UUID

from aiokafka import TopicPartition

from bilet.projections import Delivery, KafkaFeed
from bilet.projections.kafka.partition import AssignedPartition
from bilet.projections.postgres import PostgresReadModel

SERVICE: Final = "recommender"
POLL_SECONDS: Final = 0.1
TIMES_FILE: Final = "portfolio-batches.json"  # beside the pipeline's log (`TimedFeed`)


async def _until_signalled(task: "asyncio.Task[None]") -> None:
    """Run `task` until SIGTERM or SIGINT (or until it ends, raising what it raised)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if task.done():
        task.result()


async def relay(dsn: str, schema: str, bootstrap: str, topic: str) -> None:
    """The recommender's relay over the worker's store in `schema`, publishing to `topic`."""
    from bilet.relay import KafkaConnector, Relay
    from bilet.relay.app import open_store
    from bilet.relay.settings import RelaySettings

    settings = RelaySettings(
        relay_service=SERVICE, relay_store=dsn, relay_schema=schema, kafka_bootstrap=bootstrap
    )
    connect = KafkaConnector(settings.kafka_options(), SERVICE, topic=topic)
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
        await _until_signalled(task)
        running.stop()
        await task


async def portfolio(
    dsn: str, schema: str, bootstrap: str, topic: str, group: str
) -> dict[str, tuple[float, float]]:
    """The portfolio worker's feed from `topic` into the read model in `schema`, served as
    `python -m bilet_portfolio.worker` serves its own (until SIGTERM or SIGINT); then its
    batches' moments (`TimedFeed.moments`)."""
    from bilet.projections import ProjectionMetrics, ReadModel
    from bilet.projections.worker import serve_feed
    from bilet_portfolio.adapters.projection import PortfolioProjection

    feeds: list[TimedFeed] = []

    async def open_read_model() -> ReadModel:
        return await PostgresReadModel.open(dsn, schema=schema)

    def build_feed(read_model: ReadModel, metrics: ProjectionMetrics) -> TimedFeed:
        feeds.append(
            TimedFeed(
                read_model,
                PortfolioProjection(),
                bootstrap_servers=bootstrap,
                topics=[topic],
                group_id=group,
                metrics=metrics,
                sources={topic: SERVICE},
            )
        )
        return feeds[-1]

    await serve_feed(open_read_model, build_feed)
    return feeds[0].moments if feeds else {}


class TimedFeed(KafkaFeed):
    """The kernel's feed, noting for each stream when the batch that applied its first event was
    taken by the partition's worker and when it was committed (wall clock, s): a bench
    instrument (two clock reads a batch, a dict entry a stream)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.moments: dict[str, tuple[float, float]] = {}

    async def _process(
        self,
        tp: TopicPartition,
        partition: AssignedPartition,
        deliveries: list[Delivery],
        polls_from: Sequence[int] = (),
    ) -> None:
        taken = time.time()
        await super()._process(tp, partition, deliveries, polls_from)
        committed = time.time()
        for delivery in deliveries:
            # Below the checkpoint: applied by this batch (or an earlier one), not past a gap.
            if delivery.event is not None and delivery.offset < partition.offset:
                self.moments.setdefault(delivery.event.stream_id, (taken, committed))


@dataclass
class Pipeline:
    """The relay and the portfolio's feed, each a process, from `start` to `stop`."""

    processes: list["subprocess.Popen[bytes]"] = field(default_factory=list)

    def start(
        self,
        dsn: str,
        schemas: tuple[str, str],
        bootstrap: str,
        topic: str,
        log: Path,
        roles: tuple[str, ...] = ("relay",),
    ) -> None:
        """`roles` of: the relay over the store in `schemas[0]`, the portfolio's feed into
        `schemas[1]` (its batches' moments to `TIMES_FILE` beside `log` once stopped)."""
        store_schema, portfolio_schema = schemas
        arguments = {
            "relay": [dsn, store_schema, bootstrap, topic],
            "portfolio": [
                dsn,
                portfolio_schema,
                bootstrap,
                topic,
                f"{topic}-portfolio",
                str(log.parent / TIMES_FILE),
            ],
        }
        with log.open("ab") as out:
            for role in roles:
                self.processes.append(
                    subprocess.Popen(  # noqa: S603 - this module, with the run's own names
                        [
                            sys.executable,
                            "-m",
                            "benchmarks.recommender_portfolio",
                            role,
                            *arguments[role],
                        ],
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()


# How `PortfolioSeen.visible_at` knows when a set became visible (the bench line's
# `visible_method`): PostgreSQL's commit time of the transaction that wrote the row, where the
# server tracks it (`track_commit_timestamp`, set by scripts/infra/infra.sh); else the portfolio
# feed's own moment after its commit returned (`TimedFeed`, in the feed's process).
COMMIT_TIMESTAMP: Final = "commit_timestamp"
FEED_COMMIT: Final = "feed_commit"


@dataclass
class PortfolioSeen:
    """The participants whose set the portfolio's read model shows, and when (ADR 0104).

    `committed_at`: the commit time of the transaction that wrote the participant's row, as
    PostgreSQL recorded it (`pg_xact_commit_timestamp(xmin)`), when the server tracks commit
    times (`method` is then `COMMIT_TIMESTAMP`). That is the moment the set became visible to
    every reader, whoever reads it and however late: the bench's own loop, busy pacing the
    producer, cannot move it. A row written again later (a later set of the season) shows that
    later commit: the stamp is then an upper bound, never early.

    `first_at`: the database's clock at the bench's first read that saw the set (the observer
    of ADR 0096: late by however long the bench's loop took to read after the NOTIFY), kept
    beside it for comparison."""

    read_model: PostgresReadModel
    method: str = FEED_COMMIT
    first_at: dict[UUID, datetime] = field(default_factory=dict)
    committed_at: dict[UUID, datetime] = field(default_factory=dict)

    async def start(self) -> None:
        """Find out whether the server records commit times (a setting fixed at its start) and
        runs on this machine: its commit times are compared with this process's `sent`
        moments, which only one clock makes meaningful. A server reached by an address other
        than loopback or a Unix socket (NULL) may have a clock of its own: the feed's moment
        (stamped on this machine) is taken instead."""
        async with self.read_model.query() as tx:
            tracked = await tx.fetchval("SHOW track_commit_timestamp")
            address = await tx.fetchval("SELECT host(inet_server_addr())")
        here = address is None or ipaddress.ip_address(address).is_loopback
        self.method = COMMIT_TIMESTAMP if tracked == "on" and here else FEED_COMMIT

    async def read_on(self) -> None:
        from bilet_portfolio.adapters.projection import PortfolioProjection

        committed = "pg_xact_commit_timestamp(xmin)" if self.method == COMMIT_TIMESTAMP else "NULL"
        try:
            async with self.read_model.query(PortfolioProjection()) as tx:
                rows = await tx.fetch(
                    f"SELECT participant_id, statement_timestamp(), {committed} "  # noqa: S608
                    "FROM {recommendations}"
                )
        except Exception:  # the feed has not created its tables yet
            return
        for participant, read_at, committed_at in rows:
            pid = UUID(str(participant))
            self.first_at.setdefault(pid, read_at)
            if committed_at is not None:
                self.committed_at.setdefault(pid, committed_at)

    def visible_at(self, feed_committed: dict[UUID, datetime]) -> dict[UUID, datetime]:
        """When each set became visible, by `method`: the server's commit time, or else the
        portfolio feed's moment after its commit (`feed_committed`, from `TimedFeed`)."""
        return self.committed_at if self.method == COMMIT_TIMESTAMP else feed_committed

    async def follow(self) -> None:
        """Read on after each of the feed's commits (the read model's change signals: this
        process hears the feed's NOTIFYs), or every `POLL_SECONDS`, until cancelled."""
        from bilet_portfolio.adapters.projection import PortfolioProjection

        changed = asyncio.Event()
        with self.read_model.signals.listen(PortfolioProjection.name, lambda _: changed.set()):
            while True:
                await self.read_model.signals.ready()  # listening (again, if it was lost)
                changed.clear()  # before the read: a commit during it wakes the next wait
                await self.read_on()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), POLL_SECONDS)

    async def until(self, wanted: set[UUID], seconds: float) -> None:
        """Wait until every participant of `wanted` is visible (bounded; `follow` reads)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not wanted <= self.first_at.keys():
            if loop.time() > deadline:
                missing = len(wanted - self.first_at.keys())
                raise TimeoutError(f"{missing} pupils' sets not visible in the portfolio")
            await asyncio.sleep(POLL_SECONDS)


def main(argv: list[str]) -> int:
    role, *args = argv
    if role == "relay":
        asyncio.run(relay(*args))
    elif role == "portfolio":
        *feed_args, times = args
        moments = asyncio.run(portfolio(*feed_args))
        Path(times).write_text(json.dumps(moments))
    else:
        raise SystemExit(f"unknown role {role!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
