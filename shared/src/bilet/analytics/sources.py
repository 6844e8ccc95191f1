"""Where an export reads published events from: the services' stores, or their Kafka topics.

A source is a set of *lanes* read independently, each with a cursor: a store's lane is the
service (cursor: the last global position read, 0 before the first), a topic's lane is one
partition, `<topic>:<partition>` (cursor: the next offset to read). A run reads each lane from
its cursor up to the end the lane had when the run began, so the run has a fixed goal however
fast the services write meanwhile.

From stores only the published types are read (what a relay puts on Kafka), through the
kernel's `read_all`; from Kafka every record is a CloudEvent that `from_record` turns back into
the stored event.
"""

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Mapping
from typing import Final

from aiokafka import AIOKafkaConsumer, TopicPartition

from bilet.contracts import CATALOGUE
from bilet.contracts.cloudevents import from_record
from bilet.eventstore import EventStore, RecordedEvent
from bilet.kafka import KafkaConnection, KafkaTarget
from bilet.projections.kafka.topics import partitions_of

# Events per read: big enough to amortise a round trip, small enough to show progress.
PAGE: Final = 2000
# Each event with the lane's cursor once it has been read.
Page = list[tuple[RecordedEvent, int]]
# Empty polls of a second in a row after which a partition that should hold more is given up.
IDLE_POLLS: Final = 30
Cursor = dict[str, int]


class Source(ABC):
    """Lanes of published events, each read from a cursor up to a fixed end."""

    kind: str
    # Whether its events were validated by the contract when they were written, so that an
    # export may read the newest version's JSON as it is (`columns.row_of`).
    validated_on_write: bool = False

    @abstractmethod
    def lanes(self) -> Mapping[str, str]:
        """Every lane, with the service whose events it carries."""

    @abstractmethod
    def start(self, lane: str) -> int:
        """The cursor before anything of the lane was read."""

    @abstractmethod
    async def ends(self) -> Cursor:
        """Where each lane ends now: a run reads up to here."""

    @abstractmethod
    def read(
        self, lane: str, after: int, end: int, event_types: frozenset[str] | None = None
    ) -> AsyncGenerator[Page, None]:
        """The lane's events from cursor `after` up to `end`, a page at a time; only
        `event_types` when given (a source may still deliver others: callers filter). Close it
        (`contextlib.aclosing`) when stopping early: it may be reading ahead."""

    async def close(self) -> None:  # noqa: B027 - nothing to close by default
        """Release connections."""


class StoreSource(Source):
    """The services' own stores (by service name), only read."""

    kind = "stores"
    # A store holds what the services appended, each event encoded from its validated model
    # (`contracts.encode`).
    validated_on_write = True

    def __init__(self, stores: Mapping[str, EventStore]) -> None:
        self._stores = dict(stores)

    def lanes(self) -> Mapping[str, str]:
        return {service: service for service in self._stores}

    def start(self, lane: str) -> int:
        return 0

    async def ends(self) -> Cursor:
        return {service: await store.head_position() for service, store in self._stores.items()}

    async def read(
        self, lane: str, after: int, end: int, event_types: frozenset[str] | None = None
    ) -> AsyncGenerator[Page, None]:
        store = self._stores[lane]
        published = set(CATALOGUE.event_types_of(lane))
        wanted = sorted(published if event_types is None else published & event_types)
        if not wanted:
            return
        if after >= end:
            return
        # One page read ahead: the store reads the next page (a round trip, or SQLite's reader
        # thread) while the caller decodes this one, instead of each waiting for the other.
        ahead = asyncio.ensure_future(store.read_all(after, PAGE, event_types=wanted))
        try:
            while True:
                events = await ahead
                page = [(event, event.position) for event in events if event.position <= end]
                more = len(page) == PAGE and page[-1][1] < end
                if more:
                    ahead = asyncio.ensure_future(
                        store.read_all(page[-1][1], PAGE, event_types=wanted)
                    )
                if page:
                    yield page
                if not more:
                    return
        finally:
            # The caller stopped early (`until`, an interruption): the page read ahead is
            # nobody's, nor is its failure. (A SQLite store's close waits for it in its thread.)
            if not ahead.done():
                ahead.cancel()
            elif not ahead.cancelled():
                ahead.exception()

    async def close(self) -> None:
        for store in self._stores.values():
            await store.close()


class KafkaSource(Source):
    """The services' topics (by service name) on a Kafka cluster, read without a group: the
    export keeps its own offsets in its manifest and commits nothing to the broker."""

    kind = "kafka"

    def __init__(
        self, consumer: AIOKafkaConsumer, lanes: Mapping[str, tuple[TopicPartition, str]]
    ) -> None:
        self._consumer = consumer
        # lane (`<topic>:<partition>`) → the partition, and the service publishing on it
        self._lanes = dict(lanes)

    @classmethod
    async def open(cls, bootstrap_servers: KafkaTarget, topics: Mapping[str, str]) -> "KafkaSource":
        """Read every partition of `topics` (service → topic); a missing topic is a
        `LookupError`."""
        service_of = {topic: service for service, topic in topics.items()}
        try:
            partitions = await partitions_of(bootstrap_servers, list(topics.values()))
        except ValueError as error:
            raise LookupError(str(error)) from None
        lanes = {f"{p.topic}:{p.partition}": (p, service_of[p.topic]) for p in partitions}
        consumer = KafkaConnection.of(bootstrap_servers).consumer(
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
        )
        await consumer.start()
        return cls(consumer, lanes)

    def lanes(self) -> Mapping[str, str]:
        return {lane: service for lane, (_, service) in self._lanes.items()}

    def start(self, lane: str) -> int:
        return 0

    async def ends(self) -> Cursor:
        partitions = [partition for partition, _ in self._lanes.values()]
        offsets = await self._consumer.end_offsets(partitions)
        return {lane: offsets[partition] for lane, (partition, _) in self._lanes.items()}

    async def read(
        self, lane: str, after: int, end: int, event_types: frozenset[str] | None = None
    ) -> AsyncGenerator[Page, None]:
        partition, _ = self._lanes[lane]
        if after >= end:
            return
        self._consumer.assign([partition])
        first = (await self._consumer.beginning_offsets([partition]))[partition]
        # Records before the log start were deleted by retention: the export cannot have them.
        self._consumer.seek(partition, max(after, first))
        idle = 0
        while True:
            batches = await self._consumer.getmany(partition, timeout_ms=1000, max_records=PAGE)
            records = batches.get(partition, [])
            idle = 0 if records else idle + 1
            if idle > IDLE_POLLS:
                raise TimeoutError(f"{lane}: no records arrive before offset {end}")
            page: Page = []
            for record in records:
                if record.offset >= end:
                    break
                event = from_record(record.value, record.headers).event
                if event_types is None or event.type in event_types:
                    page.append((event, record.offset + 1))
            if page:
                yield page
            position = await self._consumer.position(partition)
            if position >= end:
                return

    async def close(self) -> None:
        await self._consumer.stop()
