"""Who read whose personal data: the audit trail of several services, asked by account or by child.

152-FZ gives an operator 24 hours to report a breach, so "everything this account read since
yesterday" must answer in seconds on a season's trail. The trail keeps one stream per day
(`audit-YYYY-MM-DD`, see `bilet.audit`), so a query reads only the days its time range covers,
whatever the trail's length, and never scans the whole `audit` category.
"""

import asyncio
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final

from bilet.audit import AUDIT_CATEGORY, AUDIT_EVENT_TYPE, AUDIT_JSON, Access, AuditRecord
from bilet.eventstore import EventStore, RecordedEvent

# Events per read of a day stream: a busy day holds hundreds of thousands of records.
PAGE_SIZE: Final = 5000


@dataclass(frozen=True)
class AuditQuery:
    """Which records: by `actor` (an account id) and/or `subject` (a participant id), recorded at
    `since` or later and before `until` (None: up to now and whatever a fast clock stamped
    ahead), of the given kinds of access (reads unless told otherwise)."""

    since: datetime
    until: datetime | None = None
    actor: str | None = None
    subject: str | None = None
    accesses: frozenset[Access] = frozenset({Access.READ})

    def __post_init__(self) -> None:
        for name, moment in (("since", self.since), ("until", self.until)):
            if moment is not None and moment.tzinfo is None:
                raise ValueError(f"{name} must carry a time zone")
        if self.until is not None and self.until <= self.since:
            raise ValueError("until must be after since")

    def matches(self, record: AuditRecord) -> bool:
        return (
            record.access in self.accesses
            and (self.actor is None or record.actor == self.actor)
            and (self.subject is None or record.subject == self.subject)
            and record.at >= self.since
            and (self.until is None or record.at < self.until)
        )

    def needle(self) -> bytes | None:
        """Bytes every matching event's JSON contains (the actor's or subject's id, quoted as the
        trail writes it): events without them are skipped undecoded, which is most of a day."""
        wanted = self.actor if self.actor is not None else self.subject
        return None if wanted is None else AUDIT_JSON(wanted).encode()

    def days(self, now: datetime) -> list[date]:
        """The UTC days whose streams can hold a matching record. Without `until`, the day after
        `now` too: a record stamped by a clock a little ahead is still found."""
        first = self.since.astimezone(UTC).date()
        if self.until is not None:
            last = (self.until - timedelta(microseconds=1)).astimezone(UTC).date()
        else:
            last = now.astimezone(UTC).date() + timedelta(days=1)
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]


@dataclass(frozen=True)
class AuditEntry:
    """A record of the trail and the service whose store holds it."""

    service: str
    record: AuditRecord


def day_stream(day: date) -> str:
    return f"{AUDIT_CATEGORY}-{day.isoformat()}"


def record_of(event: RecordedEvent) -> AuditRecord:
    """An audit event as `bilet.audit` wrote it, back as a record."""
    body = json.loads(event.data)
    return AuditRecord(
        actor=body["actor"],
        actor_role=body["actor_role"],
        access=Access(body["access"]),
        subject=body["subject"],
        purpose=body["purpose"],
        fields=tuple(body["fields"]),
        correlation_id=body["correlation_id"],
        at=datetime.fromisoformat(body["at"]),
    )


def select(
    service: str, events: Iterable[RecordedEvent], query: AuditQuery
) -> Iterator[AuditEntry]:
    """The audit records among `events` that the query asks for."""
    needle = query.needle()
    for event in events:
        if event.type != AUDIT_EVENT_TYPE or (needle is not None and needle not in event.data):
            continue
        record = record_of(event)
        if query.matches(record):
            yield AuditEntry(service, record)


async def who_read(
    stores: Mapping[str, EventStore], query: AuditQuery, *, now: datetime | None = None
) -> list[AuditEntry]:
    """Every matching record in the trails of `stores` (by service name), oldest first."""
    now = now or datetime.now(UTC)
    days = query.days(now)
    found = await asyncio.gather(
        *(_matching(service, store, days, query) for service, store in stores.items())
    )
    entries = [entry for service_entries in found for entry in service_entries]
    # Group commit may append a batch slightly out of time order, and services interleave.
    entries.sort(key=lambda entry: (entry.record.at, entry.service))
    return entries


async def _matching(
    service: str, store: EventStore, days: list[date], query: AuditQuery
) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    for day in days:
        stream = day_stream(day)
        version = 0
        while True:
            page = await store.read_stream(stream, version, limit=PAGE_SIZE)
            entries.extend(select(service, page, query))
            if len(page) < PAGE_SIZE:
                break
            version = page[-1].version + 1
    return entries
