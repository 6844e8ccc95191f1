"""The event store port: one asyncio interface that every adapter implements and the contract suite
in `shared/tests/eventstore/` checks, so services never know which store they run on."""

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Collection, Hashable, Iterable, Sequence
from typing import Final

from bilet.eventstore.errors import PurgeRefused
from bilet.eventstore.model import (
    ANY,
    START,
    AppendResult,
    ExpectedVersion,
    NewEvent,
    RecordedEvent,
    StreamAppend,
    StreamMetadata,
    category_of,
)

# A subscriber whose next events are committed but held behind a read horizon looks again after
# this long, doubling up to the poll interval.
HELD_BACK_FIRST_WAIT: Final = 0.01
# The pages `EventStore.last_position` reads when a store cannot answer it in one query.
LAST_POSITION_PAGE: Final = 2000


class EventStore(ABC):
    """Append with an expectation, read a stream, read and subscribe to everything in global order.

    Guarantees every adapter keeps (and the contract suite proves):
    - an append commits all its events, to one or several streams, or none of them;
    - re-appending events whose ids are stored, as the same batch to the same stream, succeeds
      without writing and returns the original result (enforced by the database, not a cache);
    - `read_all` and `subscribe_all` deliver events in one global order that never changes once an
      event is visible: no event is skipped and none is delivered twice, whatever writers do.
    """

    # How long a live subscription sleeps between looks when no wake-up arrives: the fallback that
    # catches appends made by other processes, or lost notifications.
    poll_interval: float = 0.5
    # Whether the store commits one writer at a time anyway (SQLite): one more stream in a
    # command's commit (its audit record's day stream, `bilet.audit.audit_appends`) then costs
    # no concurrency. On PostgreSQL every command would update the same day's stream row and
    # serialise on it, so its audit records keep a group commit of their own (docs/adr/0075).
    one_writer_at_a_time: bool = False

    def __init__(self) -> None:
        self._wakeup = asyncio.Event()
        # The categories `purge_stream` may remove streams of: none until the service says so.
        self.purgeable_categories: frozenset[str] = frozenset()

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion = ANY,
    ) -> AppendResult:
        """Append to one stream; see `append_many`."""
        (result,) = await self.append_many([StreamAppend(stream_id, events, expected_version)])
        return result

    @abstractmethod
    async def append_many(self, appends: Sequence[StreamAppend]) -> list[AppendResult]:
        """Append to several streams in one commit: all of it or nothing.

        Raises `WrongExpectedVersion` (nothing written) when a stream is not as expected, and
        `EventIdsConflict` when event ids are reused other than by an identical retry.
        """

    @abstractmethod
    async def read_stream(
        self,
        stream_id: str,
        from_version: int | None = None,
        *,
        backwards: bool = False,
        limit: int | None = None,
    ) -> list[RecordedEvent]:
        """A stream's events from `from_version` (default: its start, or its end when backwards).

        An absent or deleted stream reads as an empty list; `truncate_before` hides older events.
        """

    @abstractmethod
    async def stream_version(self, stream_id: str) -> int | None:
        """The version of the stream's last event, None when it has none (or is deleted)."""

    async def change_marks(self) -> Callable[[str], Hashable] | None:
        """A cheap way to tell that a category was not written: a function of a category whose
        value equals one an earlier call's gave for it only if no stream of the category was
        written in between, by anyone (docs/adr/0081). None, the default: this store cannot
        tell, and a kept fold looks at its stream's version every time."""
        return None

    @abstractmethod
    async def read_all(
        self,
        after_position: int = START,
        limit: int = 1000,
        *,
        categories: Collection[str] | None = None,
        event_types: Collection[str] | None = None,
    ) -> list[RecordedEvent]:
        """Events after a position in global order, optionally only some categories or types."""

    @abstractmethod
    async def head_position(self) -> int:
        """The position of the last event that readers can see (START when there is none)."""

    async def last_position(
        self, event_types: Collection[str], after_position: int, up_to: int
    ) -> int | None:
        """The position of the last event of `event_types` after `after_position` and at most
        `up_to` that `read_all` gives, None when there is none: where a catch-up filtered to
        those types must reach (its checkpoint only ever reaches events it was given). Here by
        reading them all; a store that can answer it in one query does (ADR 0114: the
        rebuild read its whole history twice)."""
        last = None
        position = after_position
        while batch := await self.read_all(position, LAST_POSITION_PAGE, event_types=event_types):
            position = batch[-1].position
            within = [event.position for event in batch if event.position <= up_to]
            if within:
                last = max(within)
            if position >= up_to:
                break
        return last

    @abstractmethod
    async def get_stream_metadata(self, stream_id: str) -> StreamMetadata: ...

    @abstractmethod
    async def set_stream_metadata(self, stream_id: str, metadata: StreamMetadata) -> None: ...

    async def delete_stream(self, stream_id: str) -> None:
        """Soft delete: the stream reads as absent; appending again continues its versions."""
        version = await self.stream_version(stream_id)
        truncate_before = 0 if version is None else version + 1
        await self.set_stream_metadata(
            stream_id, StreamMetadata(truncate_before=truncate_before, deleted=True)
        )

    def allow_purging(self, categories: Iterable[str]) -> None:
        """Let `purge_stream` remove streams of these categories. Only a service's internal
        categories, never relayed, belong here: a published stream's records stay on its topic
        and in read models, and a store that lost them could not be replayed against them."""
        self.purgeable_categories = self.purgeable_categories | frozenset(categories)

    async def purge_stream(
        self,
        stream_id: str,
        expected_version: ExpectedVersion = ANY,
        *,
        then: Callable[[], object] | None = None,
    ) -> bool:
        """Remove a stream and every event of it from storage: unlike `delete_stream`, nothing
        is kept (no metadata, no versions: appending again starts a new stream at version 0) and
        the bytes are gone as far as the adapter's storage allows (docs/adr/0016). Positions are
        never given out again. True when there was something to remove.

        `expected_version` is checked in the purge's own transaction, as an append's: a caller
        that decided to purge on what it read (a released reservation) never removes an event
        appended since (another child's claim). Raises `WrongExpectedVersion` then, nothing
        removed; `PurgeRefused` for a category not allowed by `allow_purging`, or when the
        adapter cannot remove events.

        `then` runs as soon as the purge has committed (whether or not it removed anything),
        before the adapter awaits anything more of it (SQLite empties its WAL, which may wait
        for readers): a caller's in-memory views forget what the store forgot in the same step
        of the event loop, so no request sees one without the other."""
        category = category_of(stream_id)
        if category not in self.purgeable_categories:
            raise PurgeRefused(
                f"streams of category {category!r} may not be purged from this store "
                f"(allowed: {sorted(self.purgeable_categories)})"
            )
        removed = await self._purge(stream_id, expected_version)
        try:
            if then is not None:
                then()
        finally:
            if removed:
                await self._after_purge()
        return removed

    async def _purge(self, stream_id: str, expected_version: ExpectedVersion) -> bool:
        """Remove the stream's rows; adapters that can really forget override this."""
        raise PurgeRefused(f"{type(self).__name__} cannot purge streams")

    async def _after_purge(self) -> None:  # noqa: B027 (a hook: most adapters need nothing)
        """What the storage still needs to forget after a purge removed something, once the
        caller was told (`then`): nothing by default."""

    async def subscribe_all(
        self,
        after_position: int = START,
        *,
        categories: Collection[str] | None = None,
        event_types: Collection[str] | None = None,
        batch_size: int = 1000,
    ) -> AsyncIterator[RecordedEvent]:
        """Catch up from `after_position`, then stay live: every later event, once, in order."""
        await self._prepare_wakeups()
        position = after_position
        held_back_wait = HELD_BACK_FIRST_WAIT
        while True:
            # Taken before reading, so an append that lands between the read and the wait is
            # not slept through: its wake-up sets this very token.
            wakeup = self._wakeup
            batch = await self.read_all(
                position, batch_size, categories=categories, event_types=event_types
            )
            for event in batch:
                yield event
                position = event.position
            if len(batch) < batch_size:
                if await self._held_back(position):
                    # Committed events wait behind a read horizon that moves without any
                    # wake-up (another transaction ended): look again soon, backing off.
                    await self._wait_for_wakeup(wakeup, held_back_wait)
                    held_back_wait = min(held_back_wait * 2, self.poll_interval)
                else:
                    held_back_wait = HELD_BACK_FIRST_WAIT
                    await self._wait_for_wakeup(wakeup, self.poll_interval)

    async def _held_back(self, position: int) -> bool:
        """Whether committed events after `position` exist that reads do not return yet (an
        adapter whose reads stop at a horizon says so). Most adapters have no horizon."""
        return False

    async def _prepare_wakeups(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Set up what wakes subscribers before their first read (a LISTEN), so no wake-up for an
        event they have not read yet can be missed. In-process wake-ups need nothing."""

    def _wake_subscribers(self) -> None:
        """Adapters call this when something new may be readable (an append, a notification)."""
        wakeup, self._wakeup = self._wakeup, asyncio.Event()
        wakeup.set()

    async def _wait_for_wakeup(self, wakeup: asyncio.Event, timeout: float) -> None:
        # The timeout is the poll that catches what no wake-up announces (another process's
        # appends to an SQLite file, a lost notification, a horizon that moved on its own).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wakeup.wait(), timeout)

    @abstractmethod
    async def close(self) -> None: ...

    async def __aenter__(self) -> "EventStore":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
