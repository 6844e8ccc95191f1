"""The audit trail on a thread of its own: a caller returns once its record is in the store,
records of concurrent callers all arrive, and the store is read back from the caller's loop."""

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from bilet.audit import AUDIT_CATEGORY, Access, AuditRecord
from bilet.eventstore import EventStore
from bilet.eventstore.sqlite import SqliteEventStore
from bilet_portfolio.adapters.audit_thread import AuditThread


def read_of(subject: str) -> AuditRecord:
    return AuditRecord("navigator-1", "navigator", Access.READ, subject, "portfolio_view")


async def subjects(store: EventStore) -> list[str]:
    events = await store.read_all(0, 1000)
    return [
        json.loads(event.data)["subject"]
        for event in events
        if event.stream_id.startswith(f"{AUDIT_CATEGORY}-")
    ]


async def test_records_are_in_the_store_when_record_returns(tmp_path: Path) -> None:
    opened_on: list[str] = []

    async def open_store() -> EventStore:
        opened_on.append(threading.current_thread().name)
        return await SqliteEventStore.open(tmp_path / "portfolio.sqlite3")

    audit = await AuditThread.open(open_store)
    try:
        assert opened_on == ["portfolio-audit"]  # not this loop's thread
        await audit.record(read_of("pupil-1"))
        assert await subjects(audit.store) == ["pupil-1"]
        await asyncio.gather(*(audit.record(read_of(f"pupil-{n}")) for n in range(2, 10)))
        assert sorted(await subjects(audit.store)) == sorted(f"pupil-{n}" for n in range(1, 10))
        await audit.record()  # nothing to record: nothing written
        assert len(await subjects(audit.store)) == 9
    finally:
        await audit.close()
    reopened = await SqliteEventStore.open(tmp_path / "portfolio.sqlite3")
    try:
        assert len(await subjects(reopened)) == 9  # durable, and the store was closed cleanly
    finally:
        await reopened.close()


async def test_a_store_that_cannot_open_stops_the_thread(tmp_path: Path) -> None:
    async def broken() -> EventStore:
        raise OSError("no such disk")

    with pytest.raises(OSError, match="no such disk"):
        await AuditThread.open(broken)
    assert "portfolio-audit" not in {thread.name for thread in threading.enumerate()}


class CountingAudit:
    """Counts the hand-offs to the audit thread (its `_there` calls) of an `AuditThread`."""

    def __init__(self, audit: AuditThread) -> None:
        self.hand_offs = 0
        there = audit._there

        async def counted(work: Any) -> Any:
            self.hand_offs += 1
            return await there(work)

        audit._there = counted  # type: ignore[method-assign]


async def test_records_of_reads_that_wait_together_cross_in_one_hand_off(tmp_path: Path) -> None:
    audit = await AuditThread.open(lambda: SqliteEventStore.open(tmp_path / "a.sqlite3"))
    try:
        counting = CountingAudit(audit)
        # Twenty reads record at once: they cross together, each returning only once its own
        # record is in the store (one at a time, they took twenty hand-offs).
        await asyncio.gather(*(audit.record(read_of(f"pupil-{n}")) for n in range(20)))
        assert counting.hand_offs == 1
        assert sorted(await subjects(audit.store)) == sorted(f"pupil-{n}" for n in range(20))
    finally:
        await audit.close()


async def test_a_batch_that_fails_fails_every_read_in_it_and_the_next_batch_goes_on(
    tmp_path: Path,
) -> None:
    audit = await AuditThread.open(lambda: SqliteEventStore.open(tmp_path / "a.sqlite3"))
    try:
        log = audit._log
        assert log is not None
        real_record = log.record
        failing = True

        async def record(*records: AuditRecord) -> None:
            if failing:
                raise OSError("disk full")
            await real_record(*records)

        log.record = record  # type: ignore[method-assign]
        outcomes = await asyncio.gather(
            *(audit.record(read_of(f"pupil-{n}")) for n in range(5)), return_exceptions=True
        )
        assert all(isinstance(outcome, OSError) for outcome in outcomes)
        failing = False
        await audit.record(read_of("pupil-after"))
        assert await subjects(audit.store) == ["pupil-after"]
    finally:
        await audit.close()
