"""Between deciders and the event store: reading and folding streams, sealing what was decided,
encoding it (published events through `bilet.contracts`, internal ones through their registry)."""

from collections.abc import Sequence
from dataclasses import dataclass

from bilet.contracts import DomainEvent, EventMetadata, decode, encode, seal
from bilet.contracts.codec import StoredEvent
from bilet.crypto import FieldCipher
from bilet.eventstore import (
    NO_STREAM,
    EventStore,
    ExpectedVersion,
    NewEvent,
    StreamAppend,
    category_of,
)
from bilet_consent.domain.internal import INTERNAL_CATEGORIES, INTERNAL_EVENTS
from bilet_consent.domain.sealing import Decided, Unsealed


def decode_event(stored: StoredEvent, stream_id: str) -> DomainEvent:
    if category_of(stream_id) in INTERNAL_CATEGORIES:
        return decode(stored, INTERNAL_EVENTS)
    return decode(stored)


@dataclass(frozen=True)
class Stream:
    """A stream's decoded events, with what an append and a read-your-writes token need."""

    stream_id: str
    events: tuple[DomainEvent, ...]
    version: int | None  # of the last event; None: no stream
    position: int  # of the last event; 0: none

    @property
    def expected(self) -> ExpectedVersion:
        return NO_STREAM if self.version is None else self.version


async def read(store: EventStore, stream_id: str) -> Stream:
    records = await store.read_stream(stream_id)
    events = tuple(decode_event(record, stream_id) for record in records)
    version = records[-1].version if records else None
    position = records[-1].position if records else 0
    return Stream(stream_id, events, version, position)


async def seal_all(cipher: FieldCipher, decided: Sequence[Decided]) -> list[DomainEvent]:
    """The decided events as they are stored: personal plaintext sealed with the subject's key."""
    sealed: list[DomainEvent] = []
    for event in decided:
        if isinstance(event, Unsealed):
            values = await seal(cipher, event.subject, event.personal)
            sealed.append(event.sealed_with(values))
        else:
            sealed.append(event)
    return sealed


def to_new_event(event: DomainEvent, metadata: EventMetadata) -> NewEvent:
    if INTERNAL_EVENTS.is_published(event.event_type):
        data = event.model_dump_json().encode()
        meta = metadata.model_copy(update={"schema_version": event.schema_version}).to_json()
        return NewEvent(type=event.event_type, data=data, metadata=meta)
    return encode(event, metadata)


def stream_append(
    stream_id: str,
    events: Sequence[DomainEvent],
    expected: ExpectedVersion,
    metadata: EventMetadata,
) -> StreamAppend:
    for event in events:
        if event.stream_id != stream_id:
            raise ValueError(f"{event.event_type} belongs to {event.stream_id}, not {stream_id}")
    return StreamAppend(stream_id, [to_new_event(e, metadata) for e in events], expected)
