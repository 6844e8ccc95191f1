"""For tests of a service's facts read side: the published events of identity and consent every
facts projection folds, built with few words; `FactsHistory`, which appends events to in-memory
stores of their services and feeds a projection from them as the embedded path does; and, for
the worker's path, records as a store would publish them and fresh Kafka topics.

A service's `facts_testing` names its own defaults (`FactsEvents`: the grade a pupil registers
in, the purposes a consent covers) and adds the events of its own topic. Sealed fields are
well-formed envelopes of no key: nothing here is a real person.
"""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TypeVar
from uuid import UUID, uuid4

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bilet.contracts import DomainEvent, EventMetadata, encode, sealed_fields
from bilet.contracts.catalogue.consent import (
    ConsentPurposesWithdrawn,
    ConsentVerified,
    ConsentWithdrawn,
    ErasureReason,
    ParticipantErased,
    Purpose,
)
from bilet.contracts.catalogue.identity import ParticipantRegistered
from bilet.contracts.examples import sealed
from bilet.contracts.sealed import SealedValue
from bilet.eventstore import ANY, EventStore, RecordedEvent
from bilet.eventstore.memory import InMemoryEventStore
from bilet.pgschema import drop_schema
from bilet.projections import EmbeddedFeed, KafkaFeed, Projection, ReadModel, dlq_topic
from bilet.projections.postgres import PostgresReadModel
from bilet.projections.sqlite import SqliteReadModel
from bilet.projections.testing import produce

REGION = UUID("5e2a3c10-4b1d-4f7e-9c2a-470000000047")  # Ленинградская область
OTHER_REGION = UUID("5e2a3c10-4b1d-4f7e-9c2a-470000000078")
SCHOOL = UUID("0c3b9a52-7f3e-4d8a-8a10-000000000003")


def envelope(name: str) -> SealedValue:
    """A well-formed sealed value no key opens, different for each `name`."""
    return SealedValue.model_validate(sealed(name))


@dataclass(frozen=True)
class FactsEvents:
    """Identity's registration and consent's verification with a service's defaults: the
    `grade` a pupil registers in and the `purposes` a consent covers."""

    grade: int
    purposes: tuple[Purpose, ...]

    def registered(
        self,
        participant_id: UUID,
        school_id: UUID = SCHOOL,
        region_id: UUID = REGION,
        *,
        season: int = 2019,
        grade: int | None = None,
    ) -> ParticipantRegistered:
        envelopes = {name: envelope(name) for name in sealed_fields(ParticipantRegistered)}
        return ParticipantRegistered(
            participant_id=participant_id,
            school_id=school_id,
            region_id=region_id,
            season=season,
            grade=self.grade if grade is None else grade,
            **envelopes,
        )

    def verified(
        self,
        participant_id: UUID,
        valid_until: date = date(2020, 8, 31),
        purposes: Iterable[Purpose] | None = None,
        *,
        consent_id: UUID | None = None,
    ) -> ConsentVerified:
        return ConsentVerified(
            participant_id=participant_id,
            consent_id=consent_id or uuid4(),
            purposes=tuple(self.purposes if purposes is None else purposes),
            valid_until=valid_until,
        )


def purposes_withdrawn(
    participant_id: UUID,
    consent_id: UUID,
    withdrawn: Iterable[Purpose],
    remaining: Iterable[Purpose],
) -> ConsentPurposesWithdrawn:
    return ConsentPurposesWithdrawn(
        participant_id=participant_id,
        consent_id=consent_id,
        withdrawn=tuple(withdrawn),
        remaining=tuple(remaining),
        withdrawn_on=date(2019, 10, 1),
    )


def withdrawn(participant_id: UUID, on: date) -> ConsentWithdrawn:
    return ConsentWithdrawn(
        participant_id=participant_id, consent_id=uuid4(), withdrawn_on=on, erase_by=on
    )


def erased(participant_id: UUID) -> ParticipantErased:
    return ParticipantErased(
        participant_id=participant_id,
        reason=ErasureReason.CONSENT_WITHDRAWN,
        erased_at=datetime(2019, 11, 1, tzinfo=UTC),
        destruction_record_id=uuid4(),
    )


