"""In-memory event store for unit tests: a real adapter that passes the whole contract suite."""

from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime
from uuid import UUID

from bilet.eventstore.model import (
    START,
    AppendResult,
    ExpectedVersion,
    RecordedEvent,
    StreamAppend,
    StreamMetadata,
)
from bilet.eventstore.port import EventStore
from bilet.eventstore.rules import (
    StoredId,
    check_append,
    check_expected_version,
    is_identical_retry,
)


def select_events(
    events: Iterable[RecordedEvent | None],
    limit: int,
    *,
    categories: Collection[str] | None = None,
    event_types: Collection[str] | None = None,
) -> list[RecordedEvent]:
    """The first `limit` of `events` (in order) of the given categories and types, as
    `read_all` answers; `None` stands for a purged event and is skipped."""
    selected = []
    for event in events:
        if event is None:
            continue  # purged
        if categories is not None and event.category not in categories:
            continue
        if event_types is not None and event.type not in event_types:
            continue
        selected.append(event)
        if len(selected) >= limit:
            break
    return selected


class InMemoryEventStore(EventStore):
    def __init__(self) -> None:
        super().__init__()
        # Position p is at index p - 1; a purged event leaves None, so positions stay unique.
        self._all: list[RecordedEvent | None] = []
        self._streams: dict[str, list[RecordedEvent]] = {}
        self._ids: dict[UUID, StoredId] = {}
        self._metadata: dict[str, StreamMetadata] = {}

    async def append_many(self, appends: Sequence[StreamAppend]) -> list[AppendResult]:
        # Everything below runs without an await, so it is atomic under asyncio.
        check_append(appends)
        retries = [
            is_identical_retry(a, [self._ids.get(e.event_id) for e in a.events]) for a in appends
        ]
        if all(retries):
            return [self._result_of_retry(a) for a in appends]
        for append, retry in zip(appends, retries, strict=True):
            if retry:
                continue
            check_expected_version(
                append.stream_id, append.expected_version, self._version(append.stream_id)
            )
        now = datetime.now(UTC)
        results = []
        for append, retry in zip(appends, retries, strict=True):
            if retry:
                results.append(self._result_of_retry(append))
                continue
            stream = self._streams.setdefault(append.stream_id, [])
            metadata = self._metadata.get(append.stream_id)
            if metadata and metadata.deleted:
                # Appending to a deleted stream brings it back; what was deleted stays hidden.
                self._metadata[append.stream_id] = StreamMetadata(metadata.truncate_before)
            for event in append.events:
                recorded = RecordedEvent(
                    stream_id=append.stream_id,
                    version=len(stream),
                    position=len(self._all) + 1,
                    event_id=event.event_id,
                    type=event.type,
                    data=event.data,
                    metadata=event.metadata,
                    recorded_at=now,
                )
                stream.append(recorded)
                self._all.append(recorded)
                self._ids[event.event_id] = StoredId(
                    recorded.stream_id, recorded.version, recorded.position
                )
            results.append(AppendResult(append.stream_id, len(stream) - 1, len(self._all)))
        self._wake_subscribers()
        return results

    def _result_of_retry(self, append: StreamAppend) -> AppendResult:
        last = self._ids[append.events[-1].event_id]
        return AppendResult(append.stream_id, last.version, last.position)

    def _version(self, stream_id: str) -> int | None:
        stream = self._streams.get(stream_id)
        metadata = self._metadata.get(stream_id)
        if not stream or (metadata and metadata.deleted):
            return None
        return len(stream) - 1

    async def stream_version(self, stream_id: str) -> int | None:
        return self._version(stream_id)

    async def read_stream(
        self,
        stream_id: str,
        from_version: int | None = None,
        *,
        backwards: bool = False,
        limit: int | None = None,
    ) -> list[RecordedEvent]:
        if self._version(stream_id) is None:
            return []
        first_visible = self._metadata.get(stream_id, StreamMetadata()).truncate_before
        visible = [e for e in self._streams[stream_id] if e.version >= first_visible]
        if backwards:
            start = len(self._streams[stream_id]) if from_version is None else from_version
            selected = [e for e in reversed(visible) if e.version <= start]
        else:
            start = 0 if from_version is None else from_version
            selected = [e for e in visible if e.version >= start]
        return selected if limit is None else selected[:limit]

    async def read_all(
        self,
        after_position: int = START,
        limit: int = 1000,
        *,
        categories: Collection[str] | None = None,
        event_types: Collection[str] | None = None,
    ) -> list[RecordedEvent]:
        return select_events(
            self._all[max(after_position, 0) :],
            limit,
            categories=categories,
            event_types=event_types,
        )

    async def head_position(self) -> int:
        return len(self._all)

    async def get_stream_metadata(self, stream_id: str) -> StreamMetadata:
        return self._metadata.get(stream_id, StreamMetadata())

    async def set_stream_metadata(self, stream_id: str, metadata: StreamMetadata) -> None:
        self._metadata[stream_id] = metadata

    async def _purge(self, stream_id: str, expected_version: ExpectedVersion) -> bool:
        # No await before the removal: atomic under asyncio, like an append.
        check_expected_version(stream_id, expected_version, self._version(stream_id))
        stream = self._streams.pop(stream_id, [])
        self._metadata.pop(stream_id, None)
        for event in stream:
            self._all[event.position - 1] = None
            del self._ids[event.event_id]
        return bool(stream)

    async def close(self) -> None:
        return None
