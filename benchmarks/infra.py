"""What several benchmarks need around the real servers of `scripts/infra/infra.sh`: where they
are, whether they answer, topics and schemas to clean up, and percentiles of latency samples."""

import asyncio
import os
import re
from collections.abc import Sequence
from pathlib import Path

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient

from bilet.projections import dlq_topic

DEFAULT_DSN = "postgresql://bvb:bvb@127.0.0.1:55432/bvb"
DEFAULT_KAFKA = "127.0.0.1:9092"


def infra(name: str, default: str) -> str:
    """`BVB_*` from the environment, else from the `var/infra.env` that `make infra-up` writes."""
    if value := os.environ.get(name):
        return value
    env_file = Path(__file__).resolve().parent.parent / "var" / "infra.env"
    if env_file.is_file() and (match := re.search(rf"{name}=(\S+)", env_file.read_text())):
        return match.group(1)
    return default


def kafka_bootstrap() -> str:
    return infra("BVB_KAFKA_BOOTSTRAP", DEFAULT_KAFKA)


def database_url() -> str:
    return infra("BVB_DATABASE_URL", DEFAULT_DSN)


async def unreachable(bootstrap: str | None, dsn: str | None) -> str | None:
    """Why PostgreSQL (`dsn`) or Kafka (`bootstrap`) cannot be used, or None when both answer."""
    if dsn is not None:
        try:
            connection = await asyncpg.connect(dsn, timeout=5)
            await connection.close()
        except Exception as error:
            return f"PostgreSQL at {dsn.rsplit('@', 1)[-1]}: {error!r}"
    if bootstrap is not None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        try:
            await asyncio.wait_for(admin.start(), 10)
        except Exception as error:
            return f"Kafka at {bootstrap}: {error!r}"
        finally:
            await admin.close()
    return None


async def delete_topics(bootstrap: str, topics: Sequence[str]) -> None:
    """Delete the topics and their projection dead-letter topics, those that exist."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = [t for topic in topics for t in (topic, dlq_topic(topic)) if t in existing]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()


async def drop_schemas(dsn: str, schemas: Sequence[str]) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        for schema in schemas:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await connection.close()


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of unsorted samples (`fraction` 0.5 → median)."""
    ordered = sorted(samples)
    if not ordered:
        raise ValueError("no samples")
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def process_cpu(pid: int) -> float | None:
    """A process's user and system CPU seconds so far (Linux's /proc; None elsewhere, or once it
    has ended)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the command's name: state is field 3, utime and stime fields 14 and 15 of the line.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
