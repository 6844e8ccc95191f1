"""The cached answer sheets a save decides on (`application/sheets.py`): two replicas over one
store and one key store, each with its own cache, so a cache that missed what the other wrote
(a completion, an answer, an erasure) would show here."""

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from bilet.application import EventLog, RequestContext
from bilet.audit import AuditRecord, InMemoryAuditLog
from bilet.contracts import DomainEvent, SealedValue
from bilet.contracts.codec import StoredEvent
from bilet.contracts.vocabulary import Stage
from bilet.crypto import InMemoryKeyStore
from bilet.eventstore import AppendResult, EventStore, RecordedEvent, StreamAppend
from bilet.eventstore.memory import InMemoryEventStore
from bilet.eventstore.sqlite import SqliteEventStore
from bilet.http import Role
from bilet.http.auth import Principal
from bilet_diagnostics.adapters.instruments import load_instruments
from bilet_diagnostics.application.base import ERASED_ANSWER
from bilet_diagnostics.application.eventlog import EVENT_LOG
from bilet_diagnostics.application.ports import Instruments
from bilet_diagnostics.application.service import DiagnosticsService
from bilet_diagnostics.application.sheets import SheetCache, SheetSnapshot
from bilet_diagnostics.domain import attempt
from bilet_diagnostics.domain.answer_sheet import initial, stream_id
from bilet_diagnostics.domain.errors import AttemptCompleted
from bilet_diagnostics.testing import REGION, SCHOOL_3, STAGES, Clock, StaticFacts, Window


@dataclass
class Replicas:
    one: DiagnosticsService
    two: DiagnosticsService
    store: EventStore
    keystore: InMemoryKeyStore
    facts: StaticFacts
    pupil: UUID

    def ctx(self, pupil: UUID | None = None) -> RequestContext:
        who = str(pupil or self.pupil)
        return RequestContext(Principal("pupil", Role.PUPIL, participant_id=who))

    async def attempt(self, pupil: UUID | None = None) -> tuple[UUID, dict[str, tuple[str, ...]]]:
        """An interests attempt started on replica one: its id and each item's options."""
        ctx = self.ctx(pupil)
        attempt_id, _ = await self.one.start(ctx, pupil or self.pupil, Stage.INTERESTS)
        view = await self.one.attempt_view(ctx, attempt_id)
        return attempt_id, {i.item_id: tuple(c.option_id for c in i.choices) for i in view.items}

    async def version(self, attempt_id: UUID) -> int | None:
        return await self.store.stream_version(stream_id(attempt_id))


@functools.cache
def shipped_instruments() -> Instruments:
    return load_instruments()


def two_replicas(store: EventStore) -> Replicas:
    """Two services over `store` and one key store, each with its own cache and audit log."""
    keystore = InMemoryKeyStore()
    facts = StaticFacts()
    facts.rules[2019] = STAGES
    facts.windows.append(Window(REGION, 2019, STAGES, date(2019, 10, 11), date(2019, 10, 31)))
    pupil = uuid4()
    facts.add_pupil(pupil, SCHOOL_3, REGION)
    clock = Clock(datetime(2019, 10, 15, 10, tzinfo=UTC))

    def replica() -> DiagnosticsService:
        return DiagnosticsService(
            store, keystore, facts, shipped_instruments(), InMemoryAuditLog(), clock=clock
        )

    return Replicas(replica(), replica(), store, keystore, facts, pupil)


@pytest.fixture
def replicas() -> Replicas:
    return two_replicas(InMemoryEventStore())


async def test_a_save_after_another_replica_completed_is_refused_and_writes_nothing(
    replicas: Replicas,
) -> None:
    attempt_id, items = await replicas.attempt()
    for item, options in items.items():
        await replicas.one.save_answer(replicas.ctx(), attempt_id, item, options[0])
    assert attempt_id in replicas.one.sheets, "replica one has the sheet cached"
    await replicas.two.complete(replicas.ctx(), attempt_id)
    closed_at = await replicas.version(attempt_id)

    first, options = next(iter(items.items()))
    with pytest.raises(AttemptCompleted):
        await replicas.one.save_answer(replicas.ctx(), attempt_id, first, options[1])
    assert await replicas.version(attempt_id) == closed_at
    assert (await replicas.one.sheets.read(attempt_id)).latest == {}, "no answers kept once closed"


