"""The simulated season's unit of work over a service's event store (docs/adr/0069).

`bvb simulate season` runs every command through the service's own use cases, and each use case
commits on its own: one SQLite transaction, and a read of the store for every stream it decides
on, per command. `UnitOfWorkStore` sits between the service and its store for the load: an
append is checked and recorded in memory (the source of truth for the run), and the recorded
events go to the store many commands at a time, `commit_every` events in one transaction. The
service reads its own writes from memory: the streams the run wrote or read are kept (the least
recently used dropped beyond `keep_events`), so the season's reference streams (the rules, a
region, a school) are folded from memory, not read again for every command.

It is for SQLite stores (whose positions have no gaps) and one writer only: the store must be
empty when the unit of work opens (a season goes into empty stores), and nothing else appends
to it until `flush` has written everything (the phases end with `close`, which flushes). Then
the positions, versions and event ids the service was answered with are the ones the store
gives the events: a flush checks it. Stream metadata and purges (not part of a season) are
passed through to the store after a flush, and the streams they touch are read from the store
from then on.
"""

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Collection, Iterable, Sequence
from datetime import UTC, datetime
from uuid import UUID

from bilet.eventstore import (
    START,
    AppendResult,
    EventStore,
    ExpectedVersion,
    RecordedEvent,
    StreamAppend,
    StreamMetadata,
)
from bilet.eventstore.memory import select_events
from bilet.eventstore.rules import StoredId, check_append, check_expected_version
from bilet.eventstore.rules import is_identical_retry as identical_retry
from bilet.eventstore.sqlite import SqliteEventStore
from bilet.eventstore.sqlite_bulk import append_recorded

COMMIT_EVERY = 20_000  # events per transaction of the store
KEEP_EVENTS = 200_000  # events of written streams kept in memory beyond the pending ones


