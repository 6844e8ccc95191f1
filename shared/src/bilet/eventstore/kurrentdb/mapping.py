"""The KurrentDB adapter's pure mapping, with no I/O: expectations, namespaced stream names, the
server-side filters of `$all`, metadata, conversions to and from the client's event dataclasses, and
the port's answers to a refused append.
"""

import json
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from kurrentdbclient import NewEvent as KurrentNewEvent
from kurrentdbclient import RecordedEvent as KurrentRecordedEvent
from kurrentdbclient import StreamState as KurrentStreamState
from kurrentdbclient.exceptions import WrongCurrentVersionError

from bilet.eventstore.errors import EventIdsConflict, EventStoreError, WrongExpectedVersion
from bilet.eventstore.model import (
    AppendResult,
    ExpectedVersion,
    NewEvent,
    RecordedEvent,
    StreamAppend,
    StreamMetadata,
    StreamState,
    category_of,
)
from bilet.eventstore.rules import StoredId

DELETED_TRUNCATE_BEFORE: Final = 2**63 - 1
TRUNCATE_BEFORE_KEY: Final = "$tb"
# The one property a multi-stream append carries our metadata document in.
MULTI_APPEND_METADATA_KEY: Final = "bilet-metadata"
CONTENT_TYPE: Final = "application/json"

_NAMESPACE: Final = re.compile(r"^[A-Za-z0-9_]{1,64}$")

_STREAM_STATES: Final = {
    StreamState.ANY: KurrentStreamState.ANY,
    StreamState.NO_STREAM: KurrentStreamState.NO_STREAM,
    StreamState.STREAM_EXISTS: KurrentStreamState.EXISTS,
}


def to_current_version(expected: ExpectedVersion) -> int | KurrentStreamState:
    """Our expectation as the client's `current_version` argument."""
    if isinstance(expected, StreamState):
        return _STREAM_STATES[expected]
    if expected < 0:
        raise ValueError(f"an exact expected version is >= 0, not {expected}")
    return expected


def actual_version(reported: object) -> int | None:
    """The actual version a `WrongCurrentVersionError` reports, None when it says 'no stream'."""
    if isinstance(reported, int) and not isinstance(reported, bool) and reported >= 0:
        return reported
    return None


class StreamNames:
    """Namespace isolation: `participant-1` is stored as `{namespace}_participant-1`."""

    def __init__(self, namespace: str = "") -> None:
        if namespace and not _NAMESPACE.match(namespace):
            raise ValueError(
                f"namespace {namespace!r}: use 1 to 64 letters, digits or '_' (no '-': "
                "KurrentDB takes the part before the first dash as a stream's category)"
            )
        self.namespace = namespace
        self.prefix = f"{namespace}_" if namespace else ""

    def stored(self, stream_id: str) -> str:
        if not stream_id or stream_id.startswith("$"):
            raise ValueError(f"stream id {stream_id!r}: empty or a KurrentDB system stream ('$')")
        return self.prefix + stream_id

    def original(self, stored_name: str) -> str | None:
        """The stream id for a stored name; None for system streams and other namespaces."""
        if stored_name.startswith("$") or not stored_name.startswith(self.prefix):
            return None
        stream_id = stored_name[len(self.prefix) :]
        return stream_id or None


@dataclass(frozen=True, slots=True)
class ServerFilter:
    """The regex filter KurrentDB applies to a read of `$all` (the client anchors it: ^...$)."""

    pattern: str
    by_stream_name: bool


@dataclass(frozen=True, slots=True)
class Selection:
    """Which events of `$all` a read or subscription wants: what the server filters, and what
    the client checks again on every event it keeps."""

    names: StreamNames
    categories: frozenset[str] | None = None
    event_types: frozenset[str] | None = None

    @classmethod
    def of(
        cls,
        names: StreamNames,
        categories: Collection[str] | None = None,
        event_types: Collection[str] | None = None,
    ) -> "Selection":
        return cls(
            names,
            None if categories is None else frozenset(categories),
            None if event_types is None else frozenset(event_types),
        )

    @property
    def matchable_categories(self) -> frozenset[str] | None:
        # A category is the part of an id before its first dash, so one with a dash matches none.
        if self.categories is None:
            return None
        return frozenset(c for c in self.categories if c and "-" not in c)

    @property
    def is_empty(self) -> bool:
        """True when nothing can match: an empty set of categories or event types."""
        return self.matchable_categories == frozenset() or self.event_types == frozenset()

    @property
    def server_filter(self) -> ServerFilter:
        categories = self.matchable_categories
        if categories is not None:
            alternatives = "|".join(re.escape(c) for c in sorted(categories))
            pattern = f"{re.escape(self.names.prefix)}(?:{alternatives})(?:-.*)?"
            return ServerFilter(f"(?:{pattern})", by_stream_name=True)
        if self.names.prefix:
            return ServerFilter(f"(?:{re.escape(self.names.prefix)}.*)", by_stream_name=True)
        if self.event_types is not None:
            alternatives = "|".join(re.escape(t) for t in sorted(self.event_types))
            return ServerFilter(f"(?:{alternatives})", by_stream_name=False)
        # The whole database: everything but KurrentDB's own `$` streams.
        return ServerFilter(r"(?:[^$].*)", by_stream_name=True)

    def convert(self, event: KurrentRecordedEvent) -> RecordedEvent | None:
        """The event as ours when this selection keeps it, else None."""
        if event.type.startswith("$"):
            return None
        stream_id = self.names.original(event.stream_name)
        if stream_id is None:
            return None
        categories = self.matchable_categories
        if categories is not None and category_of(stream_id) not in categories:
            return None
        if self.event_types is not None and event.type not in self.event_types:
            return None
        return recorded_from(stream_id, event)


