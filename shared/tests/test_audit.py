"""The audit trail keeps who touched whose data and why, by id only, one stream a day."""

import asyncio
import json
from collections.abc import Sequence
from dataclasses import fields
from datetime import UTC, datetime

from bilet.audit import Access, AuditRecord, EventStoreAuditLog
from bilet.eventstore import AppendResult, StreamAppend
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


async def test_every_field_of_a_record_is_kept() -> None:
    """The stored body is written field by field: a field added to `AuditRecord` must not be
    silently left out of the trail."""
    store = InMemoryEventStore()
    record = AuditRecord("account-7", "registrar", Access.ERASE, "participant-1", "erase")
    await EventStoreAuditLog(store).record(record)
    (stored,) = await store.read_all()
    assert list(json.loads(stored.data)) == [f.name for f in fields(AuditRecord)]


class CountingStore(InMemoryEventStore):
    """Counts commits; can be told to fail the next one."""

    def __init__(self) -> None:
        super().__init__()
        self.commits = 0
        self.fail_next = False

    async def append_many(self, appends: Sequence[StreamAppend]) -> list[AppendResult]:
        self.commits += 1
        await asyncio.sleep(0.01)  # a commit takes time: callers arrive meanwhile
        if self.fail_next:
            self.fail_next = False
            raise OSError("disk full")
        return await super().append_many(appends)


def reading(n: int) -> AuditRecord:
    return AuditRecord(
        actor=f"account-{n}",
        actor_role="navigator",
        access=Access.READ,
        subject=f"participant-{n}",
        purpose="portfolio_view",
        at=datetime(2019, 10, 12, 9, 0, tzinfo=UTC),
    )


async def test_concurrent_readers_share_commits_and_each_returns_once_its_record_is_stored() -> (
    None
):
    store = CountingStore()
    log = EventStoreAuditLog(store)

    async def read(n: int) -> None:
        await log.record(reading(n))
        # Returned: the record is in the store already.
        stored = await store.read_stream("audit-2019-10-12")
        assert f"account-{n}" in {json.loads(e.data)["actor"] for e in stored}

    await asyncio.gather(*(read(n) for n in range(50)))
    stored = await store.read_stream("audit-2019-10-12")
    assert sorted(json.loads(e.data)["actor"] for e in stored) == sorted(
        f"account-{n}" for n in range(50)
    )
    assert store.commits < 50  # grouped: one commit per batch, not per reader


async def test_a_failed_commit_reaches_every_caller_of_its_batch_and_the_next_batch_goes_on() -> (
    None
):
    store = CountingStore()
    log = EventStoreAuditLog(store)
    store.fail_next = True
    first = asyncio.gather(*(log.record(reading(n)) for n in range(5)), return_exceptions=True)
    outcomes = await first
    assert all(isinstance(outcome, OSError) for outcome in outcomes)
    assert await store.read_stream("audit-2019-10-12") == []  # all or nothing
    await log.record(reading(99))
    assert len(await store.read_stream("audit-2019-10-12")) == 1


async def test_a_cancelled_caller_does_not_cancel_the_write_of_others() -> None:
    store = CountingStore()
    log = EventStoreAuditLog(store)
    cancelled = asyncio.create_task(log.record(reading(1)))
    other = asyncio.create_task(log.record(reading(2)))
    await asyncio.sleep(0)
    cancelled.cancel()
    await other
    await asyncio.sleep(0.05)
    actors = {json.loads(e.data)["actor"] for e in await store.read_stream("audit-2019-10-12")}
    assert actors == {"account-1", "account-2"}


class BlockedStore(InMemoryEventStore):
    """An append that waits until `release` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.appending = asyncio.Event()
        self.release = asyncio.Event()

    async def append_many(self, appends: Sequence[StreamAppend]) -> list[AppendResult]:
        self.appending.set()
        await self.release.wait()
        return await super().append_many(appends)


async def test_a_cancelled_writer_fails_its_callers_with_an_error_not_a_cancellation() -> None:
    store = BlockedStore()
    log = EventStoreAuditLog(store)
    in_flight = asyncio.create_task(log.record(reading(1)))
    await store.appending.wait()
    waiting = asyncio.create_task(log.record(reading(2)))  # gathered for the next batch
    await asyncio.sleep(0)
    writer = log._writer
    assert writer is not None
    writer.cancel()  # as the loop does when it closes
    outcomes = await asyncio.gather(in_flight, waiting, return_exceptions=True)
    assert [type(outcome) for outcome in outcomes] == [RuntimeError, RuntimeError], outcomes
    assert all("audit writer stopped" in str(outcome) for outcome in outcomes)
    assert await store.read_stream("audit-2019-10-12") == []  # neither told it is durable
