"""Between deciders and the event store: reading and folding streams, sealing what was decided,
and encoding it with its metadata.

Published events go through `bilet.contracts` (`encode`/`decode`, the newest version); the
internal ones (`bilet_identity.domain.internal`) through their own registry.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from uuid import UUID

from bilet.contracts import DomainEvent, EventMetadata, decode, encode, seal
from bilet.contracts.codec import StoredEvent
from bilet.crypto import FieldCipher
from bilet.eventstore import (
    NO_STREAM,
    EventStore,
    ExpectedVersion,
    NewEvent,
    RecordedEvent,
    StreamAppend,
    category_of,
)
from bilet_identity.domain.internal import INTERNAL_CATEGORIES, INTERNAL_EVENTS
from bilet_identity.domain.sealing import Decided, Unsealed

S = TypeVar("S")


def decode_event(stored: StoredEvent, stream_id: str) -> DomainEvent:
    if category_of(stream_id) in INTERNAL_CATEGORIES:
        return decode(stored, INTERNAL_EVENTS)
    return decode(stored)


@dataclass(frozen=True)
class Loaded(Generic[S]):
    """A stream folded into its state, with what an append and a read-your-writes token need."""

    stream_id: str
    state: S
    version: int | None  # of the last event; None: no stream
    position: int  # of the last event; 0: none
    events: tuple[DomainEvent, ...]

    @property
    def expected(self) -> ExpectedVersion:
        return NO_STREAM if self.version is None else self.version


async def load(
    store: EventStore, stream_id: str, evolve: Callable[[Any, Any], S], initial: S
) -> Loaded[S]:
    records: list[RecordedEvent] = await store.read_stream(stream_id)
    state = initial
    events = []
    for record in records:
        event = decode_event(record, stream_id)
        events.append(event)
        state = evolve(state, event)
    version = records[-1].version if records else None
    position = records[-1].position if records else 0
    return Loaded(stream_id, state, version, position, tuple(events))


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


def to_new_event(
    event: DomainEvent, metadata: EventMetadata, event_id: UUID | None = None
) -> NewEvent:
    if INTERNAL_EVENTS.is_published(event.event_type):
        data = event.model_dump_json().encode()
        meta = metadata.model_copy(update={"schema_version": event.schema_version}).to_json()
        if event_id is None:
            return NewEvent(type=event.event_type, data=data, metadata=meta)
        return NewEvent(type=event.event_type, data=data, metadata=meta, event_id=event_id)
    return encode(event, metadata, event_id)


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