class UnitOfWorkStore(EventStore):
    """An event store that records appends in memory and writes them to `store` in bulk."""

    # One writer, and an append's events take the next positions with no gap (`_record`), as
    # SQLite's: the services' command paths then treat it as they treat their SQLite store
    # (their commit observers are told, an audit record joins its command's commit).
    one_writer_at_a_time = True

    def __init__(
        self,
        store: SqliteEventStore,
        *,
        commit_every: int = COMMIT_EVERY,
        keep_events: int = KEEP_EVENTS,
    ) -> None:
        super().__init__()
        self.store = store
        self.commit_every = commit_every
        self.keep_events = keep_events
        self.commits = 0  # transactions of the store (what the bulk path saves is the rest)
        self._pending: list[RecordedEvent] = []  # recorded here, not yet in the store
        # where each pending event id is: the event itself (a `StoredId` made only for a retry)
        self._pending_ids: dict[UUID, RecordedEvent] = {}
        self._written = START  # the store's head: every position up to it is in the store
        self._versions: dict[str, int] = {}  # every stream this run appended to
        self._kept: OrderedDict[str, list[RecordedEvent]] = OrderedDict()  # whole streams, LRU
        self._kept_events = 0
        self._in_store: set[str] = set()  # streams with events written to the store
        self._passed_through: set[str] = set()  # metadata or purged: the store answers
        self._flushing = asyncio.Lock()
        self._appending = asyncio.Lock()

    @classmethod
    async def over(cls, store: SqliteEventStore, **options: int) -> "UnitOfWorkStore":
        """A unit of work over `store`, which must hold nothing yet."""
        if await store.head_position() != START:
            raise ValueError("a season's unit of work writes into an empty store only")
        work = cls(store, **options)
        work.purgeable_categories = store.purgeable_categories
        return work

    # -------------------------------------------------------------- writing

    async def append_many(self, appends: Sequence[StreamAppend]) -> list[AppendResult]:
        check_append(appends)
        # One append at a time, as `one_writer_at_a_time` says: an append passed through to the
        # store awaits it, and an append recorded meanwhile would take the same positions.
        async with self._appending:
            return await self._append_many(appends)

    async def _append_many(self, appends: Sequence[StreamAppend]) -> list[AppendResult]:
        if any(a.stream_id in self._passed_through for a in appends):
            await self.flush()
            results = await self.store.append_many(appends)
            self._written = max(self._written, *(r.position for r in results))
            for result in results:  # the others in it are read from the store from now on
                if result.stream_id not in self._passed_through:
                    self._versions[result.stream_id] = result.version
                    self._in_store.add(result.stream_id)
                    self._kept_events -= len(self._kept.pop(result.stream_id, ()))
            return results
        retries = [
            identical_retry(a, [self._stored(e.event_id) for e in a.events]) for a in appends
        ]
        for append, retry in zip(appends, retries, strict=True):
            if not retry:
                check_expected_version(
                    append.stream_id, append.expected_version, self._versions.get(append.stream_id)
                )
        # Nothing below awaits: the append is atomic under asyncio, as the in-memory store's.
        now = datetime.now(UTC)
        results = [
            self._retried(append) if retry else self._record(append, now)
            for append, retry in zip(appends, retries, strict=True)
        ]
        self._wake_subscribers()
        if len(self._pending) >= self.commit_every:
            await self.flush()
        return results

    def _stored(self, event_id: UUID) -> StoredId | None:
        pending = self._pending_ids.get(event_id)
        if pending is None:
            return None
        return StoredId(pending.stream_id, pending.version, pending.position)

    def _retried(self, append: StreamAppend) -> AppendResult:
        last = self._pending_ids[append.events[-1].event_id]
        return AppendResult(append.stream_id, last.version, last.position)

    def _record(self, append: StreamAppend, now: datetime) -> AppendResult:
        stream_id = append.stream_id
        version = self._versions.get(stream_id, -1)
        stream = self._kept.get(stream_id)
        if stream is None and stream_id not in self._in_store:
            stream = self._kept[stream_id] = []  # a new stream: whole from its first event
        position = self._written + len(self._pending)
        for event in append.events:
            version += 1
            position += 1
            recorded = RecordedEvent(
                stream_id,
                version,
                position,
                event.event_id,
                event.type,
                event.data,
                event.metadata,
                now,
            )
            self._pending.append(recorded)
            self._pending_ids[event.event_id] = recorded
            if stream is not None:
                stream.append(recorded)
        if stream is not None:
            self._kept_events += len(append.events)
            self._kept.move_to_end(stream_id)
        self._versions[stream_id] = version
        return AppendResult(stream_id, version, position)

    async def flush(self) -> None:
        """Write what is pending to the store in one transaction, as it was recorded."""
        async with self._flushing:
            pending = self._pending[:]
            if not pending:
                return
            await append_recorded(self.store, pending)
            self.commits += 1
            del self._pending[: len(pending)]
            for event in pending:
                del self._pending_ids[event.event_id]
                self._in_store.add(event.stream_id)
            self._written = pending[-1].position
            self._forget_beyond_limit()

    def _forget_beyond_limit(self) -> None:
        """Drop the least recently used streams that are all in the store, beyond the limit."""
        pending_streams = {event.stream_id for event in self._pending}
        for stream_id in list(self._kept):
            if self._kept_events <= self.keep_events:
                break
            if stream_id in pending_streams:
                continue
            self._kept_events -= len(self._kept.pop(stream_id))

    # -------------------------------------------------------------- reading

    async def _stream(self, stream_id: str) -> list[RecordedEvent]:
        """The stream's every event, from memory when kept (its whole history)."""
        kept = self._kept.get(stream_id)
        if kept is not None:
            self._kept.move_to_end(stream_id)
            return kept
        if stream_id not in self._in_store:
            return []  # not written this run, and the store started empty
        stored = await self.store.read_stream(stream_id)
        pending = [event for event in self._pending if event.stream_id == stream_id]
        # A flush may have committed and not yet let go of its events: each version once.
        after = stored[-1].version if stored else -1
        whole = [*stored, *(event for event in pending if event.version > after)]
        self._kept[stream_id] = whole
        self._kept_events += len(whole)
        return whole

    async def read_stream(
        self,
        stream_id: str,
        from_version: int | None = None,
        *,
        backwards: bool = False,
        limit: int | None = None,
    ) -> list[RecordedEvent]:
        if stream_id in self._passed_through:
            await self.flush()
            return await self.store.read_stream(
                stream_id, from_version, backwards=backwards, limit=limit
            )
        events = await self._stream(stream_id)
        if backwards:
            start = len(events) if from_version is None else from_version
            selected = [e for e in reversed(events) if e.version <= start]
        else:
            start = 0 if from_version is None else from_version
            selected = events[max(start, 0) :]  # versions run from 0 without a gap
        return selected if limit is None else selected[:limit]

    async def stream_version(self, stream_id: str) -> int | None:
        if stream_id in self._passed_through:
            return await self.store.stream_version(stream_id)
        return self._versions.get(stream_id)

    async def read_all(
        self,
        after_position: int = START,
        limit: int = 1000,
        *,
        categories: Collection[str] | None = None,
        event_types: Collection[str] | None = None,
    ) -> list[RecordedEvent]:
        selected: list[RecordedEvent] = []
        if after_position < self._written:
            selected = await self.store.read_all(
                after_position, limit, categories=categories, event_types=event_types
            )
            if len(selected) == limit:
                return selected
        first = max(after_position - self._written, 0)
        return selected + select_events(
            self._pending[first:],
            limit - len(selected),
            categories=categories,
            event_types=event_types,
        )

    async def head_position(self) -> int:
        return self._written + len(self._pending)

    # ------------------------------------------------- passed through to the store

    async def get_stream_metadata(self, stream_id: str) -> StreamMetadata:
        await self.flush()
        return await self.store.get_stream_metadata(stream_id)

    async def set_stream_metadata(self, stream_id: str, metadata: StreamMetadata) -> None:
        await self.flush()
        self._pass_through(stream_id)
        await self.store.set_stream_metadata(stream_id, metadata)

    def allow_purging(self, categories: Iterable[str]) -> None:
        categories = tuple(categories)
        super().allow_purging(categories)
        self.store.allow_purging(categories)

    async def _purge(self, stream_id: str, expected_version: ExpectedVersion) -> bool:
        await self.flush()
        self._pass_through(stream_id)
        return await self.store.purge_stream(stream_id, expected_version)

    def _pass_through(self, stream_id: str) -> None:
        self._passed_through.add(stream_id)
        self._versions.pop(stream_id, None)
        kept = self._kept.pop(stream_id, None)
        self._kept_events -= len(kept or ())

    async def close(self) -> None:
        """Flush, then close the store."""
        await self.flush()
        await self.store.close()


@contextlib.asynccontextmanager
async def unit_of_work(opening: Awaitable[EventStore]) -> AsyncIterator[EventStore]:
    """A unit of work over the SQLite store `opening` opens, flushed and closed on the way out.
    Another kind of store (PostgreSQL, whose positions may leave gaps) is used as it is: each
    command commits on its own, as before (docs/adr/0069)."""
    store = await opening
    if not isinstance(store, SqliteEventStore):
        try:
            yield store
        finally:
            await store.close()
        return
    try:
        work = await UnitOfWorkStore.over(store)
    except BaseException:
        await store.close()
        raise
    try:
        yield work
    finally:
        await work.close()
