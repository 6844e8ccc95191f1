"""The KurrentDB event store itself: appends (one stream, or several at once, with retries
recognised), stream metadata and deletes, reads and the catch-up subscription, over the client's
`AsyncKurrentDBClient`. How each maps onto KurrentDB: `bilet.eventstore.kurrentdb`'s docstring.
"""

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Collection, Sequence
from typing import Final
from uuid import UUID

from kurrentdbclient import AsyncKurrentDBClient
from kurrentdbclient import NewEvents as KurrentNewEvents
from kurrentdbclient import RecordedEvent as KurrentRecordedEvent
from kurrentdbclient import StreamState as KurrentStreamState
from kurrentdbclient.exceptions import (
    ConsumerTooSlowError,
    InvalidCommitPositionError,
    NotFoundError,
    ServiceUnavailableError,
    StreamIsDeletedError,
    StreamTombstonedError,
    WrongCurrentVersionError,
)

from bilet.eventstore.errors import EventStoreError, PurgeRefused, StreamDeleted
from bilet.eventstore.kurrentdb.mapping import (
    Selection,
    ServerFilter,
    StreamNames,
    is_known_position,
    is_unimplemented,
    kurrent_metadata,
    metadata_from_kurrent,
    recorded_from,
    refusal_error,
    result_of_retry,
    to_current_version,
    to_new_event,
)
from bilet.eventstore.model import (
    START,
    AppendResult,
    ExpectedVersion,
    RecordedEvent,
    StreamAppend,
    StreamMetadata,
    StreamState,
)
from bilet.eventstore.port import EventStore
from bilet.eventstore.rules import StoredId, check_append, is_identical_retry

# Reading a stream back to find a batch's event ids: page size, and how far back to look.
SCAN_PAGE: Final = 512
SCAN_LIMIT: Final = 100_000
HEAD_PAGE: Final = 100
# After re-creating a soft-deleted stream, how long to wait for KurrentDB to lift the deletion.
SETTLE_ATTEMPTS: Final = 20
SETTLE_INTERVAL: Final = 0.05


