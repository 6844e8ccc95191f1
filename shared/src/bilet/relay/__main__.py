"""`python -m bilet.relay --service NAME [--store sqlite:PATH|postgresql://...] [--schema S]`

Publishes the service's events to its topic until SIGTERM or SIGINT. Every option has a `BVB_*`
variable (the option wins): BVB_RELAY_SERVICE, BVB_RELAY_STORE, BVB_RELAY_SCHEMA,
BVB_KAFKA_BOOTSTRAP, BVB_RELAY_METRICS_PORT, and the tuning knobs in `bilet.relay.settings`.
Exit status: 0 after a clean stop, 1 when the store's relay lease was lost, 2 for bad settings.
With a PostgreSQL store the relay publishes only while it holds the store's lease (an advisory
lock, `bilet.relay.lease`): a second relay waits. With BVB_EVENT_STORE=kurrentdb it tails the
KurrentDB at BVB_KURRENTDB_URL_FILE (or BVB_KURRENTDB_URL) through a catch-up subscription, and
`--store` is where it keeps its checkpoint and lease (ADR 0058).
"""

import argparse
import asyncio
import sys
from typing import Any

from pydantic import ValidationError

from bilet.logs import configure_logging
from bilet.relay.app import serve
from bilet.relay.settings import RelaySettings


def parse(argv: list[str] | None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m bilet.relay",
        description="Publishes a service's events to its Kafka topic until SIGTERM or SIGINT.",
        epilog="Every option also reads a BVB_* variable; see bilet.relay.settings.",
    )
    option = parser.add_argument
    option("--service", dest="relay_service", metavar="NAME", help="whose store to relay")
    option(
        "--store",
        dest="relay_store",
        metavar="STORE",
        help="sqlite:PATH or postgresql://... (default: the service's embedded SQLite file); "
        "with BVB_EVENT_STORE=kurrentdb, where the checkpoint is kept",
    )
    option("--schema", dest="relay_schema", metavar="SCHEMA", help="the store's PostgreSQL schema")
    option("--kafka", dest="kafka_bootstrap", metavar="HOST:PORT", help="Kafka bootstrap servers")
    option("--metrics-port", dest="relay_metrics_port", type=int, metavar="PORT", help="/metrics")
    arguments = vars(parser.parse_args(argv))
    return {name: value for name, value in arguments.items() if value is not None}


def main(argv: list[str] | None = None) -> int:
    overrides = parse(argv)
    try:
        settings = RelaySettings(**overrides)
        settings.service()
        settings.check_store()
        settings.kafka_options()
    except (ValidationError, ValueError) as error:
        print(f"bilet.relay: {error}", file=sys.stderr)
        return 2
    configure_logging()
    return asyncio.run(serve(settings))


if __name__ == "__main__":
    sys.exit(main())