async def test_completing_forgets_the_sheet(replicas: Replicas) -> None:
    attempt_id, items = await replicas.attempt()
    for item, options in items.items():
        await replicas.one.save_answer(replicas.ctx(), attempt_id, item, options[0])
    await replicas.one.complete(replicas.ctx(), attempt_id)
    assert attempt_id not in replicas.one.sheets
    first, options = next(iter(items.items()))
    with pytest.raises(AttemptCompleted):
        await replicas.one.save_answer(replicas.ctx(), attempt_id, first, options[1])


class FailingAuditLog:
    """An audit trail whose writes fail (a trail's store that is down)."""

    async def record(self, *records: AuditRecord) -> None:
        raise RuntimeError("the audit trail is down")


async def test_a_completion_whose_audit_write_failed_after_its_commit_forgets_the_sheet(
    replicas: Replicas,
) -> None:
    """Where the record is written after the commit (PostgreSQL; this in-memory store), its
    failure fails the command after the sheet was closed: the sheet is forgotten all the same."""
    attempt_id, items = await replicas.attempt()
    await replicas.one.save_answers(replicas.ctx(), attempt_id, {i: o[0] for i, o in items.items()})
    assert attempt_id in replicas.one.sheets
    replicas.one.audit = FailingAuditLog()

    with pytest.raises(RuntimeError, match="audit trail is down"):
        await replicas.one.complete(replicas.ctx(), attempt_id)

    stored = await replicas.store.read_stream(stream_id(attempt_id))
    assert stored[-1].type == "SheetClosed", "committed before the audit write failed"
    assert attempt_id not in replicas.one.sheets


async def test_the_same_answer_is_compared_with_what_another_replica_saved(
    replicas: Replicas,
) -> None:
    attempt_id, items = await replicas.attempt()
    item, options = next(iter(items.items()))
    ctx = replicas.ctx()
    assert (await replicas.one.save_answer(ctx, attempt_id, item, options[0])).recorded
    assert (await replicas.two.save_answer(ctx, attempt_id, item, options[1])).recorded
    again = await replicas.one.save_answer(ctx, attempt_id, item, options[1])
    assert not again.recorded, "replica one saw replica two's answer: the same again is nothing"
    assert (await replicas.one.save_answer(ctx, attempt_id, item, options[0])).recorded


async def test_erasure_reaches_the_cached_answers(replicas: Replicas) -> None:
    attempt_id, items = await replicas.attempt()
    item, options = next(iter(items.items()))
    await replicas.one.save_answer(replicas.ctx(), attempt_id, item, options[0])
    cached = (await replicas.one.sheets.read(attempt_id)).latest
    assert await replicas.one.opened_answers(cached) == {item: options[0]}

    assert await replicas.keystore.erase(str(replicas.pupil))  # what consent's erasure does

    assert await replicas.one.opened_answers(cached) == {item: ERASED_ANSWER}
    assert isinstance(cached[item].option, SealedValue), "the cache keeps answers sealed"


async def test_a_bounded_cache_folds_a_forgotten_sheet_again_from_its_stream(
    replicas: Replicas,
) -> None:
    small = SheetCache(replicas.store, EVENT_LOG, size=1)
    attempt_id, items = await replicas.attempt()
    (first, options), (second, _) = list(items.items())[:2]
    await replicas.one.save_answer(replicas.ctx(), attempt_id, first, options[0])
    before = await small.read(attempt_id)
    assert (await small.read(uuid4())).opened is None, "an unknown attempt: no sheet"
    other = uuid4()
    replicas.facts.add_pupil(other, SCHOOL_3, REGION)
    other_id, _ = await replicas.attempt(other)
    await small.read(other_id)
    assert attempt_id not in small, "the least recently read sheet made room"
    again = await small.read(attempt_id)
    assert again == before
    assert set(again.latest) == {first}, f"{second} was never answered"


