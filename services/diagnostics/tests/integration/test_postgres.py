"""Against the real PostgreSQL (production): the diagnostics store in a schema of its own for
this test, through a whole attempt, with the cohort's load on one sheet: 50 answers saved at
once to one attempt, none lost."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest

from bilet.application import RequestContext
from bilet.audit import EventStoreAuditLog
from bilet.contracts.vocabulary import Stage
from bilet.crypto import InMemoryKeyStore
from bilet.eventstore.postgres import PostgresEventStore
from bilet.http import Role
from bilet.http.auth import Principal
from bilet.pgschema import drop_schema
from bilet_diagnostics.adapters.instruments import load_instruments
from bilet_diagnostics.application.service import DiagnosticsService
from bilet_diagnostics.application.sheets import SheetCache
from bilet_diagnostics.domain.errors import AttemptCompleted
from bilet_diagnostics.testing import REGION, SCHOOL_3, STAGES, Clock, StaticFacts, Window

pytestmark = pytest.mark.integration

PARALLEL = 50


@dataclass
class World:
    service: DiagnosticsService
    pupil: uuid.UUID
    clock: Clock
    other: DiagnosticsService  # a second replica over the same store and key store

    def ctx(self) -> RequestContext:
        return RequestContext(Principal("pupil", Role.PUPIL, participant_id=str(self.pupil)))


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    schema = f"t_diagnostics_{uuid.uuid4().hex[:10]}"
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(drop_schema, database_url, schema)
        store = await PostgresEventStore.open(database_url, schema=schema)
        stack.push_async_callback(store.close)
        facts = StaticFacts()
        facts.rules[2019] = STAGES
        facts.windows.append(Window(REGION, 2019, STAGES, date(2019, 10, 11), date(2019, 10, 31)))
        pupil = uuid.uuid4()
        facts.add_pupil(pupil, SCHOOL_3, REGION)
        clock = Clock(datetime(2019, 10, 15, 10, tzinfo=UTC))
        keystore = InMemoryKeyStore()

        def replica() -> DiagnosticsService:
            return DiagnosticsService(
                store, keystore, facts, load_instruments(), EventStoreAuditLog(store), clock=clock
            )

        yield World(replica(), pupil, clock, replica())


async def test_fifty_parallel_saves_to_one_attempt_lose_none(world: World) -> None:
    service, ctx = world.service, world.ctx()
    attempt_id, _ = await service.start(ctx, world.pupil, Stage.INTERESTS)
    items = (await service.attempt_view(ctx, attempt_id)).items
    options = {item.item_id: item.choices[n % 2].option_id for n, item in enumerate(items)}
    first, rest = list(options)[:PARALLEL], list(options)[PARALLEL:]

    saved = await asyncio.gather(
        *(service.save_answer(ctx, attempt_id, item, options[item]) for item in first)
    )
    assert all(s.recorded for s in saved)
    view = await service.attempt_view(ctx, attempt_id)
    assert {i.item_id: i.answer for i in view.items if i.answered} == {
        item: options[item] for item in first
    }, "every one of the parallel saves is there"

    for item in rest:
        await service.save_answer(ctx, attempt_id, item, options[item])
    completion = await service.complete(ctx, attempt_id)
    assert completion.event.answer_sheet.item_count == len(options)
    (outcome,) = (await service.results(ctx, world.pupil)).stages
    assert outcome.reproduced is True


async def test_a_save_racing_the_completion_is_scored_or_refused_never_lost(world: World) -> None:
    service, ctx = world.service, world.ctx()
    attempt_id, _ = await service.start(ctx, world.pupil, Stage.INTERESTS)
    items = [item.item_id for item in (await service.attempt_view(ctx, attempt_id)).items]
    for item in items:
        await service.save_answer(ctx, attempt_id, item, "a" if item.startswith("ddo") else "0")

    async def change(item: str) -> bool:
        try:
            await service.save_answer(ctx, attempt_id, item, "b")
        except AttemptCompleted:
            return False
        return True

    completing = asyncio.create_task(service.complete(ctx, attempt_id))
    accepted = await asyncio.gather(*(change(item) for item in items[:10]))
    completion = await completing
    (outcome,) = (await service.results(ctx, world.pupil)).stages
    sheet = await service.sheet_answers(
        await service.transactor.attempt().read(f"answersheet-{attempt_id}")
    )
    for item, ok in zip(items[:10], accepted, strict=True):
        # An answer the pupil was told is saved is the one scored; a refused one is not.
        assert sheet.answers[item] == ("b" if ok else "a")
    assert outcome.reproduced is True
    assert completion.event.answer_sheet.item_count == len(items)


async def test_two_replicas_saving_to_one_sheet_each_see_the_others_answers(world: World) -> None:
    """Each replica decides a save on the fold it keeps and appends at its version
    (docs/adr/0113): the other's saves meanwhile make the store refuse it, and it decides again
    on the stream. In turns and at once, every save lands and each replica's fold is the
    stream's."""
    one, two, ctx = world.service, world.other, world.ctx()
    attempt_id, _ = await one.start(ctx, world.pupil, Stage.INTERESTS)
    items = (await one.attempt_view(ctx, attempt_id)).items
    choices = {item.item_id: [c.option_id for c in item.choices] for item in items}
    ids = list(choices)
    for n, item in enumerate(ids[:10]):  # in turns: each save follows the other replica's
        replica = one if n % 2 else two
        assert (await replica.save_answer(ctx, attempt_id, item, choices[item][0])).recorded
        other = two if n % 2 else one
        # The same answer again, on the replica that did not write it: nothing to record.
        assert not (await other.save_answer(ctx, attempt_id, item, choices[item][0])).recorded
    saved = await asyncio.gather(
        *(
            (one if n % 2 else two).save_answer(ctx, attempt_id, item, choices[item][1])
            for n, item in enumerate(ids[:20])
        )
    )
    assert all(s.recorded for s in saved), "each changed its item's answer"
    for item in ids[20:]:
        await two.save_answer(ctx, attempt_id, item, choices[item][0])
    expected = {item: choices[item][1 if n < 20 else 0] for n, item in enumerate(ids)}
    for replica in (one, two):
        view = await replica.attempt_view(ctx, attempt_id)
        assert {i.item_id: i.answer for i in view.items} == expected
        # The kept fold (its own saves folded in without a read) caught up with the stream is
        # the stream's whole fold.
        fresh = SheetCache(replica.store, replica.transactor.log)
        assert await replica.sheets.read(attempt_id) == await fresh.read(attempt_id)
    completion = await one.complete(ctx, attempt_id)
    assert completion.event.answer_sheet.item_count == len(ids)
    with pytest.raises(AttemptCompleted):
        await two.save_answer(ctx, attempt_id, ids[0], choices[ids[0]][0])
