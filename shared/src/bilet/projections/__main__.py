"""`python -m bilet.projections`: run a projection's Kafka feed, or rebuild its read model.

    python -m bilet.projections run --projection my_pkg.module:MyProjection \\
        --database postgresql://… [--schema readmodel] --bootstrap 127.0.0.1:9092 \\
        --topic bilet.identity [--topic …] [--group G] [--instance-id pod-0]
    python -m bilet.projections rebuild --projection … --database … --bootstrap … --topic …

`--database` is a PostgreSQL URL or `sqlite:///path/to/file.sqlite3`. How the clients
authenticate to `--bootstrap` comes from the `BVB_KAFKA_*` settings (bilet.kafka). `--projection`
names a class (built without arguments) or an instance, as `module:attribute`.
SIGTERM or SIGINT stops the feed; SIGKILL at any moment loses nothing, the next start resumes
from the read model. Both commands tune the process's garbage collector once started
(`BVB_PROJECTION_GC_*`: `bilet.projections.collector`, ADR 0074). The broker holds an empty
fetch for at most `BVB_PROJECTION_FEED_FETCH_WAIT` seconds (default 0.1:
`bilet.projections.kafka.settings`, ADR 0096).
"""

import argparse
import asyncio
import importlib
import logging
import signal
import sys
from pathlib import Path
from typing import cast

from bilet.projections.collector import tune_collector
from bilet.projections.kafka import KafkaFeed
from bilet.projections.port import Projection
from bilet.projections.readmodel import ReadModel
from bilet.projections.rebuild import rebuild_from_kafka
from bilet.settings import PlatformSettings


def load_projection(spec: str) -> Projection:
    module_name, _, attribute = spec.partition(":")
    if not attribute:
        raise SystemExit(f"--projection wants module:attribute, not {spec!r}")
    target = getattr(importlib.import_module(module_name), attribute)
    return cast(Projection, target() if isinstance(target, type) else target)


async def open_read_model(url: str, schema: str) -> ReadModel:
    if url.startswith("sqlite:///"):
        from bilet.projections.sqlite import SqliteReadModel

        return await SqliteReadModel.open(Path(url.removeprefix("sqlite:///")))
    if url.startswith(("postgresql://", "postgres://")):
        from bilet.projections.postgres import PostgresReadModel

        return await PostgresReadModel.open(url, schema=schema)
    raise SystemExit(f"--database wants postgresql://… or sqlite:///…, not {url!r}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bilet.projections", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("run", "rebuild"):
        command = commands.add_parser(name)
        command.add_argument("--projection", required=True)
        command.add_argument("--database", required=True)
        command.add_argument("--schema", default="readmodel")
        command.add_argument("--bootstrap", required=True)
        command.add_argument("--topic", action="append", required=True)
        command.add_argument("--max-records", type=int, default=2000)
        if name == "run":
            command.add_argument("--group")
            command.add_argument("--instance-id")
    return parser


async def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    projection = load_projection(args.projection)
    connection = PlatformSettings(kafka_bootstrap=args.bootstrap).kafka_connection()
    read_model = await open_read_model(args.database, args.schema)
    tune_collector()  # start-up is done: what exists now lives as long as the process
    try:
        if args.command == "rebuild":
            report = await rebuild_from_kafka(
                read_model,
                projection,
                bootstrap_servers=connection,
                topics=args.topic,
                max_records=args.max_records,
            )
            print(f"rebuilt {report.projection} in {report.seconds:.1f} s", file=sys.stderr)
            return 0
        feed = KafkaFeed(
            read_model,
            projection,
            bootstrap_servers=connection,
            topics=args.topic,
            group_id=args.group,
            group_instance_id=args.instance_id,
            max_records=args.max_records,
        )
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for stop in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(stop, task.cancel)
        try:
            await feed.run()
        except asyncio.CancelledError:
            return 0
        return 0
    finally:
        await read_model.close()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    sys.exit(asyncio.run(main(sys.argv[1:])))