class CompletingFirst(InMemoryEventStore):
    """A store that, once, lets another replica complete the attempt just before an answer's
    append: the save read the sheet open, and its answer lands after the closing."""

    def __init__(self) -> None:
        super().__init__()
        self.before_answer: Callable[[], Awaitable[object]] | None = None

    async def append_many(self, appends: Sequence[StreamAppend]) -> list[AppendResult]:
        hook, self.before_answer = self.before_answer, None
        if hook is not None and any(a.stream_id.startswith("answersheet-") for a in appends):
            await hook()
        return await super().append_many(appends)


async def test_an_answer_landing_after_the_closing_is_refused_and_audited() -> None:
    """A save that read the sheet's tail (its fold not cached here) appends with ANY: its answer
    may land after a closing committed meanwhile, and is then written, audited and refused."""
    store = CompletingFirst()
    world = two_replicas(store)
    attempt_id, items = await world.attempt()
    for item, options in items.items():
        await world.one.save_answer(world.ctx(), attempt_id, item, options[0])
    audit = world.one.audit
    assert isinstance(audit, InMemoryAuditLog)
    audited = len(audit.records)
    first, options = next(iter(items.items()))
    world.one.sheets.forget(attempt_id)  # what this process knows is then read, not cached
    store.before_answer = lambda: world.two.complete(world.ctx(), attempt_id)

    with pytest.raises(AttemptCompleted):
        await world.one.save_answer(world.ctx(), attempt_id, first, options[1])

    stored = await store.read_stream(stream_id(attempt_id))
    assert [r.type for r in stored[-2:]] == ["SheetClosed", "AnswerRecorded"], "written, late"
    (late,) = audit.records[audited:]
    assert (late.subject, late.purpose) == (str(world.pupil), "answer"), "its write is audited"


async def test_a_save_on_the_cached_fold_is_refused_by_a_closing_meanwhile_and_writes_nothing() -> (
    None
):
    """A save deciding on the fold this process knows appends at its exact version
    (docs/adr/0113): a closing committed meanwhile (another replica's) makes the store refuse
    it; decided again on the sheet read, it is refused (409) with nothing written or audited."""
    store = CompletingFirst()
    world = two_replicas(store)
    attempt_id, items = await world.attempt()
    for item, options in items.items():
        await world.one.save_answer(world.ctx(), attempt_id, item, options[0])
    assert world.one.sheets.cached(attempt_id) is not None
    audit = world.one.audit
    assert isinstance(audit, InMemoryAuditLog)
    audited = len(audit.records)
    first, options = next(iter(items.items()))
    store.before_answer = lambda: world.two.complete(world.ctx(), attempt_id)

    with pytest.raises(AttemptCompleted):
        await world.one.save_answer(world.ctx(), attempt_id, first, options[1])

    stored = await store.read_stream(stream_id(attempt_id))
    assert stored[-1].type == "SheetClosed", "nothing written after the closing"
    assert audit.records[audited:] == [], "nothing written: nothing audited"


# Completing scores the cached fold (docs/adr/0077): caught up with the stream before it is
# scored, and the closing expects the fold's version, so an answer another replica saves before
# or during the completion is counted, never left out of a result that claims the whole sheet.


async def _answered(world: Replicas) -> tuple[UUID, dict[str, tuple[str, ...]]]:
    """An attempt of replica one with every item answered with its first option."""
    attempt_id, items = await world.attempt()
    await world.one.save_answers(world.ctx(), attempt_id, {i: o[0] for i, o in items.items()})
    assert attempt_id in world.one.sheets, "replica one has the sheet cached"
    return attempt_id, items


async def _digest_of(world: Replicas, attempt_id: UUID, answers: dict[str, str]) -> str:
    """The digest a sheet with exactly `answers` has (its form as the attempt was started)."""
    opened = (await SheetCache(world.store, EVENT_LOG).read(attempt_id)).opened
    assert opened is not None
    return world.one.instruments.answer_sheet_digest(world.one.form_of(opened), answers)


