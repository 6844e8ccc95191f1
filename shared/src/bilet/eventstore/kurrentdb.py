"""KurrentDB event store: for operators who run KurrentDB (formerly EventStoreDB) rather than
PostgreSQL. It speaks gRPC through the official asyncio client, `kurrentdbclient`.
See docs/adr/0005-kurrentdb-adapter.md for why, and for every limit listed below.

How the port maps onto KurrentDB:

- Streams. A store opened with a `namespace` keeps stream `participant-1` as
  `{namespace}_participant-1`; the default namespace "" keeps names as given. The prefix ends in
  `_`, not `-`, because KurrentDB (its `$by_category` projection, `$ce-` streams) takes the part
  before the first dash as the category: `{namespace}_participant` stays one category per
  namespace instead of all of them collapsing into `{namespace}`. Our own `category_of` reads the
  unprefixed id, so categories stay `participant`. A namespace is letters, digits and `_`; a stream
  id may not start with `$` (KurrentDB's system streams). The namespace "" sees every non-system
  stream of the database, other namespaces' streams included: give each store its namespace or
  its own database.
- Versions are KurrentDB stream revisions. Expectations: ANY -> `StreamState.ANY`, NO_STREAM ->
  `StreamState.NO_STREAM`, STREAM_EXISTS -> `StreamState.EXISTS`, an exact int -> that revision.
- Positions are the commit positions of events in the transaction log (`$all`). For every append
  made through gRPC (implicitly committed prepares) each event has its own commit position, equal
  to its prepare position, and positions grow in the order events become visible. They are large
  and sparse (byte offsets), and a position that is not exactly an event's cannot be read from.
- `read_all` reads `$all` forwards from `after_position` with a server-side regex filter on the
  stored stream name (`^{namespace}_(?:cat1|cat2)(?:-.*)?$`, or `^[^$].*$` for the whole
  database), skips the event at exactly `after_position` (KurrentDB includes it), and filters
  event types and system events (`$`-prefixed streams or types) on the client. With no namespace
  and no categories, the event-type filter runs on the server instead.
- `subscribe_all` is a KurrentDB catch-up subscription (`subscribe_to_all` from the commit
  position) with the same filters: it is live, with no polling. It resubscribes from the last
  position it saw when the server drops a slow consumer or the connection.
- Idempotent retries: KurrentDB itself recognises a re-append of stored event ids to the same
  stream and answers with the original commit position; the adapter reads the versions back. When
  KurrentDB refuses an append with a wrong expected version (which is also how it answers a batch
  that partly reuses stored ids), the adapter looks for the batch's ids in the stream: all of them
  at consecutive versions is an identical retry (the original result is returned), some of them
  is `EventIdsConflict`, none is `WrongExpectedVersion` with the actual version.
- `append_many` to several streams uses KurrentDB's multi-stream append (`multi_append_to_stream`,
  KurrentDB 25.1 and later), which commits all streams or none. An older server cannot commit
  several streams atomically: the adapter refuses with `EventStoreError` rather than write part of
  it. The identity service's uniqueness reservations therefore need KurrentDB >= 25.1. A
  multi-stream append only carries metadata as string properties, so the adapter wraps each
  event's metadata document into one property (`bilet-metadata`) and unwraps it on every read.
- `read_stream` reads the stream (absent, soft-deleted or tombstoned: empty); `stream_version` is
  the revision of its last readable event. Stream metadata: `truncate_before` is `$tb`; `deleted`
  is a KurrentDB soft delete (`delete_stream`, which sets `$tb` to the maximum), so the stream
  reads as absent, an append brings it back and versions continue. `$all` keeps a deleted
  stream's events until an operator scavenges.
- Events are written as `application/json` with their id, type, data and metadata bytes as given.
  `recorded_at` is KurrentDB's own timestamp (the time of reading if a server sends none).

Known differences from the other adapters (the ADR has the detail): reusing an event id in
*another* stream is not detected (KurrentDB scopes event ids to a stream); retries with ANY or
STREAM_EXISTS are recognised only while the server's in-memory cache of recent event ids holds
them; an exact expected version equal to a soft-deleted stream's last version is accepted (the
stream comes back); and after a scavenge `$all` no longer has truncated or deleted events.
"""

import asyncio
import contextlib
import json
import re
import sys
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from uuid import UUID

from kurrentdbclient import AsyncKurrentDBClient
from kurrentdbclient import NewEvent as KurrentNewEvent
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

from bilet.eventstore.errors import (
    EventIdsConflict,
    EventStoreError,
    StreamDeleted,
    WrongExpectedVersion,
)
from bilet.eventstore.model import (
    START,
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
from bilet.eventstore.rules import StoredId, check_append, is_identical_retry

# KurrentDB marks a soft-deleted stream with `$tb` = long.MaxValue (EventNumber.DeletedStream).
DELETED_TRUNCATE_BEFORE: Final = 2**63 - 1
TRUNCATE_BEFORE_KEY: Final = "$tb"
# The one property a multi-stream append carries our metadata document in.
MULTI_APPEND_METADATA_KEY: Final = "bilet-metadata"
CONTENT_TYPE: Final = "application/json"

# Reading a stream back to find a batch's event ids: page size, and how far back to look.
SCAN_PAGE: Final = 512
SCAN_LIMIT: Final = 100_000
HEAD_PAGE: Final = 100
# After re-creating a soft-deleted stream, how long to wait for KurrentDB to lift the deletion.
SETTLE_ATTEMPTS: Final = 20
SETTLE_INTERVAL: Final = 0.05

_NAMESPACE: Final = re.compile(r"^[A-Za-z0-9_]{1,64}$")

_STREAM_STATES: Final = {
    StreamState.ANY: KurrentStreamState.ANY,
    StreamState.NO_STREAM: KurrentStreamState.NO_STREAM,
    StreamState.STREAM_EXISTS: KurrentStreamState.EXISTS,
}


# ------------------------------------------------------------------ pure mapping


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


# ------------------------------------------------------------------ the adapter


class KurrentDbEventStore(EventStore):
    def __init__(self, client: AsyncKurrentDBClient, names: StreamNames) -> None:
        super().__init__()
        self._client = client
        self._names = names

    @classmethod
    async def open(cls, url: str, *, namespace: str = "") -> "KurrentDbEventStore":
        """Connect to `url`, a KurrentDB connection string (`kurrentdb://host:2113?tls=false`,
        or with `tlsCaFile=...`; `kurrentdb+discover://` for a cluster)."""
        names = StreamNames(namespace)
        client = AsyncKurrentDBClient(uri=url)
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
                    raise self._refusal(
                        [appends[i] for i in pending], [stored[i][1] for i in pending], error
                    ) from None
                for i in retried:
                    results[i] = _result_of_retry(appends[i], stored[i][0])
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
            return _result_of_retry(append, stored)
        raise self._refusal([append], [exists], error) from None

    def _refusal(
        self,
        appends: Sequence[StreamAppend],
        exists: Sequence[bool],
        error: WrongCurrentVersionError,
    ) -> EventStoreError:
        """The port's error for a refusal that is not a retry."""
        refused = appends[0]
        stream_exists = exists[0]
        for append, found in zip(appends, exists, strict=True):
            if error.stream_name is not None and (
                self._names.stored(append.stream_id) == error.stream_name
            ):
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


def _result_of_retry(append: StreamAppend, stored: Sequence[StoredId | None]) -> AppendResult:
    last = stored[-1]
    assert last is not None
    return AppendResult(append.stream_id, last.version, last.position)
