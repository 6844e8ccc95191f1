"""A read model as of a moment: a projection replayed over the history recorded up to then.

`replay_until` feeds a projection, through the runtime's own embedded feed (the same dedupe,
checkpoints and parking as a live read model), from event stores seen through `RecordedUntil`:
a read-only view of a store that holds only the events recorded at or before the moment. The
read model it writes is the caller's, normally a fresh file of its own: the live read model is
never touched. See docs/adr/0023-analytics-export.md (time travel).
"""

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from bilet.eventstore import EventStore
from bilet.eventstore.model import START, AppendResult, RecordedEvent, StreamAppend, StreamMetadata
from bilet.projections.embedded import EmbeddedFeed
from bilet.projections.port import Projection
from bilet.projections.readmodel import ReadModel


class ReadOnlyHistory(RuntimeError):
    """Something tried to change a store seen as of a moment."""


class RecordedUntil(EventStore):
    """`store` as it looks to a reader of its global order who sees only the events recorded at
    or before `until` (streams stay in version order: a stream's later events come later)."""

    def __init__(self, store: EventStore, until: datetime) -> None:
        super().__init__()
        self.store = store
        self.until = until

    async def read_all(
        self,
        after_position: int = START,
        limit: int = 1000,
        *,
        categories: Collection[str] | None = None,
        event_types: Collection[str] | None = None,
    ) -> list[RecordedEvent]:
        # Pages on until `limit` events are kept or the store ends: a short page means "caught
        # up" to a subscriber, which would then wait for appends that never come.
        kept: list[RecordedEvent] = []
        position = after_position
        while len(kept) < limit:
            page = await self.store.read_all(
                position, limit, categories=categories, event_types=event_types
            )
            if not page:
                break
            kept += [event for event in page if event.recorded_at <= self.until]
            position = page[-1].position
        return kept[:limit]

    async def head_position(self) -> int:
        """The position of the last event recorded by `until` (START when there is none)."""
        head, position = START, START
        while page := await self.read_all(position, 1000):
            head = position = page[-1].position
        return head

    async def read_stream(
        self,
        stream_id: str,
        from_version: int | None = None,
        *,
        backwards: bool = False,
        limit: int | None = None,
    ) -> list[RecordedEvent]:
        events = await self.store.read_stream(stream_id, from_version, backwards=backwards)
        kept = [event for event in events if event.recorded_at <= self.until]
        return kept if limit is None else kept[:limit]

    async def stream_version(self, stream_id: str) -> int | None:
        events = await self.read_stream(stream_id, backwards=True, limit=1)
        return events[0].version if events else None

    async def get_stream_metadata(self, stream_id: str) -> StreamMetadata:
        return await self.store.get_stream_metadata(stream_id)

    async def append_many(self, appends: Sequence[StreamAppend]) -> list[AppendResult]:
        raise ReadOnlyHistory("a store seen as of a moment cannot be appended to")

    async def set_stream_metadata(self, stream_id: str, metadata: StreamMetadata) -> None:
        raise ReadOnlyHistory("a store seen as of a moment cannot be changed")

    async def close(self) -> None:
        """The underlying store is its opener's to close."""


async def replay_until(
    read_model: ReadModel,
    projection: Projection,
    sources: Mapping[str, EventStore],
    until: datetime,
    *,
    event_types: Collection[str] | None = None,
) -> dict[str, int]:
    """Apply to `read_model` every event of `sources` recorded at or before `until` (of
    `event_types`, when given); returns the position reached per source."""
    as_of = {source: RecordedUntil(store, until) for source, store in sources.items()}
    feed = EmbeddedFeed(read_model, projection, as_of, event_types=event_types)
    await feed.catch_up({})
    return {source: await read_model.position(projection.name, source) for source in as_of}