async def test_a_completion_counts_an_answer_another_replica_changed_after_the_cached_fold() -> (
    None
):
    world = two_replicas(InMemoryEventStore())
    attempt_id, items = await _answered(world)
    first, options = next(iter(items.items()))
    await world.two.save_answer(world.ctx(), attempt_id, first, options[1])

    completed = await world.one.complete(world.ctx(), attempt_id)

    final = {item: o[0] for item, o in items.items()} | {first: options[1]}
    assert completed.event.answer_sheet.digest == await _digest_of(world, attempt_id, final)
    assert completed.event.answer_sheet.item_count == len(items)


class SavingDuringCompletion(InMemoryEventStore):
    """A store that, once, lets another replica change an answer just before the completion's
    append: the completion read the sheet, and the sheet moved on before it closed it."""

    def __init__(self) -> None:
        super().__init__()
        self.before_closing: Callable[[], Awaitable[object]] | None = None

    async def append_many(self, appends: Sequence[StreamAppend]) -> list[AppendResult]:
        if self.before_closing is not None and any(
            a.stream_id.startswith("attempt-") for a in appends
        ):
            hook, self.before_closing = self.before_closing, None
            await hook()
        return await super().append_many(appends)


async def test_an_answer_saved_while_completing_makes_the_completion_decide_again() -> None:
    store = SavingDuringCompletion()
    world = two_replicas(store)
    attempt_id, items = await _answered(world)
    first, options = next(iter(items.items()))
    store.before_closing = lambda: world.two.save_answer(world.ctx(), attempt_id, first, options[1])

    completed = await world.one.complete(world.ctx(), attempt_id)

    assert store.before_closing is None, "the answer was saved during the completion"
    final = {item: o[0] for item, o in items.items()} | {first: options[1]}
    assert completed.event.answer_sheet.digest == await _digest_of(world, attempt_id, final)
    stored = await store.read_stream(stream_id(attempt_id))
    assert [r.type for r in stored[-2:]] == ["AnswerRecorded", "SheetClosed"], "closed after it"


# Own commits (docs/adr/0113): the transactor tells the sheet cache of each commit made through
# `Transactor.commit`, which folds it in, so a sheet's next read has nothing after the fold to
# decode; anything it was not told of (another replica's write) is decoded as before.


class CountingLog(EventLog):
    """Diagnostics' event log, counting what it decodes."""

    def __init__(self) -> None:
        super().__init__(EVENT_LOG.internal_events, EVENT_LOG.internal_categories)
        self.decoded = 0

    def decode(self, stored: StoredEvent, stream_id: str) -> DomainEvent:
        self.decoded += 1
        return super().decode(stored, stream_id)


def counted(service: DiagnosticsService) -> CountingLog:
    """Give a replica a sheet cache over a counting log, told of its commits as its own is."""
    log = CountingLog()
    service.sheets = SheetCache(service.store, log)
    service.transactor.on_append(service.sheets.appended)
    return log


async def test_a_sheet_read_after_own_saves_decodes_nothing_and_folds_as_the_store_reads(
    tmp_path: Path,
) -> None:
    async with await SqliteEventStore.open(tmp_path / "diagnostics.sqlite3") as store:
        world = two_replicas(store)
        one, two = counted(world.one), counted(world.two)
        attempt_id, items = await world.attempt()  # started on replica one
        answers = {item: options[0] for item, options in items.items()}
        await world.one.save_answers(world.ctx(), attempt_id, answers)

        mine = await world.one.sheets.read(attempt_id)
        theirs = await world.two.sheets.read(attempt_id)

        assert one.decoded == 0, "the opening and the answers were replica one's own commits"
        assert two.decoded == len(items) + 1, "replica two was told of none of them"
        assert mine == theirs
        completed = await world.one.complete(world.ctx(), attempt_id)
        assert one.decoded == 0
        stored = await EVENT_LOG.read(store, attempt.stream_id(attempt_id))
        assert completed.event == stored.events[-1], "the completion answers what it committed"
        assert completed.event.answer_sheet.digest == await _digest_of(world, attempt_id, answers)


