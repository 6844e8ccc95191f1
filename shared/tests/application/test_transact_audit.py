"""A command's audit records (`Transactor.transact_many(audited=...)`, docs/adr/0075): committed in
the command's own transaction on a store that commits one writer at a time (SQLite), recorded
through their log after the commit elsewhere, and never written for a command that failed."""

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bilet.application import Attempt, OwnAppend, OwnCommit, Transactor
from bilet.audit import (
    AUDIT_CATEGORY,
    Access,
    Audited,
    AuditRecord,
    EventStoreAuditLog,
    InMemoryAuditLog,
)
from bilet.crypto import FieldCipher, InMemoryKeyStore
from bilet.eventstore import EventStore, category_of
from bilet.eventstore.memory import InMemoryEventStore
from bilet.eventstore.sqlite import SqliteEventStore
from shared.tests.application.test_transact import (
    CTX,
    GRADE,
    LOG,
    PARTICIPANT,
    PID,
    Conflict,
    corrected,
    next_grade,
)


def _audited(log: EventStoreAuditLog | InMemoryAuditLog) -> Audited:
    return Audited(log, (CTX.audit(Access.WRITE, PID, "correct_grade", ("grade",)),))


async def _grade_up(tx: Transactor, audited: Audited) -> int:
    async def body(attempt: Attempt) -> None:
        state = await attempt.state(GRADE)
        attempt.append(PARTICIPANT, next_grade(state))

    return (await tx.transact_many(CTX, body, audited=audited)).position


async def _audit_events(store: EventStore) -> list[str]:
    return [
        event.stream_id
        for event in await store.read_all()
        if category_of(event.stream_id) == AUDIT_CATEGORY
    ]


async def test_on_sqlite_the_audit_record_is_committed_with_the_command(tmp_path: Path) -> None:
    store = await SqliteEventStore.open(tmp_path / "events.sqlite3")
    commits: list[str] = []
    try:
        tx = Transactor(store, FieldCipher(InMemoryKeyStore()), LOG, Conflict)
        store._writer._db.set_trace_callback(
            lambda sql: commits.append(sql) if sql == "COMMIT" else None
        )
        position = await _grade_up(tx, _audited(EventStoreAuditLog(store)))
        assert commits == ["COMMIT"]  # one transaction: the events and their audit record
        assert len(await _audit_events(store)) == 1
        # The command's position is its own event's, not the audit record's after it.
        assert position == (await store.read_stream(PARTICIPANT))[-1].position
    finally:
        await store.close()


async def test_a_command_that_failed_leaves_no_audit_record(tmp_path: Path) -> None:
    store = await SqliteEventStore.open(tmp_path / "events.sqlite3")
    try:
        tx = Transactor(store, FieldCipher(InMemoryKeyStore()), LOG, Conflict, attempts=1)
        audit = EventStoreAuditLog(store)

        async def body(attempt: Attempt) -> None:
            await attempt.state(GRADE)
            await store.append(PARTICIPANT, [LOG.encode(corrected(6), CTX.metadata())])
            attempt.append(PARTICIPANT, next_grade(None))

        with pytest.raises(Conflict):
            await tx.transact_many(CTX, body, audited=_audited(audit))
        assert await _audit_events(store) == []
    finally:
        await store.close()


async def test_elsewhere_the_audit_record_is_recorded_through_its_log_after_the_commit() -> None:
    store = InMemoryEventStore()
    tx = Transactor(store, FieldCipher(InMemoryKeyStore()), LOG, Conflict)
    in_memory = InMemoryAuditLog()
    await _grade_up(tx, _audited(in_memory))
    assert [record.purpose for record in in_memory.records] == ["correct_grade"]
    # A trail in a store that does not commit one writer at a time gets a commit of its own.
    await _grade_up(tx, _audited(EventStoreAuditLog(store)))
    assert len(await _audit_events(store)) == 1


