"""The audit records of a save and a completion (docs/adr/0111): written with the commit through
`Attempt.audit`, so a save that writes an answer gives exactly one WRITE record (however many
answers it writes), and a completion exactly one READ of the answers it scored; a save that writes
nothing (the same answer again) and a refused save or completion give none."""

from uuid import UUID

import pytest

from bilet.audit import Access, AuditRecord, InMemoryAuditLog
from bilet.eventstore.memory import InMemoryEventStore
from bilet_diagnostics.domain.errors import (
    AttemptCompleted,
    IncompleteSheet,
    TimeLimitPassed,
    UnknownAttempt,
    UnknownItem,
    UnknownOption,
)
from bilet_diagnostics.testing import REGION, SCHOOL_3, Clock
from services.diagnostics.tests.unit.test_sheet_cache import Replicas, two_replicas


class Trail:
    """The records replica one's audit log got since the last look."""

    def __init__(self, world: Replicas) -> None:
        log = world.one.audit
        assert isinstance(log, InMemoryAuditLog)
        self.log = log
        self.seen = len(log.records)

    def new(self) -> list[AuditRecord]:
        records, self.seen = self.log.records[self.seen :], len(self.log.records)
        return records


def _as(records: list[AuditRecord]) -> list[tuple[Access, str, str, tuple[str, ...]]]:
    return [(r.access, r.subject, r.purpose, r.fields) for r in records]


async def test_a_save_is_audited_once_when_it_writes_and_never_when_it_writes_nothing() -> None:
    world = two_replicas(InMemoryEventStore())
    attempt_id, items = await world.attempt()
    (first, options), (second, others), (third, _) = list(items.items())[:3]
    ctx = world.ctx()
    trail = Trail(world)
    write = (Access.WRITE, str(world.pupil), "answer", ("option",))

    assert (await world.one.save_answer(ctx, attempt_id, first, options[0])).recorded
    assert _as(trail.new()) == [write], "a new answer: one WRITE"
    assert not (await world.one.save_answer(ctx, attempt_id, first, options[0])).recorded
    assert trail.new() == [], "the same answer again writes nothing: no record"

    # Several answers in one save (one the same again): one commit, one record.
    recorded, _, _ = await world.one.save_answers(
        ctx, attempt_id, {first: options[0], second: others[0], third: others[0]}
    )
    assert recorded == 2
    assert _as(trail.new()) == [write]
    recorded, _, _ = await world.one.save_answers(ctx, attempt_id, {first: options[0]})
    assert (recorded, trail.new()) == (0, [])

    # Refused saves (nothing written): no record.
    with pytest.raises(UnknownOption):
        await world.one.save_answer(ctx, attempt_id, first, "no such option")
    with pytest.raises(UnknownItem):
        await world.one.save_answer(ctx, attempt_id, "no such item", options[0])
    with pytest.raises(UnknownOption):  # one refused answer refuses the whole save
        await world.one.save_answers(ctx, attempt_id, {first: options[1], second: "no such option"})
    stranger = UUID("5a5a5a5a-0000-4000-8000-00000000abcd")
    world.facts.add_pupil(stranger, SCHOOL_3, REGION)
    with pytest.raises(UnknownAttempt):  # another pupil's attempt
        await world.one.save_answer(world.ctx(stranger), attempt_id, first, options[1])
    clock = world.one.clock
    assert isinstance(clock, Clock)
    clock.advance(days=1)
    with pytest.raises(TimeLimitPassed):
        await world.one.save_answer(ctx, attempt_id, first, options[1])
    assert trail.new() == []


async def test_a_completion_is_audited_once_as_a_read_of_the_answers_it_scored() -> None:
    world = two_replicas(InMemoryEventStore())
    attempt_id, items = await world.attempt()
    ctx = world.ctx()
    first, options = next(iter(items.items()))
    await world.one.save_answer(ctx, attempt_id, first, options[0])
    trail = Trail(world)

    with pytest.raises(IncompleteSheet):  # refused: nothing scored, nothing written
        await world.one.complete(ctx, attempt_id)
    assert trail.new() == []

    await world.one.save_answers(ctx, attempt_id, {i: o[0] for i, o in items.items()})
    trail.new()
    await world.one.complete(ctx, attempt_id)
    assert _as(trail.new()) == [(Access.READ, str(world.pupil), "answers_scored", ("option",))]

    with pytest.raises(AttemptCompleted):  # completed already: refused, no record
        await world.one.complete(ctx, attempt_id)
    with pytest.raises(AttemptCompleted):
        await world.one.save_answer(ctx, attempt_id, first, options[1])
    assert trail.new() == []