class FactsHistory:
    """In-memory stores of the `sources` (identity, consent, the service itself) and
    `projection` fed from them into `read_model`. A service's subclass adds the queries it
    answers."""

    def __init__(self, read_model: ReadModel, projection: Projection, sources: Iterable[str]):
        self.stores: dict[str, EventStore] = {source: InMemoryEventStore() for source in sources}
        self.feed = EmbeddedFeed(read_model, projection, self.stores)

    async def given(self, *events: DomainEvent) -> None:
        """Append each event to its service's store, then feed everything appended so far."""
        for event in events:
            store = self.stores[type(event).service]
            await store.append(event.stream_id, [encode(event, EventMetadata())], ANY)
        await self.feed.catch_up({})


H = TypeVar("H", bound=FactsHistory)
T = TypeVar("T")


@contextlib.asynccontextmanager
async def history_on_sqlite(path: Path, history: Callable[[ReadModel], H]) -> AsyncIterator[H]:
    """A `history` over a new SQLite read model at `path`, closed on exit."""
    read_model = await SqliteReadModel.open(path)
    try:
        yield history(read_model)
    finally:
        await read_model.close()


async def answers_on_sqlite(path: Path, answers: Callable[[ReadModel], Awaitable[T]]) -> T:
    """What `answers` finds in a new SQLite read model at `path` (closed after): what PostgreSQL
    is to answer alike."""
    read_model = await SqliteReadModel.open(path)
    try:
        return await answers(read_model)
    finally:
        await read_model.close()


@contextlib.asynccontextmanager
async def postgres_read_model(database_url: str, prefix: str) -> AsyncIterator[ReadModel]:
    """A PostgreSQL read model in a new schema (`prefix` and a random tail), dropped on exit."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    read_model = await PostgresReadModel.open(database_url, schema=schema)
    try:
        yield read_model
    finally:
        await read_model.close()
        await drop_schema(database_url, schema)


def recorded(events: Sequence[DomainEvent]) -> list[RecordedEvent]:
    """As one store would record them (for a topic): versions per stream, positions rising."""
    versions: dict[str, int] = {}
    out = []
    for position, event in enumerate(events, start=1):
        new = encode(event, EventMetadata(actor="test"))
        version = versions[event.stream_id] = versions.get(event.stream_id, -1) + 1
        out.append(
            RecordedEvent(
                stream_id=event.stream_id,
                version=version,
                position=position,
                event_id=uuid4(),
                type=new.type,
                data=new.data,
                metadata=new.metadata,
                recorded_at=datetime.now(UTC),
            )
        )
    return out


@contextlib.asynccontextmanager
async def fresh_topics(bootstrap: str, sources: Iterable[str]) -> AsyncIterator[dict[str, str]]:
    """A new topic per source (topic → source) on the broker at `bootstrap`; on exit they and
    their dead-letter topics are deleted."""
    names = {f"bilet.t{uuid.uuid4().hex[:12]}": source for source in sources}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1) for name in names])
    finally:
        await admin.close()
    try:
        yield names
    finally:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            doomed = [t for name in names for t in (name, dlq_topic(name)) if t in existing]
            await admin.delete_topics(doomed)
        finally:
            await admin.close()


async def feed_through_kafka(
    bootstrap: str,
    by_source: Mapping[str, Sequence[DomainEvent]],
    build_feed: Callable[[dict[str, str]], KafkaFeed],
    *,
    timeout: float = 60,
) -> None:
    """The worker's path: each source's events published on a fresh topic of its own (as its
    store records them), the feed `build_feed` makes of those topics (topic → source) run until
    its read model applied them all (at most `timeout` seconds a source), then stopped."""
    async with fresh_topics(bootstrap, by_source) as topics:
        for topic, source in topics.items():
            await produce(bootstrap, topic, recorded(by_source[source]), service=source)
        feed = build_feed(topics)
        task = asyncio.create_task(feed.run())
        try:
            for source, events in by_source.items():
                await feed.read_model.wait_until(
                    feed.projection.name,
                    source,
                    len(events),
                    timeout,
                    stream_id=events[-1].stream_id,
                )
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