async def test_observers_are_told_a_commit_as_a_read_of_the_store_gives_it(tmp_path: Path) -> None:
    """`Transactor.on_commit` (docs/adr/0081): on a store that commits one writer at a time,
    each commit's events with the positions the store gave them, decoded as a read would give
    them, and the whole run of positions it took (its audit record's too); on another store,
    nothing (its positions need not be one unbroken run)."""
    store = await SqliteEventStore.open(tmp_path / "events.sqlite3")
    try:
        tx = Transactor(store, FieldCipher(InMemoryKeyStore()), LOG, Conflict)
        told: list[OwnCommit] = []
        tx.on_commit(told.append)
        await _grade_up(tx, _audited(EventStoreAuditLog(store)))
        await _grade_up(tx, _audited(EventStoreAuditLog(store)))
        stored = await store.read_all()
        assert [(commit.first, commit.last) for commit in told] == [(1, 2), (3, 4)]
        assert [(event, position) for commit in told for event, position in commit.events] == [
            (LOG.decode(record, record.stream_id), record.position)
            for record in stored
            if record.stream_id == PARTICIPANT
        ]
    finally:
        await store.close()

    elsewhere = Transactor(InMemoryEventStore(), FieldCipher(InMemoryKeyStore()), LOG, Conflict)
    not_told: list[OwnCommit] = []
    elsewhere.on_commit(not_told.append)
    await _grade_up(elsewhere, _audited(InMemoryAuditLog()))
    assert not_told == []


async def test_append_observers_are_told_each_stream_by_version_on_any_store() -> None:
    """`Transactor.on_append` (docs/adr/0113): on any store, each stream's events of a commit,
    as a read of the store decodes them, with the stream's version after them; a failing
    observer neither fails the commit nor silences the others."""
    store = InMemoryEventStore()
    tx = Transactor(store, FieldCipher(InMemoryKeyStore()), LOG, Conflict)
    told: list[OwnAppend] = []

    def failing(append: OwnAppend) -> None:
        raise RuntimeError("a view's bug")

    tx.on_append(failing)
    tx.on_append(told.append)
    await _grade_up(tx, _audited(InMemoryAuditLog()))
    await _grade_up(tx, _audited(InMemoryAuditLog()))
    stored = [LOG.decode(record, PARTICIPANT) for record in await store.read_stream(PARTICIPANT)]
    assert [(a.stream_id, a.version) for a in told] == [(PARTICIPANT, 0), (PARTICIPANT, 1)]
    assert [event for append in told for event in append.events] == stored


async def test_an_observer_that_fails_neither_fails_the_commit_nor_silences_the_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The commit is durable whatever an observer does: the command succeeds, the observers
    after the failing one are told, and the failure is logged (docs/adr/0081)."""
    store = await SqliteEventStore.open(tmp_path / "events.sqlite3")
    try:
        tx = Transactor(store, FieldCipher(InMemoryKeyStore()), LOG, Conflict)

        def failing(commit: OwnCommit) -> None:
            raise RuntimeError("a view's bug")

        told: list[OwnCommit] = []
        tx.on_commit(failing)
        tx.on_commit(told.append)
        position = await _grade_up(tx, _audited(EventStoreAuditLog(store)))
        assert position == 1
        assert [(commit.first, commit.last) for commit in told] == [(1, 2)]
        assert "a commit observer failed" in caplog.text
        assert await store.stream_version(PARTICIPANT) == 0
    finally:
        await store.close()


def _record(purpose: str = "correct_grade") -> AuditRecord:
    return CTX.audit(Access.WRITE, PID, purpose, ("grade",))


def _raced_once(
    store: EventStore, log: EventStoreAuditLog | InMemoryAuditLog
) -> Callable[[Attempt], Awaitable[None]]:
    """A body that grades the participant up and audits it through `Attempt.audit`; on its first
    try another writer appends between its read and its commit, so it is decided again."""
    raced = False

    async def body(attempt: Attempt) -> None:
        nonlocal raced
        state = await attempt.state(GRADE)
        if not raced:  # another writer between the read and the commit: decided again
            raced = True
            await store.append(PARTICIPANT, [LOG.encode(corrected(10), CTX.metadata())])
        attempt.audit(log, _record())
        attempt.append(PARTICIPANT, next_grade(state))

    return body


async def test_records_an_attempt_audits_join_its_commit_only_when_it_writes(
    tmp_path: Path,
) -> None:
    """`Attempt.audit` (docs/adr/0111): records a body knows only as it decides go into its
    commit as `audited`'s do (one transaction on SQLite, right after the command's events); a
    body that decides nothing records nothing; a conflict's retry records its own, once."""
    store = await SqliteEventStore.open(tmp_path / "events.sqlite3")
    commits: list[str] = []
    try:
        tx = Transactor(store, FieldCipher(InMemoryKeyStore()), LOG, Conflict)
        body = _raced_once(store, EventStoreAuditLog(store))

        store._writer._db.set_trace_callback(
            lambda sql: commits.append(sql) if sql == "COMMIT" else None
        )
        outcome = await tx.transact_many(CTX, body)
        # The racing append's commit, then the command's own with its one record.
        assert commits == ["COMMIT", "COMMIT"]
        stored = await store.read_all()
        assert [(e.stream_id == PARTICIPANT, e.position) for e in stored] == [
            (True, 1),
            (True, 2),
            (False, 3),
        ]
        assert outcome.position == 2
        # At grade 11 the decider decides nothing: nothing is written, not even the record.
        await tx.transact_many(CTX, body)
        assert len(await _audit_events(store)) == 1
    finally:
        await store.close()


