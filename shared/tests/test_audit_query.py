"""Who read whose data: the query over several services' audit trails, on the in-memory, SQLite and
PostgreSQL stores, by account and by child, within time bounds, oldest first."""

import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from bilet import audit_query
from bilet.audit import AUDIT_CATEGORY, Access, AuditRecord, EventStoreAuditLog
from bilet.audit_query import AuditQuery, who_read
from bilet.eventstore import EventStore, NewEvent
from bilet.eventstore.memory import InMemoryEventStore
from bilet.eventstore.postgres import PostgresEventStore
from bilet.eventstore.sqlite import SqliteEventStore
from bilet.pgschema import drop_schema

NOW = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)

MakeStore = Callable[[str], Awaitable[EventStore]]


def access(
    at: datetime,
    *,
    actor: str = "account-1",
    subject: str = "pupil-1",
    kind: Access = Access.READ,
    purpose: str = "portfolio_view",
) -> AuditRecord:
    return AuditRecord(
        actor=actor,
        actor_role="navigator",
        access=kind,
        subject=subject,
        purpose=purpose,
        fields=("full_name", "snils"),
        correlation_id=f"c-{at.isoformat()}",
        at=at,
    )


@pytest.fixture(
    params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.integration)]
)
async def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MakeStore]:
    """Opens a service's store of the kind under test (PostgreSQL: a schema of its own, dropped
    afterwards); all closed at the end."""
    opened: list[EventStore] = []
    schemas: list[str] = []
    database_url = request.getfixturevalue("database_url") if request.param == "postgres" else ""

    async def make(name: str) -> EventStore:
        store: EventStore
        if request.param == "memory":
            store = InMemoryEventStore()
        elif request.param == "sqlite":
            store = await SqliteEventStore.open(tmp_path / f"{name}.sqlite3", "NORMAL")
        else:
            schemas.append(f"t_audit_{name}_{uuid.uuid4().hex[:10]}")
            store = await PostgresEventStore.open(database_url, schema=schemas[-1], pool_size=2)
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()
    for schema in schemas:
        await drop_schema(database_url, schema)


async def test_given_two_services_trails_when_asked_by_actor_then_only_their_reads_oldest_first(
    make_store: MakeStore,
) -> None:
    identity, portfolio = await make_store("identity"), await make_store("portfolio")
    hour = timedelta(hours=1)
    wanted_portfolio = access(NOW - 2 * hour)
    wanted_identity = access(NOW - 3 * hour, subject="pupil-2", purpose="participant_view")
    yesterday_late = access(NOW - 23 * hour, subject="pupil-3")
    await EventStoreAuditLog(portfolio).record(
        wanted_portfolio,
        access(NOW - hour, actor="account-2"),  # someone else
        access(NOW - hour, kind=Access.WRITE),  # not a read
        access(NOW - 25 * hour),  # before the window
    )
    await EventStoreAuditLog(identity).record(wanted_identity, yesterday_late)

    found = await who_read(
        {"identity": identity, "portfolio": portfolio},
        AuditQuery(since=NOW - 24 * hour, actor="account-1"),
        now=NOW,
    )

    assert [(entry.service, entry.record) for entry in found] == [
        ("identity", yesterday_late),
        ("identity", wanted_identity),
        ("portfolio", wanted_portfolio),
    ]


async def test_given_reads_of_a_child_by_several_accounts_when_asked_by_subject_then_all_of_them(
    make_store: MakeStore,
) -> None:
    consent = await make_store("consent")
    by_guardian = access(NOW - timedelta(days=3), actor="guardian-1", subject="pupil-9")
    by_operator = access(NOW - timedelta(days=1), actor="operator-1", subject="pupil-9")
    erasure = access(NOW - timedelta(hours=5), subject="pupil-9", kind=Access.ERASE)
    await EventStoreAuditLog(consent).record(
        by_operator, by_guardian, erasure, access(NOW - timedelta(days=2), subject="pupil-1")
    )

    reads = AuditQuery(since=NOW - timedelta(days=7), subject="pupil-9")
    every_kind = AuditQuery(
        since=NOW - timedelta(days=7), subject="pupil-9", accesses=frozenset(Access)
    )

    assert [e.record for e in await who_read({"consent": consent}, reads, now=NOW)] == [
        by_guardian,
        by_operator,
    ]
    assert [e.record for e in await who_read({"consent": consent}, every_kind, now=NOW)] == [
        by_guardian,
        by_operator,
        erasure,
    ]


