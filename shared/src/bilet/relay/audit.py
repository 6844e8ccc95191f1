"""Does a topic hold a store's history? Every stored event at least once, each stream's events first
seen in store order, nothing that is not in the store. Duplicates are allowed (and counted).

Used by the relay's tests and benchmark; also an operator's check after an incident. It reads the
whole topic and store into memory: meant for test data and modest histories, not for a full
production topic.
"""

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple
from uuid import UUID

from aiokafka import TopicPartition

from bilet.contracts.cloudevents import from_record
from bilet.eventstore import START, EventStore, RecordedEvent
from bilet.kafka import KafkaConnection, KafkaTarget


class PublishedEvent(NamedTuple):
    """An event as read back from the topic, with where it was found."""

    partition: int
    offset: int
    event: RecordedEvent


def _comparable(event: RecordedEvent) -> tuple[object, ...]:
    # Metadata is compared through its Kafka form elsewhere; its bytes are re-encoded on the way.
    return (
        event.stream_id,
        event.version,
        event.position,
        event.event_id,
        event.type,
        event.data,
        event.recorded_at,
    )


@dataclass
class AuditReport:
    stored: int = 0
    published: int = 0
    duplicates: int = 0
    missing: list[UUID] = field(default_factory=list)
    unknown: list[UUID] = field(default_factory=list)
    mismatched: list[UUID] = field(default_factory=list)
    out_of_order_streams: list[str] = field(default_factory=list)
    split_streams: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.missing
            or self.unknown
            or self.mismatched
            or self.out_of_order_streams
            or self.split_streams
        )

    def summary(self) -> str:
        return (
            f"stored {self.stored}, published {self.published} ({self.duplicates} duplicates), "
            f"missing {len(self.missing)}, unknown {len(self.unknown)}, "
            f"mismatched {len(self.mismatched)}, streams out of order "
            f"{len(self.out_of_order_streams)}, streams split over partitions "
            f"{len(self.split_streams)}"
        )


def audit(stored: Sequence[RecordedEvent], published: Iterable[PublishedEvent]) -> AuditReport:
    """Compare a store's events (in store order) with what a topic holds."""
    report = AuditReport(stored=len(stored))
    by_id = {event.event_id: event for event in stored}
    expected: dict[str, list[UUID]] = defaultdict(list)
    for event in stored:
        expected[event.stream_id].append(event.event_id)

    # First occurrences per stream, in offset order within each partition.
    first_seen: dict[str, list[UUID]] = defaultdict(list)
    partitions_of: dict[str, set[int]] = defaultdict(set)
    seen: set[UUID] = set()
    ordered = sorted(published, key=lambda p: (p.partition, p.offset))
    report.published = len(ordered)
    for item in ordered:
        event = item.event
        partitions_of[event.stream_id].add(item.partition)
        if event.event_id in seen:
            report.duplicates += 1
            continue
        seen.add(event.event_id)
        original = by_id.get(event.event_id)
        if original is None:
            report.unknown.append(event.event_id)
            continue
        if _comparable(original) != _comparable(event):
            report.mismatched.append(event.event_id)
        first_seen[original.stream_id].append(event.event_id)

    report.missing = [event.event_id for event in stored if event.event_id not in seen]
    missing = set(report.missing)
    for stream_id, ids in expected.items():
        if [i for i in ids if i not in missing] != first_seen.get(stream_id, []):
            report.out_of_order_streams.append(stream_id)
    report.split_streams = sorted(s for s, parts in partitions_of.items() if len(parts) > 1)
    return report


async def read_store(store: EventStore, page: int = 5000) -> list[RecordedEvent]:
    events: list[RecordedEvent] = []
    position = START
    while batch := await store.read_all(position, page):
        events.extend(batch)
        position = batch[-1].position
    return events


async def read_topic(
    bootstrap_servers: KafkaTarget, topic: str, *, timeout: float = 30.0
) -> list[PublishedEvent]:
    """Every record of `topic` up to its end offsets as they were when reading began."""
    numbers = await topic_partitions(bootstrap_servers, topic)
    partitions = [TopicPartition(topic, p) for p in numbers]
    consumer = KafkaConnection.of(bootstrap_servers).consumer(
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        events: list[PublishedEvent] = []
        async with asyncio.timeout(timeout):
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
                for tp, records in batches.items():
                    for record in records:
                        if record.offset >= ends[tp]:
                            continue
                        received = from_record(record.value, record.headers)
                        events.append(PublishedEvent(tp.partition, record.offset, received.event))
        return events
    finally:
        await consumer.stop()


async def topic_partitions(bootstrap_servers: KafkaTarget, topic: str) -> list[int]:
    admin = KafkaConnection.of(bootstrap_servers).admin()
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described["error_code"] != 0 or not described["partitions"]:
        raise LookupError(f"topic {topic} does not exist (error {described['error_code']})")
    return sorted(p["partition"] for p in described["partitions"])