async def test_an_attempt_audits_through_one_log_and_not_beside_audited() -> None:
    tx = Transactor(InMemoryEventStore(), FieldCipher(InMemoryKeyStore()), LOG, Conflict)
    in_memory = InMemoryAuditLog()

    async def body(attempt: Attempt) -> None:
        attempt.audit(in_memory, _record())
        attempt.append(PARTICIPANT, next_grade(await attempt.state(GRADE)))

    with pytest.raises(ValueError, match="`audited` or `Attempt"):
        await tx.transact_many(CTX, body, audited=_audited(in_memory))
    assert in_memory.records == []

    async def two_logs(attempt: Attempt) -> None:
        attempt.audit(in_memory, _record())
        attempt.audit(InMemoryAuditLog(), _record())

    with pytest.raises(ValueError, match="one log"):
        await tx.transact_many(CTX, two_logs)
    # Elsewhere (a store that does not commit one writer at a time) recorded after the commit.
    await tx.transact_many(CTX, body)
    assert [record.purpose for record in in_memory.records] == ["correct_grade"]


async def test_a_combined_command_refuses_records_in_its_body() -> None:
    tx = Transactor(InMemoryEventStore(), FieldCipher(InMemoryKeyStore()), LOG, Conflict)

    async def body(attempt: Attempt) -> None:
        attempt.audit(InMemoryAuditLog(), _record())

    with pytest.raises(NotImplementedError):
        await tx.transact_combined(CTX, PARTICIPANT, body)


async def test_recorded_after_the_commit_an_attempt_s_records_are_those_of_what_it_wrote() -> None:
    """`Attempt.audit` where the records are recorded through their log after the commit (a
    store that does not commit one writer at a time: PostgreSQL, this in-memory one): a
    conflict's retry records its own once, a body that decides nothing, fails or is refused a
    commit records nothing (docs/adr/0111)."""
    store = InMemoryEventStore()
    tx = Transactor(store, FieldCipher(InMemoryKeyStore()), LOG, Conflict)
    in_memory = InMemoryAuditLog()
    body = _raced_once(store, in_memory)

    await tx.transact_many(CTX, body)
    assert await store.stream_version(PARTICIPANT) == 1, "the racing grade 10, then 11"
    assert [record.purpose for record in in_memory.records] == ["correct_grade"]
    await tx.transact_many(CTX, body)  # at grade 11 the decider decides nothing
    assert len(in_memory.records) == 1

    async def failing(attempt: Attempt) -> None:
        await attempt.state(GRADE)
        attempt.audit(in_memory, _record("failed"))
        attempt.append(PARTICIPANT, [corrected(7)])
        raise Conflict("refused after deciding")

    with pytest.raises(Conflict):
        await tx.transact_many(CTX, failing)

    async def conflicting(attempt: Attempt) -> None:
        await attempt.state(GRADE)
        await store.append(PARTICIPANT, [LOG.encode(corrected(6), CTX.metadata())])
        attempt.audit(in_memory, _record("conflicted"))
        attempt.append(PARTICIPANT, next_grade(None))

    once = Transactor(store, FieldCipher(InMemoryKeyStore()), LOG, Conflict, attempts=1)
    with pytest.raises(Conflict):
        await once.transact_many(CTX, conflicting)
    assert [record.purpose for record in in_memory.records] == ["correct_grade"]
