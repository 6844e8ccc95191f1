"""`bvb audit who-read`'s query on a season's trail, against reading the whole `audit` category.

The trail: a season of audit records (full: 200,000 over 120 days; quick: 20,000) in three SQLite
stores (identity, consent, portfolio), as `EventStoreAuditLog` writes them: one stream a day.
Figures are milliseconds for one answer (lower is better; the ratio is ours / peer).

- ours: `bilet.audit_query.who_read`, which reads only the day streams the window covers
  (`read_stream("audit-<day>")`, pages of 5,000) in the three stores at once;
- peer: the same answer from `read_all(categories=["audit"])` in pages of 5,000 from the start of
  each store: what a query without day streams has to do, since global positions say nothing
  about time. Both sides skip events without the wanted id undecoded and decode the rest alike,
  and must return the same records (checked).

Queries: `audit.who_read.actor_24h` (one account, last 24 hours) and `audit.who_read.subject_7d`
(one child, last 7 days). Rounds: 3 (quick too), sides alternating, medians reported, after an
untimed warm-up of each side; a round repeats its query for at least a second and reports the
mean time of one answer (`benchmarks/rounds.py`).
"""

import asyncio
import random
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.result import BenchResult
from benchmarks.rounds import ROUNDS, median, per_call, rounds_detail
from bilet.audit import AUDIT_CATEGORY, Access, AuditRecord, EventStoreAuditLog
from bilet.audit_query import PAGE_SIZE, AuditEntry, AuditQuery, select, who_read
from bilet.eventstore import START, EventStore
from bilet.eventstore.sqlite import SqliteEventStore

UNIT = "ms"
SERVICES = ("identity", "consent", "portfolio")
DAYS = 120
NOW = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Sizes:
    records: int
    rounds: int


QUICK = Sizes(records=20_000, rounds=ROUNDS)
FULL = Sizes(records=200_000, rounds=ROUNDS)


async def seed(stores: Mapping[str, EventStore], records: int) -> None:
    rng = random.Random(12)
    per_store_day = records // DAYS // len(stores)
    for day in range(DAYS):
        midnight = NOW - timedelta(days=DAYS - day)
        for store in stores.values():
            batch = [
                AuditRecord(
                    actor=f"account-{rng.randrange(100)}",
                    actor_role="navigator",
                    access=Access.READ if rng.random() < 0.9 else Access.WRITE,
                    subject=f"pupil-{rng.randrange(5000)}",
                    purpose="portfolio_view",
                    fields=("full_name",),
                    correlation_id=f"c-{rng.randrange(1 << 30)}",
                    at=midnight + timedelta(seconds=rng.randrange(86_400)),
                )
                for _ in range(per_store_day)
            ]
            await EventStoreAuditLog(store).record(*batch)


async def scan_category(stores: Mapping[str, EventStore], query: AuditQuery) -> list[AuditEntry]:
    """The peer: every audit event of every store in global order, filtered."""
    entries: list[AuditEntry] = []
    for service, store in stores.items():
        position = START
        while True:
            page = await store.read_all(position, PAGE_SIZE, categories=[AUDIT_CATEGORY])
            entries.extend(select(service, page, query))
            if len(page) < PAGE_SIZE:
                break
            position = page[-1].position
    entries.sort(key=lambda entry: (entry.record.at, entry.service))
    return entries


async def measure(
    name: str, stores: Mapping[str, EventStore], query: AuditQuery, sizes: Sizes
) -> BenchResult:
    async def ours() -> list[AuditEntry]:
        return await who_read(stores, query, now=NOW)

    async def peer() -> list[AuditEntry]:
        return await scan_category(stores, query)

    found = await ours()
    if found != await peer():  # also the warm-up
        raise AssertionError(f"{name}: the two sides disagree")
    ours_ms: list[float] = []
    peer_ms: list[float] = []
    for number in range(sizes.rounds):
        sides = ((ours, ours_ms), (peer, peer_ms))
        for answer, times in sides if number % 2 == 0 else sides[::-1]:
            calls, seconds = await per_call(answer)
            times.append(seconds / calls * 1000)
    return BenchResult(
        name,
        median(ours_ms),
        median(peer_ms),
        UNIT,
        {
            "records": sizes.records,
            "days": DAYS,
            "stores": len(SERVICES),
            "found": len(found),
            **rounds_detail(ours_ms, peer_ms),
        },
    )


async def run(quick: bool) -> AsyncIterator[BenchResult]:
    sizes = QUICK if quick else FULL
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as directory:
        stores: dict[str, EventStore] = {
            service: await SqliteEventStore.open(Path(directory) / f"{service}.sqlite3")
            for service in SERVICES
        }
        try:
            await seed(stores, sizes.records)
            queries = {
                "audit.who_read.actor_24h": AuditQuery(
                    since=NOW - timedelta(hours=24), actor="account-7"
                ),
                "audit.who_read.subject_7d": AuditQuery(
                    since=NOW - timedelta(days=7), subject="pupil-42"
                ),
            }
            for name, query in queries.items():
                yield await measure(name, stores, query, sizes)
        finally:
            await asyncio.gather(*(store.close() for store in stores.values()))
