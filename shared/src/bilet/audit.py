"""The audit trail: who read or wrote whose personal data, when and why.

152-FZ asks an operator of personal data to know every access to it. Each service that reads or
writes personal data records an `AuditRecord` per access through one port. Records name accounts and
participants by their opaque ids, never by name: the audit trail itself holds no personal data and
survives a participant's erasure. The event-store adapter keeps the trail in the service's own
store, one stream per day (`audit-YYYY-MM-DD`), so it is as durable and as replayable as the rest.
"""

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from bilet.eventstore import ANY, EventStore, NewEvent

AUDIT_CATEGORY = "audit"
AUDIT_EVENT_TYPE = "PersonalDataAccessed"


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


class AuditLog(Protocol):
    async def record(self, *records: AuditRecord) -> None: ...


class EventStoreAuditLog:
    def __init__(self, store: EventStore) -> None:
        self._store = store

    async def record(self, *records: AuditRecord) -> None:
        if not records:
            return
        by_day: dict[str, list[NewEvent]] = {}
        for audit in records:
            body = asdict(audit)
            body["at"] = audit.at.isoformat()
            body["fields"] = list(audit.fields)
            stream = f"{AUDIT_CATEGORY}-{audit.at.astimezone(UTC).date().isoformat()}"
            by_day.setdefault(stream, []).append(
                NewEvent(AUDIT_EVENT_TYPE, json.dumps(body, ensure_ascii=False).encode())
            )
        for stream, events in by_day.items():
            await self._store.append(stream, events, ANY)


class InMemoryAuditLog:
    """For unit tests of handlers: keeps what was recorded."""

    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    async def record(self, *records: AuditRecord) -> None:
        self.records.extend(records)