class CountingReads(InMemoryEventStore):
    """A store that counts reads of answer sheets."""

    def __init__(self) -> None:
        super().__init__()
        self.sheet_reads = 0

    async def read_stream(
        self,
        stream_id: str,
        from_version: int | None = None,
        *,
        backwards: bool = False,
        limit: int | None = None,
    ) -> list[RecordedEvent]:
        if stream_id.startswith("answersheet-"):
            self.sheet_reads += 1
        return await super().read_stream(stream_id, from_version, backwards=backwards, limit=limit)


async def test_saves_on_a_fold_this_process_keeps_up_to_date_read_no_sheet() -> None:
    """Its own commits fold into the cache (`on_append`, on any store), so a save decides on
    the fold and appends at its exact version without reading the sheet (docs/adr/0113); one
    the store refuses (another replica wrote meanwhile) reads the tail, and is decided again."""
    store = CountingReads()
    world = two_replicas(store)
    attempt_id, items = await world.attempt()
    (first, options), (second, seconds) = list(items.items())[:2]
    store.sheet_reads = 0
    ctx = world.ctx()
    assert (await world.one.save_answer(ctx, attempt_id, first, options[0])).recorded
    assert (await world.one.save_answer(ctx, attempt_id, second, seconds[0])).recorded
    assert store.sheet_reads == 0, "the fold started with the opening and took each save"
    assert await world.version(attempt_id) == 2
    # Nothing to record on the fold: checked on the stream (another replica may have saved).
    assert not (await world.one.save_answer(ctx, attempt_id, first, options[0])).recorded
    assert store.sheet_reads == 1

    assert (await world.two.save_answer(ctx, attempt_id, first, options[1])).recorded
    store.sheet_reads = 0
    assert (await world.one.save_answer(ctx, attempt_id, second, seconds[1])).recorded
    assert store.sheet_reads == 1, "refused at the fold's version: the tail read once"
    assert (await world.one.save_answer(ctx, attempt_id, first, options[0])).recorded
    assert store.sheet_reads == 1, "caught up again: no read"
    sheet = await SheetCache(store, EVENT_LOG).read(attempt_id)
    assert sheet == world.one.sheets.cached(attempt_id), "the fold is the stream's"


async def test_a_refusal_on_the_kept_fold_is_decided_again_on_the_stream(
    replicas: Replicas,
) -> None:
    """Replica one's fold is open, replica two closed the sheet, the time limit has passed:
    refused on the fold (the deadline), the save is decided again on the stream and answers
    as a read would, that the attempt is completed (docs/adr/0113)."""
    attempt_id, items = await replicas.attempt()
    for item, options in items.items():
        await replicas.one.save_answer(replicas.ctx(), attempt_id, item, options[0])
    await replicas.two.complete(replicas.ctx(), attempt_id)
    clock = replicas.one.clock
    assert isinstance(clock, Clock)
    clock.advance(days=1)
    first, options = next(iter(items.items()))
    with pytest.raises(AttemptCompleted):
        await replicas.one.save_answer(replicas.ctx(), attempt_id, first, options[1])


async def test_a_fold_at_the_openings_version_is_newer_than_no_sheet() -> None:
    """Version 0 is the opening's, not "none": a fold at it replaces one of no sheet (None),
    and one of no sheet never replaces it. (`_keep` directly: no read or commit keeps a fold of
    no sheet, so only its order is tested here.)"""
    store = InMemoryEventStore()
    world = two_replicas(store)
    attempt_id, _ = await world.attempt()
    opened = await SheetCache(store, EVENT_LOG).read(attempt_id)
    assert opened.version == 0
    cache = SheetCache(store, EVENT_LOG)
    nothing = SheetSnapshot(initial(attempt_id))

    cache._keep(attempt_id, nothing)
    cache._keep(attempt_id, opened)
    assert cache.cached(attempt_id) == opened, "the opening's fold replaced no sheet"
    cache._keep(attempt_id, nothing)
    assert cache.cached(attempt_id) == opened, "no sheet did not replace the opening's fold"


