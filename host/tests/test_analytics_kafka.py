"""`bvb analytics export --from kafka` against the real local broker: the demo's stores published
by real relays (`bilet.relay`, with the catalogue's filter) to this test's topics, exported from
the topics, give the same tables, row for row, as the export from the stores."""

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bilet.analytics import load_manifest
from bilet.analytics.columns import table_name
from bilet.contracts import CATALOGUE
from bilet.relay import KafkaConnector, KafkaOptions, Relay, RelayOptions
from bilet.relay.app import open_store
from bilet.relay.settings import StoreLocation
from bilet_host.cli import main
from bilet_host.testing import DemoWorld

pytestmark = pytest.mark.integration
PARTITIONS: Final = 3
WAIT: Final = 60.0


@contextlib.asynccontextmanager
async def relays(bootstrap: str, var_dir: Path, topics: dict[str, str]) -> AsyncIterator[None]:
    """Relays of every store to its topic, until each published what it holds now."""
    options = KafkaOptions(bootstrap_servers=bootstrap, partitions=PARTITIONS)
    async with contextlib.AsyncExitStack() as stack:
        running = []
        for service, topic in topics.items():
            location = StoreLocation(sqlite_path=var_dir / f"{service}.sqlite3")
            store, positions, recoverable = await stack.enter_async_context(
                open_store(location, 0.05)
            )
            types = frozenset(CATALOGUE.event_types_of(service))
            relay = Relay(
                name=topic,
                store=store,
                positions=positions,
                connect=KafkaConnector(options, service, topic=topic),
                options=RelayOptions(event_types=types, checkpoint_interval=0.05),
                recoverable=recoverable,
            )
            task = asyncio.create_task(relay.run(), name=f"relay-{service}")
            running.append((relay, task))
            last = [e for e in await store.read_all(0, 100_000) if e.type in types]
            if last:
                async with asyncio.timeout(WAIT):
                    await relay.wait_until_published(last[-1].position)
        yield
        for relay, task in running:
            relay.stop()
            async with asyncio.timeout(WAIT):
                await task


async def publish(bootstrap: str, var_dir: Path, prefix: str) -> None:
    topics = {service: f"{prefix}{service}" for service in CATALOGUE.producers()}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in topics.values()])
    finally:
        await admin.close()
    async with relays(bootstrap, var_dir, topics):
        pass


async def delete_topics(bootstrap: str, prefix: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        mine = [topic for topic in await admin.list_topics() if topic.startswith(prefix)]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


def rows(out: Path, table: str) -> list[dict[str, object]]:
    files = sorted((out / "tables" / table).glob("*/*.parquet"))
    loaded = pa.concat_tables([pq.read_table(f) for f in files])
    return sorted(loaded.to_pylist(), key=lambda row: str(row["event_key"]))


def test_the_topics_export_as_the_stores_do(
    demo_world: DemoWorld, tmp_path: Path, kafka_bootstrap: str
) -> None:
    prefix = f"analytics-{uuid.uuid4().hex[:8]}."
    try:
        asyncio.run(publish(kafka_bootstrap, demo_world.var_dir, prefix))
        exported(demo_world, tmp_path, kafka_bootstrap, prefix)
    finally:
        asyncio.run(delete_topics(kafka_bootstrap, prefix))


def exported(demo_world: DemoWorld, tmp_path: Path, kafka_bootstrap: str, prefix: str) -> None:
    """Export from the stores and from the topics; compare."""
    from_stores, from_kafka = tmp_path / "stores", tmp_path / "kafka"
    base = ["analytics", "export", "--purpose", "research", "--quiet"]
    assert main([*base, "--from", "stores", "--out", str(from_stores)]) == 0
    os.environ["BVB_KAFKA_BOOTSTRAP"] = kafka_bootstrap
    try:
        kafka = [*base, "--from", "kafka", "--topic-prefix", prefix, "--out", str(from_kafka)]
        assert main(kafka) == 0
        kafka_manifest = load_manifest(from_kafka)
        assert kafka_manifest is not None
        before = {p: p.read_bytes() for p in from_kafka.rglob("*") if p.is_file()}
        assert main(kafka) == 0  # nothing new on the topics: nothing written
        assert {p: p.read_bytes() for p in from_kafka.rglob("*") if p.is_file()} == before
    finally:
        os.environ.pop("BVB_KAFKA_BOOTSTRAP", None)
    stores_manifest = load_manifest(from_stores)
    assert stores_manifest is not None
    assert kafka_manifest.tables == stores_manifest.tables
    assert kafka_manifest.population == stores_manifest.population
    # lanes are the partitions of the topics; offsets end where the topics do
    assert len(kafka_manifest.cursor) == PARTITIONS * len(CATALOGUE.producers())
    assert sum(kafka_manifest.cursor.values()) >= sum(kafka_manifest.tables.values())
    for table in kafka_manifest.tables:
        assert rows(from_kafka, table) == rows(from_stores, table), table
    assert table_name("ParticipantRegistered") in kafka_manifest.tables
