"""The audit trail keeps who touched whose data and why, by id only, one stream a day."""

import json
from datetime import UTC, datetime

from bilet.audit import Access, AuditRecord, EventStoreAuditLog
from bilet.eventstore.memory import InMemoryEventStore


async def test_records_land_in_one_stream_per_day_with_ids_only() -> None:
    store = InMemoryEventStore()
    log = EventStoreAuditLog(store)
    first = AuditRecord(
        actor="account-7",
        actor_role="registrar",
        access=Access.WRITE,
        subject="participant-1",
        purpose="register_participant",
        fields=("full_name", "snils"),
        correlation_id="c-1",
        at=datetime(2019, 10, 11, 23, 59, tzinfo=UTC),
    )
    second = AuditRecord(
        actor="account-9",
        actor_role="navigator",
        access=Access.READ,
        subject="participant-1",
        purpose="portfolio_view",
        at=datetime(2019, 10, 12, 0, 1, tzinfo=UTC),
    )
    await log.record(first, second)
    day_one = await store.read_stream("audit-2019-10-11")
    day_two = await store.read_stream("audit-2019-10-12")
    assert [e.type for e in day_one + day_two] == ["PersonalDataAccessed"] * 2
    body = json.loads(day_one[0].data)
    assert body == {
        "actor": "account-7",
        "actor_role": "registrar",
        "access": "write",
        "subject": "participant-1",
        "purpose": "register_participant",
        "fields": ["full_name", "snils"],
        "correlation_id": "c-1",
        "at": "2019-10-11T23:59:00+00:00",
    }
    await log.record()
    assert len(await store.read_all()) == 2