async def test_since_is_inclusive_until_exclusive_and_day_boundaries_are_crossed(
    make_store: MakeStore,
) -> None:
    store = await make_store("portfolio")
    midnight = datetime(2026, 5, 18, tzinfo=UTC)
    records = [access(midnight + timedelta(minutes=m)) for m in (-1, 0, 1, 24 * 60, 24 * 60 + 1)]
    await EventStoreAuditLog(store).record(*records)

    query = AuditQuery(since=midnight, until=midnight + timedelta(days=1))
    found = await who_read({"portfolio": store}, query, now=NOW)

    assert [e.record for e in found] == records[1:3]


async def test_an_offset_in_the_bounds_is_honoured_as_the_same_instant(
    make_store: MakeStore,
) -> None:
    store = await make_store("identity")
    late = access(datetime(2026, 5, 18, 22, 30, tzinfo=UTC))
    await EventStoreAuditLog(store).record(late, access(datetime(2026, 5, 18, 21, 0, tzinfo=UTC)))

    # 01:30 in Moscow is 22:30 UTC of the day before: the day streams are UTC days.
    since = datetime(2026, 5, 19, 1, 30, tzinfo=timezone(timedelta(hours=3)))
    found = await who_read({"identity": store}, AuditQuery(since=since, actor="account-1"), now=NOW)

    assert [e.record for e in found] == [late]


async def test_a_record_stamped_by_a_clock_ahead_is_still_found_without_until(
    make_store: MakeStore,
) -> None:
    store = await make_store("portfolio")
    ahead = access(NOW + timedelta(hours=13))  # tomorrow's stream, in UTC
    await EventStoreAuditLog(store).record(ahead)

    found = await who_read(
        {"portfolio": store}, AuditQuery(since=NOW - timedelta(hours=1)), now=NOW
    )

    assert [e.record for e in found] == [ahead]


async def test_a_day_longer_than_a_page_is_read_to_its_end_and_strangers_are_skipped(
    make_store: MakeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit_query, "PAGE_SIZE", 7)
    store = await make_store("portfolio")
    day = datetime(2026, 5, 19, tzinfo=UTC)
    records = [
        access(day + timedelta(minutes=n), actor="account-1" if n % 5 == 0 else "account-10")
        for n in range(40)
    ]
    await EventStoreAuditLog(store).record(*records)
    # Something else in the day's stream is not an audit record and is not read as one.
    await store.append(f"{AUDIT_CATEGORY}-2026-05-19", [NewEvent("Noted", b"{}")])

    found = await who_read({"portfolio": store}, AuditQuery(since=day, actor="account-1"), now=NOW)

    assert [e.record for e in found] == records[::5]


def test_bounds_without_a_time_zone_or_in_the_wrong_order_are_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        AuditQuery(since=datetime(2026, 5, 19))
    with pytest.raises(ValueError, match="after since"):
        AuditQuery(since=NOW, until=NOW - timedelta(hours=1))


async def test_given_a_season_sized_trail_the_last_day_of_one_account_is_exactly_found(
    tmp_path: Path,
) -> None:
    """About 200,000 records over 120 days in three SQLite stores; the query for one account
    over the last 24 hours returns exactly its reads of that window, in time order."""
    rng = random.Random(12)
    start = NOW - timedelta(days=120)
    services = ("identity", "consent", "portfolio")
    stores: dict[str, EventStore] = {
        s: await SqliteEventStore.open(tmp_path / f"{s}.sqlite3", "NORMAL") for s in services
    }
    expected: list[tuple[datetime, str, AuditRecord]] = []
    since = NOW - timedelta(hours=24)
    try:
        per_day = 200_000 // 120
        for day in range(120):
            for service, store in stores.items():
                batch = []
                for _ in range(per_day // len(services)):
                    at = start + timedelta(days=day, seconds=rng.randrange(86_400))
                    record = access(
                        at,
                        actor=f"account-{rng.randrange(400)}",
                        subject=f"pupil-{rng.randrange(5000)}",
                        kind=Access.READ if rng.random() < 0.9 else Access.WRITE,
                    )
                    batch.append(record)
                    if record.actor == "account-7" and record.access is Access.READ and at >= since:
                        expected.append((at, service, record))
                await EventStoreAuditLog(store).record(*batch)  # one commit a day

        found = await who_read(stores, AuditQuery(since=since, actor="account-7"), now=NOW)
    finally:
        for store in stores.values():
            await store.close()

    assert expected, "the generated window holds reads of the account"
    expected.sort(key=lambda item: (item[0], item[1]))
    assert [(e.service, e.record) for e in found] == [(s, r) for _, s, r in expected]