# Saves of one sheet at once in one process (docs/adr/0113): each decides on the kept fold and
# appends at its exact version; all but one are refused by the store and decided again on the
# stream. None is lost, each written answer is audited once, and the fold stays the stream's.


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
async def test_saves_of_one_sheet_at_once_all_land_on_the_kept_fold(
    tmp_path: Path, kind: str
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        store: EventStore = InMemoryEventStore()
        if kind == "sqlite":
            store = await stack.enter_async_context(
                await SqliteEventStore.open(tmp_path / "diagnostics.sqlite3")
            )
        world = two_replicas(store)
        attempt_id, items = await world.attempt()
        audit = world.one.audit
        assert isinstance(audit, InMemoryAuditLog)
        ctx = world.ctx()
        opened_at, audited = await world.version(attempt_id), len(audit.records)
        assert opened_at is not None

        saved = await asyncio.gather(
            *(world.one.save_answer(ctx, attempt_id, i, o[0]) for i, o in items.items())
        )
        (first, options) = next(iter(items.items()))
        # One item, its answer changed back and forth at once: some may be "the same again".
        changed = await asyncio.gather(
            *(world.one.save_answer(ctx, attempt_id, first, options[k % 2]) for k in range(6))
        )

        assert all(s.recorded for s in saved), "every item's answer was recorded"
        written = (await world.version(attempt_id) or 0) - opened_at
        assert written == len(items) + sum(s.recorded for s in changed)
        assert len(audit.records) - audited == written, "each written answer audited once"
        fresh = await SheetCache(store, EVENT_LOG).read(attempt_id)
        assert world.one.sheets.cached(attempt_id) == fresh, "the kept fold is the stream's"
        assert set(fresh.latest) == set(items)


class LosingTheAnswer(InMemoryEventStore):
    """A store that commits an answer's append, then, once, loses the answer (the connection
    dropped after the commit): the kernel sends the same append again."""

    def __init__(self) -> None:
        super().__init__()
        self.lose_next = False
        self.first_result: list[AppendResult] | None = None
        self.sent: list[Sequence[StreamAppend]] = []

    async def append_many(self, appends: Sequence[StreamAppend]) -> list[AppendResult]:
        self.sent.append(appends)
        results = await super().append_many(appends)
        if self.lose_next and any(a.stream_id.startswith("answersheet-") for a in appends):
            self.lose_next, self.first_result = False, results
            raise ConnectionResetError("the answer of a committed append was lost")
        return results


async def test_an_exact_save_sent_again_after_an_unknown_outcome_is_written_once() -> None:
    """A save on the kept fold whose commit's answer was lost is sent again unchanged (the same
    event ids): the store answers with the original result, nothing is written twice, and the
    save is reported once, audited once, with the fold the stream's."""
    store = LosingTheAnswer()
    world = two_replicas(store)
    attempt_id, items = await world.attempt()
    audit = world.one.audit
    assert isinstance(audit, InMemoryAuditLog)
    assert world.one.sheets.cached(attempt_id) is not None, "the save decides on the kept fold"
    (first, options) = next(iter(items.items()))
    before, audited = await world.version(attempt_id), len(audit.records)
    store.lose_next = True

    saved = await world.one.save_answer(world.ctx(), attempt_id, first, options[1])

    assert saved.recorded
    assert store.first_result is not None, "the first append was committed, its answer lost"
    first_try, resent = store.sent[-2:]
    assert resent == first_try, "sent again unchanged (the same event ids)"
    assert first_try[0].expected_version == before, "appended at the kept fold's exact version"
    stored = await store.read_stream(stream_id(attempt_id))
    assert len(stored) == (before or 0) + 2, "the answer is written once"
    assert stored[-1].version == store.first_result[0].version
    assert len(audit.records) - audited == 1
    fresh = await SheetCache(store, EVENT_LOG).read(attempt_id)
    assert world.one.sheets.cached(attempt_id) == fresh
    assert fresh.latest[first] == (await EVENT_LOG.read(store, stream_id(attempt_id))).events[-1]
