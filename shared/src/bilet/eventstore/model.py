"""What goes into the event store and what comes out: plain frozen values, no I/O."""

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Final, NamedTuple
from uuid import UUID, SafeUUID


class StreamState(Enum):
    """Expectations about a stream that are not an exact version."""

    ANY = "any"
    NO_STREAM = "no_stream"
    STREAM_EXISTS = "stream_exists"


ANY: Final = StreamState.ANY
NO_STREAM: Final = StreamState.NO_STREAM
STREAM_EXISTS: Final = StreamState.STREAM_EXISTS

# An exact version is the version of the stream's last event; versions start at 0.
ExpectedVersion = int | StreamState

# Global positions are positive and increase in the order subscribers receive events; 0 is "before
# the first event". They need not be dense: a rolled-back append leaves a gap nobody waits for.
START: Final = 0


def category_of(stream_id: str) -> str:
    """`participant-1f2e…` → `participant`: the part before the first dash."""
    return stream_id.split("-", 1)[0]


# A UUID set as `UUID.__init__` would set it, slot by slot, without `__init__`'s checks of its
# arguments, which cost more than the rest of a new event id or of a recorded event read back.
_new_object = object.__new__
_set_uuid_int = UUID.__dict__["int"].__set__
_set_uuid_safety = UUID.__dict__["is_safe"].__set__
_UNKNOWN_SAFETY = SafeUUID.unknown
_time_ns = time.time_ns
_urandom = os.urandom
_VERSION_7: Final = 0x7 << 76
_VARIANT_RFC: Final = 0b10 << 62
_RAND_A: Final = (1 << 12) - 1
_RAND_B: Final = (1 << 62) - 1


def new_event_id() -> UUID:
    """A fresh event id: a UUIDv7 (RFC 9562), the milliseconds since the epoch, then 74 bits from
    the system's secure random source (docs/adr/0110). Ids made close in time are close in the
    stores' unique indexes on event ids, so the events of one commit share a few of the index's
    pages where random ids each wrote a page of their own; as hard to guess as an id needs to be
    (an id taken in advance could make an append look like a conflict). Not monotonic: ids made
    in the same millisecond are in random order, and the wall clock stepping back makes ids that
    sort before earlier ones. Nothing orders by event id (positions and versions do)."""
    return _event_id(_time_ns() // 1_000_000, int.from_bytes(_urandom(10)))


def new_event_ids(count: int) -> list[UUID]:
    """`count` fresh event ids, each as `new_event_id` makes it, their random bits drawn from one
    `os.urandom` call instead of one per id (a commit's events, docs/adr/0111)."""
    now = _time_ns() // 1_000_000
    raw = _urandom(10 * count)
    return [_event_id(now, int.from_bytes(raw[at : at + 10])) for at in range(0, 10 * count, 10)]


def _event_id(milliseconds: int, random: int) -> UUID:
    """The UUIDv7 of this moment and these 80 random bits (74 of them used)."""
    return bare_uuid(
        milliseconds << 80
        | _VERSION_7
        | (random >> 62 & _RAND_A) << 64
        | _VARIANT_RFC
        | random & _RAND_B
    )


def bare_uuid(value: int) -> UUID:
    """`UUID(int=value)` without its checks: for a 128-bit `value` that is a UUID's by how it was
    made (a new event id's bits, an event id's 16 bytes as a store wrote them)."""
    uuid = _new_object(UUID)
    _set_uuid_int(uuid, value)
    _set_uuid_safety(uuid, _UNKNOWN_SAFETY)
    return uuid


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append. `data` and `metadata` are JSON documents, already encoded."""

    type: str
    data: bytes
    metadata: bytes = b"{}"
    event_id: UUID = field(default_factory=new_event_id)


class RecordedEvent(NamedTuple):
    """An event as the store recorded it.

    A named tuple rather than a frozen dataclass: read-all builds hundreds of thousands of these a
    second, and a tuple is built three times faster.
    """

    stream_id: str
    version: int
    position: int
    event_id: UUID
    type: str
    data: bytes
    metadata: bytes
    recorded_at: datetime

    @property
    def category(self) -> str:
        return category_of(self.stream_id)


@dataclass(frozen=True, slots=True)
class StreamAppend:
    """One stream's part of an append; several of them commit together or not at all."""

    stream_id: str
    events: Sequence[NewEvent]
    expected_version: ExpectedVersion = ANY


@dataclass(frozen=True, slots=True)
class AppendResult:
    """Where a commit landed: the stream's new version and the global position of its last event.

    The position is the read-your-writes token: a read model that has applied everything up to it
    shows this commit's effect.
    """

    stream_id: str
    version: int
    position: int


@dataclass(frozen=True, slots=True)
class StreamMetadata:
    """Per-stream settings. `truncate_before` hides versions below it from `read_stream`; a deleted
    stream reads as absent until something is appended to it again (then versions continue)."""

    truncate_before: int = 0
    deleted: bool = False
