"""The event store port: the source of truth of every service, with in-memory, SQLite and PostgreSQL
adapters (and KurrentDB for operators who run it) that pass one contract suite."""

from bilet.eventstore.errors import (
    EventIdsConflict,
    EventStoreError,
    PurgeRefused,
    StreamDeleted,
    WrongExpectedVersion,
)
from bilet.eventstore.model import (
    ANY,
    NO_STREAM,
    START,
    STREAM_EXISTS,
    AppendResult,
    ExpectedVersion,
    NewEvent,
    RecordedEvent,
    StreamAppend,
    StreamMetadata,
    StreamState,
    category_of,
)
from bilet.eventstore.port import EventStore

__all__ = [
    "ANY",
    "NO_STREAM",
    "START",
    "STREAM_EXISTS",
    "AppendResult",
    "EventIdsConflict",
    "EventStore",
    "EventStoreError",
    "ExpectedVersion",
    "NewEvent",
    "PurgeRefused",
    "RecordedEvent",
    "StreamAppend",
    "StreamDeleted",
    "StreamMetadata",
    "StreamState",
    "WrongExpectedVersion",
    "category_of",
]