class KurrentDbEventStore(EventStore):
    def __init__(self, client: AsyncKurrentDBClient, names: StreamNames) -> None:
        super().__init__()
        self._client = client
        self._names = names

    @classmethod
    async def open(
        cls, url: str, *, namespace: str = "", root_certificates: bytes | None = None
    ) -> "KurrentDbEventStore":
        """Connect to `url`, a KurrentDB connection string (`kurrentdb://host:2113?tls=false`,
        or with `tlsCaFile=...`; `kurrentdb+discover://` for a cluster). `root_certificates`:
        the CA bundle (PEM) the server's certificate is checked against, if not the system's."""
        names = StreamNames(namespace)
        client = AsyncKurrentDBClient(uri=url, root_certificates=root_certificates)
        await client.connect()
        return cls(client, names)

    @property
    def namespace(self) -> str:
        return self._names.namespace

    # -------------------------------------------------------------- writing

    async def append_many(self, appends: Sequence[StreamAppend]) -> list[AppendResult]:
        check_append(appends)
        for append in appends:
            to_current_version(append.expected_version)  # refuse a negative version up front
        if len(appends) == 1:
            return [await self._append_one(appends[0])]
        return await self._append_atomically(appends)

    async def _append_one(self, append: StreamAppend) -> AppendResult:
        name = self._names.stored(append.stream_id)
        try:
            position = await self._client.append_to_stream(
                name,
                events=[to_new_event(e) for e in append.events],
                current_version=to_current_version(append.expected_version),
            )
        except WrongCurrentVersionError as error:
            return await self._after_refusal(append, error)
        except (StreamIsDeletedError, StreamTombstonedError) as error:
            raise StreamDeleted(f"stream {append.stream_id!r} is tombstoned") from error
        expected = append.expected_version
        if isinstance(expected, int) and is_known_position(position):
            # Written at expected+1.., or recognised as a retry of exactly those versions.
            return AppendResult(append.stream_id, expected + len(append.events), position)
        result = await self._locate(append, position)
        if expected is StreamState.NO_STREAM and result.version >= len(append.events):
            # NO_STREAM landing past version 0 re-created a soft-deleted stream.
            await self._settle_recreated(name)
        return result

    async def _append_atomically(self, appends: Sequence[StreamAppend]) -> list[AppendResult]:
        names = [self._names.stored(a.stream_id) for a in appends]
        if len(set(names)) != len(names):
            raise EventStoreError(
                "an append to several streams names one stream twice; "
                "KurrentDB's multi-stream append refuses that"
            )
        pending = list(range(len(appends)))
        results: dict[int, AppendResult] = {}
        while len(pending) > 1:
            batch = [
                KurrentNewEvents(
                    stream_name=names[i],
                    events=[to_new_event(e, multi_append=True) for e in appends[i].events],
                    current_version=to_current_version(appends[i].expected_version),
                )
                for i in pending
            ]
            try:
                await self._client.multi_append_to_stream(batch)
            except WrongCurrentVersionError as error:
                # A real conflict, or (part of) an earlier commit being retried: sort them out.
                stored = {i: await self._stored_ids(appends[i]) for i in pending}
                retried = [i for i in pending if is_identical_retry(appends[i], stored[i][0])]
                if not retried:
                    raise refusal_error(
                        self._names,
                        [appends[i] for i in pending],
                        [stored[i][1] for i in pending],
                        error,
                    ) from None
                for i in retried:
                    results[i] = result_of_retry(appends[i], stored[i][0])
                pending = [i for i in pending if i not in retried]
                continue
            except (StreamIsDeletedError, StreamTombstonedError) as error:
                raise StreamDeleted(f"a stream of this append is tombstoned: {error}") from error
            except Exception as error:
                if is_unimplemented(error):
                    raise EventStoreError(
                        "this KurrentDB server has no multi-stream append (it came in 25.1): "
                        "an append to several streams cannot be committed atomically"
                    ) from error
                raise
            for i in pending:
                results[i] = await self._locate(appends[i], 0)
            pending = []
        for i in pending:  # one stream left after the retries were taken out
            results[i] = await self._append_one(appends[i])
        return [results[i] for i in range(len(appends))]

    async def _after_refusal(
        self, append: StreamAppend, error: WrongCurrentVersionError
    ) -> AppendResult:
        stored, exists = await self._stored_ids(append)
        if is_identical_retry(append, stored):  # raises EventIdsConflict for a partial reuse
            return result_of_retry(append, stored)
        raise refusal_error(self._names, [append], [exists], error) from None

    async def _stored_ids(self, append: StreamAppend) -> tuple[list[StoredId | None], bool]:
        """Where this stream stores the batch's event ids, and whether the stream reads at all
        (absent or soft-deleted streams do not). Reads the stream backwards from its end."""
        name = self._names.stored(append.stream_id)
        wanted = {e.event_id for e in append.events}
        found: dict[UUID, StoredId] = {}
        start: int | None = None
        scanned = 0
        try:
            while True:
                page = await self._client.get_stream(
                    name, stream_position=start, backwards=True, limit=SCAN_PAGE
                )
                for event in page:
                    if event.id in wanted:
                        found[event.id] = StoredId(
                            append.stream_id, event.stream_position, event.commit_position
                        )
                scanned += len(page)
                if len(found) == len(wanted) or len(page) < SCAN_PAGE or scanned >= SCAN_LIMIT:
                    break
                start = page[-1].stream_position - 1
                if start < 0:
                    break
        except (NotFoundError, StreamIsDeletedError):
            return [None] * len(append.events), False
        return [found.get(e.event_id) for e in append.events], True

    async def _locate(self, append: StreamAppend, position: int) -> AppendResult:
        """The version and position of an appended batch's last event."""
        last_id = append.events[-1].event_id
        name = self._names.stored(append.stream_id)
        if is_known_position(position):
            # The event at a commit position is the first one a forward read from it returns.
            with contextlib.suppress(InvalidCommitPositionError, NotFoundError):
                async with await self._client.read_all(
                    commit_position=position, limit=1
                ) as response:
                    async for event in response:
                        if event.id == last_id and event.stream_name == name:
                            return AppendResult(
                                append.stream_id, event.stream_position, event.commit_position
                            )
        stored, _ = await self._stored_ids(append)
        last = stored[-1]
        if last is None:
            raise EventStoreError(
                f"stream {append.stream_id!r}: KurrentDB accepted the append but its last event "
                "cannot be read back (a lagging follower?); retrying the append is safe"
            )
        return AppendResult(append.stream_id, last.version, last.position)

    async def _settle_recreated(self, name: str) -> None:
        # KurrentDB lifts a soft delete with a metadata write of its own, right after the append
        # (KurrentDB issue #1744): wait briefly for it, so the caller reads its own write.
        for _ in range(SETTLE_ATTEMPTS):
            raw, _ = await self._client.get_stream_metadata(name)
            if not metadata_from_kurrent(raw).deleted:
                return
            await asyncio.sleep(SETTLE_INTERVAL)

    async def set_stream_metadata(self, stream_id: str, metadata: StreamMetadata) -> None:
        name = self._names.stored(stream_id)
        if metadata.deleted:
            # A soft delete hides every version; when the stream comes back KurrentDB sets
            # `$tb` to its first new version itself, so `truncate_before` has nothing to add.
            await self._soft_delete(name)
            return
        raw, _ = await self._client.get_stream_metadata(name)
        document = kurrent_metadata(raw, metadata.truncate_before)
        if document is not None:
            await self._client.set_stream_metadata(
                name, metadata=document, current_version=KurrentStreamState.ANY
            )

    async def delete_stream(self, stream_id: str) -> None:
        await self._soft_delete(self._names.stored(stream_id))

    async def _soft_delete(self, name: str) -> None:
        with contextlib.suppress(NotFoundError, StreamIsDeletedError):
            await self._client.delete_stream(name, current_version=KurrentStreamState.ANY)

    # -------------------------------------------------------------- reading

    async def _purge(self, stream_id: str, expected_version: ExpectedVersion) -> bool:
        # KurrentDB removes events only by a scavenge after a delete; a hard delete (tombstone)
        # also forbids the stream name for ever, and a purged reservation must be taken again.
        raise PurgeRefused(
            "KurrentDB cannot purge a stream (its events go only at a scavenge, and a tombstone "
            "forbids the stream name for ever): run such a service on SQLite or PostgreSQL"
        )

    async def get_stream_metadata(self, stream_id: str) -> StreamMetadata:
        try:
            raw, _ = await self._client.get_stream_metadata(self._names.stored(stream_id))
        except StreamIsDeletedError:  # tombstoned by an operator
            return StreamMetadata(deleted=True)
        return metadata_from_kurrent(raw)

    async def stream_version(self, stream_id: str) -> int | None:
        try:
            events = await self._client.get_stream(
                self._names.stored(stream_id), backwards=True, limit=1
            )
        except (NotFoundError, StreamIsDeletedError):
            return None
        return events[0].stream_position if events else None

    async def read_stream(
        self,
        stream_id: str,
        from_version: int | None = None,
        *,
        backwards: bool = False,
        limit: int | None = None,
    ) -> list[RecordedEvent]:
        if limit is not None and limit <= 0:
            return []
        if from_version is None and not backwards:
            from_version = 0
        try:
            events = await self._client.get_stream(
                self._names.stored(stream_id),
                stream_position=from_version,
                backwards=backwards,
                limit=sys.maxsize if limit is None else limit,
            )
        except (NotFoundError, StreamIsDeletedError):
            return []
        return [recorded_from(stream_id, e) for e in events]

    async def read_all(
        self,
        after_position: int = START,
        limit: int = 1000,
        *,
        categories: Collection[str] | None = None,
        event_types: Collection[str] | None = None,
    ) -> list[RecordedEvent]:
        selection = Selection.of(self._names, categories, event_types)
        if limit <= 0 or selection.is_empty:
            return []
        server = selection.server_filter
        skip_through = after_position
        cursor = after_position if after_position > START else None
        selected: list[RecordedEvent] = []
        while True:
            # One more than needed: a forward read from a position includes the event there.
            chunk = limit - len(selected) + 1
            raw = await self._read_all_chunk(cursor, chunk, server)
            for event in raw:
                if event.commit_position <= skip_through:
                    continue
                recorded = selection.convert(event)
                if recorded is not None:
                    selected.append(recorded)
                    if len(selected) >= limit:
                        return selected
            if len(raw) < chunk:
                return selected
            cursor = skip_through = raw[-1].commit_position

    async def _read_all_chunk(
        self, cursor: int | None, limit: int, server: ServerFilter, *, backwards: bool = False
    ) -> list[KurrentRecordedEvent]:
        try:
            async with await self._client.read_all(
                commit_position=cursor,
                backwards=backwards,
                filter_include=(server.pattern,),
                filter_by_stream_name=server.by_stream_name,
                limit=limit,
            ) as response:
                return [event async for event in response]
        except InvalidCommitPositionError as error:
            raise EventStoreError(
                f"position {cursor} is not an event's commit position in this KurrentDB "
                "database (from another database, or scavenged)"
            ) from error

    async def head_position(self) -> int:
        selection = Selection.of(self._names)
        server = selection.server_filter
        cursor: int | None = None
        while True:
            raw = await self._read_all_chunk(cursor, HEAD_PAGE, server, backwards=True)
            for event in raw:
                if selection.convert(event) is not None:
                    return event.commit_position
            if len(raw) < HEAD_PAGE:
                return START
            # Reading backwards from a position leaves out the event there.
            cursor = raw[-1].commit_position

    async def subscribe_all(
        self,
        after_position: int = START,
        *,
        categories: Collection[str] | None = None,
        event_types: Collection[str] | None = None,
        batch_size: int = 1000,
    ) -> AsyncIterator[RecordedEvent]:
        selection = Selection.of(self._names, categories, event_types)
        if selection.is_empty:
            await asyncio.Event().wait()  # nothing can ever match: stay live, deliver nothing
        server = selection.server_filter
        position = after_position
        while True:
            subscription = await self._client.subscribe_to_all(
                commit_position=position if position > START else None,
                filter_include=(server.pattern,),
                filter_by_stream_name=server.by_stream_name,
            )
            try:
                async for event in subscription:
                    if event.commit_position <= position:
                        continue
                    position = event.commit_position
                    recorded = selection.convert(event)
                    if recorded is not None:
                        yield recorded
            except (ConsumerTooSlowError, ServiceUnavailableError):
                await asyncio.sleep(self.poll_interval)  # then resubscribe from `position`
            finally:
                await subscription.stop()

    async def close(self) -> None:
        await self._client.close()
