"""For tests of projections and of the runtime: an example projection, histories, source stores
to lay them down in, what a rebuild must leave as a live catch-up left it, a relay-like publisher.

`StreamCounter` counts the events of each stream and keeps the last type and version: an event
applied twice, lost, or applied out of order shows in its table. An event of type `Poison` makes
it raise, always. The runtime's chaos test runs it in a consumer process as
`bilet.projections.testing:StreamCounter`.
"""

import json
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bilet.contracts.cloudevents import to_record
from bilet.eventstore import EventStore, RecordedEvent
from bilet.eventstore.sqlite import SqliteEventStore
from bilet.kafka import KafkaConnection, KafkaTarget
from bilet.projections.embedded import EmbeddedFeed
from bilet.projections.port import ReadModelTx, SqlRenderer, Table
from bilet.projections.readmodel import APPLIED, ReadModel, applied_table

ReadModelFactory = Callable[[], Awaitable[ReadModel]]
TopicFactory = Callable[..., Awaitable[str]]

POISON = "Poison"
COUNTS = "stream_counts"


class StreamCounter:
    name = COUNTS
    # All it reads besides the runtime's stream_id and version: the Kafka feed decodes no more.
    event_fields = frozenset({"type"})
    tables = (
        Table(
            COUNTS,
            "stream_id TEXT PRIMARY KEY, events BIGINT NOT NULL, last_type TEXT NOT NULL, "
            "last_version BIGINT NOT NULL",
            indexes=("last_type",),
        ),
    )

    async def apply(self, tx: ReadModelTx, event: RecordedEvent) -> None:
        if event.type == POISON:
            raise ValueError(f"cannot digest {event.stream_id}@{event.version}")
        await tx.execute(
            "INSERT INTO {stream_counts} (stream_id, events, last_type, last_version) "
            "VALUES ($1, 1, $2, $3) ON CONFLICT (stream_id) DO UPDATE "
            "SET events = {stream_counts}.events + 1, last_type = excluded.last_type, "
            "last_version = excluded.last_version",
            event.stream_id,
            event.type,
            event.version,
        )
        tx.changed(event.stream_id)  # its row: what a watch of the stream waits for


Counts = dict[str, tuple[int, str, int]]


def expected_counts(events: Sequence[RecordedEvent]) -> Counts:
    """What a clean replay of a history (each event once, in order) leaves in the table."""
    counts: Counts = {}
    for event in events:
        events_so_far = counts.get(event.stream_id, (0, "", -1))[0]
        counts[event.stream_id] = (events_so_far + 1, event.type, event.version)
    return counts


async def read_counts(read_model: ReadModel) -> Counts:
    async with read_model.query(StreamCounter()) as tx:
        rows = await tx.fetch(
            "SELECT stream_id, events, last_type, last_version FROM {stream_counts}"
        )
    return {row[0]: (row[1], row[2], row[3]) for row in rows}


async def read_applied(
    read_model: ReadModel, projection: str = COUNTS
) -> dict[tuple[str, str], tuple[int, int]]:
    """The runtime's applied versions of a projection: (source, stream) → (version, position)."""
    renderer = SqlRenderer(read_model.dialect, {APPLIED: applied_table(projection)})
    async with read_model.reader(renderer) as tx:
        rows = await tx.fetch("SELECT source, stream_id, version, position FROM {bvb_applied}")
    return {(row[0], row[1]): (row[2], row[3]) for row in rows}


async def counter_state(read_model: ReadModel) -> tuple[Any, ...]:
    """All `StreamCounter` leaves in a read model, its bookkeeping included: the counts, the
    applied versions, the checkpoints, the parked streams and the dead letters (`[3]`, `[4]`)."""
    return (
        await read_counts(read_model),
        await read_applied(read_model),
        await read_model.checkpoints(COUNTS),
        await read_model.parked(COUNTS),
        await read_model.dead_letters(COUNTS),
    )


async def live_counter_state(
    read_model: ReadModel, stores: Mapping[str, EventStore]
) -> tuple[Any, ...]:
    """`counter_state` after a live catch-up of the stores: what a rebuild of them must leave."""
    await EmbeddedFeed(read_model, StreamCounter(), stores).catch_up({})
    return await counter_state(read_model)


@asynccontextmanager
async def sqlite_sources(
    directory: Path, lay_down: Callable[[dict[str, EventStore]], Awaitable[None]]
) -> AsyncIterator[dict[str, EventStore]]:
    """Two source stores (`consent`, `identity`) in SQLite files under `directory`, with the
    history `lay_down` appends to them; closed afterwards."""
    opened: dict[str, EventStore] = {
        name: await SqliteEventStore.open(directory / f"{name}-events.sqlite3")
        for name in ("consent", "identity")
    }
    try:
        await lay_down(opened)
        yield opened
    finally:
        for store in opened.values():
            await store.close()


def history(
    streams: int, events_per_stream: int, *, seed: int = 7, prefix: str = "participant"
) -> list[RecordedEvent]:
    """A store's history: streams interleaved at random, versions dense, positions rising."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    ids = [f"{prefix}-{uuid.UUID(int=rng.getrandbits(128)).hex[:12]}" for _ in range(streams)]
    pending = [sid for sid in ids for _ in range(events_per_stream)]
    rng.shuffle(pending)
    versions: dict[str, int] = {}
    start = datetime(2026, 3, 1, tzinfo=UTC)
    events = []
    for number, stream_id in enumerate(pending, start=1):
        version = versions[stream_id] = versions.get(stream_id, -1) + 1
        kind = "Registered" if version == 0 else rng.choice(("Answered", "Corrected", "Moved"))
        events.append(
            RecordedEvent(
                stream_id=stream_id,
                version=version,
                position=number * 3,  # positions need not be dense
                event_id=uuid.UUID(int=rng.getrandbits(128)),
                type=kind,
                data=json.dumps({"n": number}).encode(),
                metadata=json.dumps({"schema_version": 1, "actor": "acc-1"}).encode(),
                recorded_at=start + timedelta(milliseconds=number),
            )
        )
    return events


async def produce(
    bootstrap: KafkaTarget, topic: str, events: Sequence[RecordedEvent], *, service: str
) -> None:
    """Publish as the relay does: CloudEvents binary mode, key = stream id, idempotent, acks=all
    (without the relay's stored position: a test decides what is sent twice)."""
    producer = KafkaConnection.of(bootstrap).producer(
        enable_idempotence=True, acks="all", linger_ms=5
    )
    await producer.start()
    try:
        sent = []
        for event in events:
            record = to_record(event, service)
            sent.append(
                await producer.send(topic, record.value, key=record.key, headers=record.headers)
            )
        for future in sent:
            await future
    finally:
        await producer.stop()
