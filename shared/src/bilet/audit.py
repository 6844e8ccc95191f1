"""The audit trail: who read or wrote whose personal data, when and why.

152-FZ asks an operator of personal data to know every access to it. Each service that reads or
writes personal data records an `AuditRecord` per access through one port. Records name accounts and
participants by their opaque ids, never by name: the audit trail itself holds no personal data and
survives a participant's erasure. The event-store adapter keeps the trail in the service's own
store, one stream per day (`audit-YYYY-MM-DD`), so it is as durable and as replayable as the rest.
"""

import asyncio
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from bilet.eventstore import ANY, EventStore, NewEvent, StreamAppend

AUDIT_CATEGORY = "audit"
AUDIT_EVENT_TYPE = "PersonalDataAccessed"
# What `json.dumps(body, ensure_ascii=False)` writes, without the encoder `json.dumps` builds per
# call whenever it is given an argument (the same bytes: the readers search them, `audit_query`).
AUDIT_JSON = json.JSONEncoder(ensure_ascii=False).encode


class Access(StrEnum):
    READ = "read"
    WRITE = "write"
    ERASE = "erase"


@dataclass(frozen=True)
class AuditRecord:
    actor: str  # the account id from the token's `sub`
    actor_role: str
    access: Access
    subject: str  # the participant id whose data was touched
    purpose: str  # why: the operation, e.g. "register_participant", "portfolio_view"
    fields: tuple[str, ...] = ()  # which kinds of personal data, e.g. ("full_name", "snils")
    correlation_id: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


# Records as the trail's events, each with its stream (`audit_events`).
AuditEvents = list[tuple[str, NewEvent]]


class AuditLog(Protocol):
    async def record(self, *records: AuditRecord) -> None: ...


@dataclass(frozen=True)
class Audited:
    """The audit records of a command, to `Transactor.transact_many`: committed with the
    command's events where the store allows (`audit_appends`), else recorded right after them."""

    log: AuditLog
    records: tuple[AuditRecord, ...]


class EventStoreAuditLog:
    """The trail in the service's own store, written by group commit: records of concurrent
    requests go into one append while the previous one is in flight. A caller returns only when
    its records are durable (an error reaches every caller of the failed batch, and the append is
    all or nothing), so an answer that shows personal data is never sent unaudited — yet a busy
    read API pays one commit per batch, not one per request."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self._pending: list[tuple[AuditEvents, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, *records: AuditRecord) -> None:
        if not records:
            return
        # Encoded here: a record that cannot be fails its caller alone, not the batch.
        events = audit_events(records)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((events, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_batches())
        # Awaited bare, not shielded: a cancelled caller cancels only its own future, which the
        # writer then skips; the write goes on for the batch's other callers all the same.
        await done

    async def _write_batches(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                futures = [done for _, done in batch]
                try:
                    await self.store.append_many(appends_of(events for events, _ in batch))
                except asyncio.CancelledError:  # the loop is closing: none is told it is durable
                    # An error, not a cancellation: a caller that is not itself cancelled learns
                    # why it has no answer rather than seeing a cancellation it never asked for.
                    stopped = RuntimeError("the audit writer stopped")
                    settle(futures + [done for _, done in self._pending], stopped)
                    self._pending = []
                    raise
                except Exception as error:  # every caller of this batch learns it; the next go on
                    settle(futures, error)
                else:
                    settle(futures, None)
        finally:
            self._writer = None


def settle(futures: Iterable["asyncio.Future[None]"], error: BaseException | None) -> None:
    """Tell the callers of a batch its outcome: `error` (None: durable). A caller cancelled
    meanwhile is skipped; an error is marked as seen, since a caller cancelled after it was set
    never looks at it (asyncio would log it as never retrieved)."""
    for future in futures:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
            future.exception()  # seen; awaiting the future still raises it


def audit_appends(
    log: AuditLog, store: EventStore, records: Sequence[AuditRecord]
) -> list[StreamAppend]:
    """`records` as appends a command commits with its own events on `store` (one transaction:
    the record is durable exactly when what it records is), or none when they are recorded on
    their own: a trail kept elsewhere, or a store whose concurrent commits would serialise on the
    day's audit stream (PostgreSQL: `EventStore.one_writer_at_a_time`, docs/adr/0075)."""
    if not records or not isinstance(log, EventStoreAuditLog) or log.store is not store:
        return []
    if not store.one_writer_at_a_time:
        return []
    return appends_of([audit_events(records)])


def audit_events(records: Iterable[AuditRecord]) -> AuditEvents:
    """`records` as the events of the trail, each with its day's stream."""
    return [(_stream_of(audit), _event_of(audit)) for audit in records]


def appends_of(batch: Iterable[AuditEvents]) -> list[StreamAppend]:
    """The events of several callers as one append: each to its stream, in their order, at any
    version."""
    by_stream: dict[str, list[NewEvent]] = {}
    for events in batch:
        for stream, event in events:
            by_stream.setdefault(stream, []).append(event)
    return [StreamAppend(stream, events, ANY) for stream, events in by_stream.items()]


def _stream_of(audit: AuditRecord) -> str:
    return f"{AUDIT_CATEGORY}-{audit.at.astimezone(UTC).date().isoformat()}"


def _event_of(audit: AuditRecord) -> NewEvent:
    # Field by field, in the record's order: `dataclasses.asdict` deep-copies every value first,
    # which cost more than the rest of the audit append on every command.
    body = {
        "actor": audit.actor,
        "actor_role": audit.actor_role,
        "access": audit.access.value,
        "subject": audit.subject,
        "purpose": audit.purpose,
        "fields": list(audit.fields),
        "correlation_id": audit.correlation_id,
        "at": audit.at.isoformat(),
    }
    return NewEvent(AUDIT_EVENT_TYPE, AUDIT_JSON(body).encode())


class InMemoryAuditLog:
    """For unit tests of handlers: keeps what was recorded."""

    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    async def record(self, *records: AuditRecord) -> None:
        self.records.extend(records)