def recorded_from(stream_id: str, event: KurrentRecordedEvent) -> RecordedEvent:
    """A client `RecordedEvent` (from a stream or from `$all`) as the port's `RecordedEvent`."""
    return RecordedEvent(
        stream_id=stream_id,
        version=event.stream_position,
        position=event.commit_position,
        event_id=event.id,
        type=event.type,
        data=bytes(event.data),
        metadata=unwrap_metadata(bytes(event.metadata)),
        recorded_at=event.recorded_at or datetime.now(UTC),
    )


def to_new_event(event: NewEvent, *, multi_append: bool = False) -> KurrentNewEvent:
    metadata = wrap_metadata(event.metadata) if multi_append else event.metadata
    return KurrentNewEvent(
        type=event.type,
        data=event.data,
        metadata=metadata,
        content_type=CONTENT_TYPE,
        id=event.event_id,
    )


def wrap_metadata(metadata: bytes) -> bytes:
    """A multi-stream append carries metadata only as string properties: one holds ours."""
    return json.dumps({MULTI_APPEND_METADATA_KEY: metadata.decode()}).encode()


def unwrap_metadata(stored: bytes) -> bytes:
    """Our metadata document back from what KurrentDB stored (wrapped or not)."""
    if MULTI_APPEND_METADATA_KEY.encode() not in stored:
        return stored
    try:
        document = json.loads(stored)
    except ValueError:
        return stored
    if isinstance(document, dict):
        wrapped = document.get(MULTI_APPEND_METADATA_KEY)
        if isinstance(wrapped, str):
            return wrapped.encode()
    return stored


def metadata_from_kurrent(raw: dict[str, Any]) -> StreamMetadata:
    """KurrentDB stream metadata as ours. A soft-deleted stream keeps no readable last version,
    so its `truncate_before` reads as 0."""
    truncate_before = raw.get(TRUNCATE_BEFORE_KEY)
    if not isinstance(truncate_before, int) or isinstance(truncate_before, bool):
        return StreamMetadata()
    if truncate_before >= DELETED_TRUNCATE_BEFORE:
        return StreamMetadata(truncate_before=0, deleted=True)
    return StreamMetadata(truncate_before=max(truncate_before, 0))


def kurrent_metadata(raw: dict[str, Any], truncate_before: int) -> dict[str, Any] | None:
    """The metadata document that sets `truncate_before` (and lifts a soft delete), keeping every
    other key an operator set (ACLs, max age...); None when nothing needs writing."""
    if truncate_before < 0:
        raise ValueError(f"truncate_before is >= 0, not {truncate_before}")
    if truncate_before == 0 and TRUNCATE_BEFORE_KEY not in raw:
        return None
    if raw.get(TRUNCATE_BEFORE_KEY) == truncate_before:
        return None
    return {**raw, TRUNCATE_BEFORE_KEY: truncate_before}


def is_known_position(position: int) -> bool:
    """An append answers 0 when it has no position to give (the protobuf default)."""
    return 0 < position < DELETED_TRUNCATE_BEFORE


def is_unimplemented(error: BaseException) -> bool:
    """True when the server does not know the gRPC call (multi-stream append before 25.1)."""
    seen: BaseException | None = error
    for _ in range(16):  # a chain of causes, never followed for ever
        if seen is None:
            break
        if "UNIMPLEMENTED" in str(seen).upper():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def refusal_error(
    names: StreamNames,
    appends: Sequence[StreamAppend],
    exists: Sequence[bool],
    error: WrongCurrentVersionError,
) -> EventStoreError:
    """The port's error for a refusal that is not a retry."""
    refused = appends[0]
    stream_exists = exists[0]
    for append, found in zip(appends, exists, strict=True):
        if error.stream_name is not None and names.stored(append.stream_id) == error.stream_name:
            refused, stream_exists = append, found
            break
    if refused.expected_version is StreamState.ANY:
        # KurrentDB refuses ANY only for a batch that partly repeats stored event ids.
        return EventIdsConflict(
            f"stream {refused.stream_id!r}: some event ids of this append are already "
            "stored, but not as this same append to this stream"
        )
    actual = actual_version(error.actual_version) if stream_exists else None
    return WrongExpectedVersion(refused.stream_id, refused.expected_version, actual)


def result_of_retry(append: StreamAppend, stored: Sequence[StoredId | None]) -> AppendResult:
    """The original result of an append found stored again at consecutive versions."""
    last = stored[-1]
    assert last is not None
    return AppendResult(append.stream_id, last.version, last.position)
