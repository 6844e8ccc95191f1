"""The engine every feed shares: apply a batch of one partition's events in one transaction, with
the checkpoint, exactly once in effect.

For each batch of one feed partition (a Kafka topic-partition, or an event store):
1. lock the stored checkpoint and compare it with the one the feed started the batch from; if
   someone else moved it (a zombie consumer after a rebalance, a rebuild switching tables), apply
   nothing and report `Moved`, so the feed re-reads from the stored checkpoint;
2. per event, by the stream's last applied version: skip a duplicate (version <= applied), stop
   at a gap (version > applied + 1) and report `Gap` with the checkpoint just before it, else
   apply;
3. store the applied versions and the new checkpoint, then commit: change and checkpoint
   together or neither.

A stream is applied in version order without holes, or not at all: from its first event that
cannot be applied (a gap that re-reading did not heal, or an event the projection keeps failing
on), the stream is *parked*, and that event and every later one of the stream go to the dead
letters. Other streams carry on. `ReadModel.unpark` lets an operator resume a repaired stream.

If the projection raises, the batch is rolled back and its events are applied one per
transaction (a batch the Kafka feed joined from several polls is first retried poll by poll,
ADR 0096); an event that fails `attempts` times on its own is dead-lettered (kind `failed`).
Errors the read model calls transient (a lost connection) are never dead-lettered: they reach
the feed, which retries from the stored checkpoint.
"""

import asyncio
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol, assert_never

from bilet.eventstore import RecordedEvent
from bilet.projections.metrics import ProjectionMetrics
from bilet.projections.port import Projection, ReadModelTx
from bilet.projections.readmodel import Checkpoint, Layout, ReadModel, layout_of

_log = logging.getLogger(__name__)


@dataclass(slots=True)
class Delivery:
    """One record of a feed partition: the event (None when the record is not one), where it sits
    (`offset`), and the checkpoint once it is handled (`resume`: the next Kafka offset, or the
    event's store position). Nothing changes a delivery once built; it is not a frozen dataclass
    only because the Kafka feed builds one per record and a frozen one's `__init__` (one
    `object.__setattr__` per field) costs about four times as much (ADR 0074)."""

    event: RecordedEvent | None
    offset: int
    resume: int
    record: Any = field(default=None, compare=False)
    problem: str = ""


@dataclass(frozen=True, slots=True)
class Applied:
    checkpoint: int


@dataclass(frozen=True, slots=True)
class Gap:
    """Stopped before `delivery`: its stream's applied version is `applied`, its own is higher
    than the next one. Everything before it is committed (`checkpoint`)."""

    checkpoint: int
    delivery: Delivery
    applied: int

    @property
    def reason(self) -> str:
        assert self.delivery.event is not None
        return (
            f"version gap in {self.delivery.event.stream_id}: "
            f"applied {self.applied}, got {self.delivery.event.version}"
        )


@dataclass(frozen=True, slots=True)
class Moved:
    """The stored checkpoint is not the one the batch started from: nothing was applied."""

    stored: int | None


Outcome = Applied | Gap | Moved


class DeadLetterSink(Protocol):
    async def __call__(
        self,
        tx: ReadModelTx,
        feed: str,
        part: int,
        delivery: Delivery,
        kind: str,
        reason: str,
    ) -> None: ...


class TableDeadLetters:
    """Dead letters into the read model's own table, in the batch's transaction (embedded)."""

    def __init__(self, read_model: ReadModel, key: str) -> None:
        self._read_model = read_model
        self._key = key

    async def __call__(
        self,
        tx: ReadModelTx,
        feed: str,
        part: int,
        delivery: Delivery,
        kind: str,
        reason: str,
    ) -> None:
        event = delivery.event
        values: tuple[object, ...] = (None,) * 8
        if event is not None:
            values = (
                event.stream_id,
                event.version,
                event.position,
                str(event.event_id),
                event.type,
                event.data,
                event.metadata,
                event.recorded_at.isoformat(),
            )
        await self._read_model.record_dead_letter(
            tx, self._key, feed, part, delivery.offset, values, kind, reason
        )


class ProjectionFailed(Exception):
    """The projection raised (or its writes failed) for reasons of its own."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause


class _Step(Enum):
    """What `_transact` does with one event of a batch."""

    DUPLICATE = "duplicate"  # applied before: counted and skipped
    PARKED = "parked"  # its stream is parked: dead-lettered
    GIVEN_UP = "given up"  # the feed's verdict: dead-lettered, and its stream parked
    GAP = "gap"  # an earlier version of its stream is missing: the batch stops before it
    APPLY = "apply"


def _step_for(version: int, applied: int, *, parked: bool, given_up: bool) -> _Step:
    """The step for an event at `version` of a stream applied up to `applied`. The order of the
    checks is the rule: a duplicate is only counted, even on a parked stream or with a verdict;
    a parked stream takes no verdict of its own; a verdict is carried out even at a gap (a gap
    that re-reading did not heal is what it was given for)."""
    if version <= applied:
        return _Step.DUPLICATE
    if parked:
        return _Step.PARKED
    if given_up:
        return _Step.GIVEN_UP
    if version > applied + 1:
        return _Step.GAP
    return _Step.APPLY


def split_polls(
    deliveries: Sequence[Delivery], starts: Collection[int]
) -> list[Sequence[Delivery]]:
    """A joined batch (ADR 0093) back in its polls: cut before each delivery whose offset is in
    `starts` (a later poll's first offset); empty parts are left out. Offsets only grow in a
    batch, so the parts keep its order."""
    if not starts:
        return [deliveries]
    polls: list[Sequence[Delivery]] = []
    begin = 0
    for index, delivery in enumerate(deliveries):
        if index > begin and delivery.offset in starts:
            polls.append(deliveries[begin:index])
            begin = index
    if begin < len(deliveries):
        polls.append(deliveries[begin:])
    return polls


@dataclass
class _Tally:
    applied: int = 0
    duplicates: int = 0
    dead: dict[str, int] = field(default_factory=dict)


class Projector:
    """Applies one projection (live, or its shadow during a rebuild) to one read model."""

    def __init__(
        self,
        read_model: ReadModel,
        projection: Projection,
        *,
        dead_letters: DeadLetterSink | None = None,
        metrics: ProjectionMetrics | None = None,
        shadow: bool = False,
        attempts: int = 3,
        retry_delay: float = 0.05,
    ) -> None:
        self.read_model = read_model
        self.projection = projection
        self.layout: Layout = layout_of(projection, read_model.dialect, shadow=shadow)
        self.metrics = metrics or ProjectionMetrics()
        self.dead_letters = dead_letters or TableDeadLetters(read_model, self.layout.key)
        self.attempts = attempts
        self.retry_delay = retry_delay
        self._parked: set[tuple[str, str]] = set()  # (source, stream id)
        name = projection.name
        self._applied = self.metrics.applied.labels(name)
        self._duplicates = self.metrics.duplicates.labels(name)

    @property
    def key(self) -> str:
        return self.layout.key

    async def install(self) -> None:
        await self.read_model.install(self.projection, shadow=self.layout.shadow)

    async def resume_points(self, feed: str, parts: Sequence[int], source: str) -> dict[int, int]:
        """Where each partition resumes (stored checkpoints; new partitions start at 0)."""
        points = await self.read_model.ensure_checkpoints(self.key, feed, parts, source)
        await self.reload_parked()
        return points

    async def reload_parked(self) -> None:
        self._parked = {(p.source, p.stream_id) for p in await self.read_model.parked(self.key)}

    async def apply(
        self,
        feed: str,
        part: int,
        expected: int,
        deliveries: Sequence[Delivery],
        give_up: Mapping[int, tuple[str, str]] | None = None,
        *,
        polls_from: Collection[int] = (),
    ) -> Outcome:
        """Apply a partition's deliveries, in order, from checkpoint `expected`.

        `give_up` names deliveries (by offset) to dead-letter instead of applying, with their
        kind and reason: the feed's verdict on a gap that re-reading did not heal.
        `polls_from`: the offsets at which the later polls of a joined batch begin (ADR 0093).
        When the batch fails, each poll is retried as its own transaction first, and only a
        poll that fails alone is applied one event at a time (ADR 0096)."""
        verdicts = dict(give_up or {})
        try:
            return await self._transact(feed, part, expected, deliveries, verdicts)
        except ProjectionFailed as failure:
            _log.info("projection %s failed in a batch (%s); poll by poll", self.key, failure)
        polls = split_polls(deliveries, polls_from)
        if len(polls) == 1:
            return await self._one_by_one(feed, part, expected, deliveries, verdicts)
        outcome: Outcome = Applied(expected)
        for poll in polls:
            try:
                outcome = await self._transact(feed, part, expected, poll, verdicts)
            except ProjectionFailed as failure:
                _log.info("projection %s failed in a poll (%s); one by one", self.key, failure)
                outcome = await self._one_by_one(feed, part, expected, poll, verdicts)
            if not isinstance(outcome, Applied):
                return outcome
            expected = outcome.checkpoint
        return outcome

    async def _one_by_one(
        self,
        feed: str,
        part: int,
        expected: int,
        deliveries: Sequence[Delivery],
        verdicts: dict[int, tuple[str, str]],
    ) -> Outcome:
        """Each delivery in a transaction of its own, `attempts` times; one that still fails is
        dead-lettered and its stream parked."""
        outcome: Outcome = Applied(expected)
        for delivery in deliveries:
            for attempt in range(1, self.attempts + 1):
                try:
                    outcome = await self._transact(feed, part, expected, [delivery], verdicts)
                    break
                except ProjectionFailed as failure:
                    reason = str(failure)
                    if attempt < self.attempts:
                        await asyncio.sleep(self.retry_delay * attempt)
            else:
                _log.warning(
                    "projection %s gives up on %s offset %d: %s",
                    self.key,
                    feed,
                    delivery.offset,
                    reason,
                )
                verdicts[delivery.offset] = (
                    "failed",
                    f"projection failed {self.attempts} times: {reason}",
                )
                outcome = await self._transact(feed, part, expected, [delivery], verdicts)
            if not isinstance(outcome, Applied):
                return outcome
            expected = outcome.checkpoint
        return outcome

    async def _transact(
        self,
        feed: str,
        part: int,
        expected: int,
        deliveries: Sequence[Delivery],
        verdicts: Mapping[int, tuple[str, str]],
    ) -> Outcome:
        read_model = self.read_model
        tally = _Tally()
        parked_now: set[tuple[str, str]] = set()
        async with read_model.transaction(self.layout.renderer) as tx:
            stored, versions = await read_model.lock_batch(
                tx,
                self.layout,
                self.key,
                feed,
                part,
                {d.event.stream_id for d in deliveries if d.event is not None},
            )
            if stored is None or stored.next_offset != expected:
                return Moved(None if stored is None else stored.next_offset)
            source = stored.source
            changed: dict[str, tuple[str, int, int]] = {}
            checkpoint, position = expected, stored.position
            outcome: Outcome | None = None
            apply, parked, applied_count, duplicates = self.projection.apply, self._parked, 0, 0
            # Nothing parked and no verdicts (the usual batch): an event at the next version of
            # its stream is applied without asking `_step_for`.
            plain = not parked and not verdicts
            for delivery in deliveries:
                event = delivery.event
                if event is None:
                    await self._dead_letter(
                        tx, feed, part, delivery, "malformed", delivery.problem, tally
                    )
                    checkpoint = delivery.resume
                    continue
                stream_id, version = event.stream_id, event.version
                applied = versions.get(stream_id, -1)
                if plain and version == applied + 1:
                    step = _Step.APPLY
                else:
                    step = _step_for(
                        version,
                        applied,
                        parked=(source, stream_id) in parked or (source, stream_id) in parked_now,
                        given_up=delivery.offset in verdicts,
                    )
                match step:
                    case _Step.APPLY:
                        try:
                            await apply(tx, event)
                        except Exception as error:
                            if read_model.is_transient(error):
                                raise
                            raise ProjectionFailed(error) from error
                        versions[stream_id] = version
                        changed[stream_id] = (stream_id, version, event.position)
                        applied_count += 1
                    case _Step.DUPLICATE:
                        duplicates += 1
                    case _Step.PARKED:
                        await self._dead_letter(
                            tx, feed, part, delivery, "parked", "stream is parked", tally
                        )
                    case _Step.GIVEN_UP:
                        kind, reason = verdicts[delivery.offset]
                        await self._dead_letter(tx, feed, part, delivery, kind, reason, tally)
                        await read_model.park(tx, self.key, source, stream_id, version, reason)
                        parked_now.add((source, stream_id))
                    case _Step.GAP:
                        outcome = Gap(checkpoint, delivery, applied)
                        break
                    case unhandled:
                        assert_never(unhandled)
                if event.position > position:
                    position = event.position
                checkpoint = delivery.resume
            tally.applied, tally.duplicates = applied_count, duplicates
            try:
                await tx.settle()  # the projection's work gathered over the batch (ADR 0060)
                await tx.flush()
            except Exception as error:
                if read_model.is_transient(error):
                    raise
                raise ProjectionFailed(error) from error
            await read_model.record_batch(
                tx,
                self.layout,
                self.key,
                feed,
                part,
                source,
                list(changed.values()),
                Checkpoint(checkpoint, position),
                tx.changes,
            )
        self._parked |= parked_now
        self._count(tally, feed, part, position)
        read_model.announce(self.key, tx.changes)
        return outcome or Applied(checkpoint)

    async def _dead_letter(
        self,
        tx: ReadModelTx,
        feed: str,
        part: int,
        delivery: Delivery,
        kind: str,
        reason: str,
        tally: _Tally,
    ) -> None:
        await self.dead_letters(tx, feed, part, delivery, kind, reason)
        tally.dead[kind] = tally.dead.get(kind, 0) + 1

    def _count(self, tally: _Tally, feed: str, part: int, position: int) -> None:
        if tally.applied:
            self._applied.inc(tally.applied)
        if tally.duplicates:
            self._duplicates.inc(tally.duplicates)
        for kind, count in tally.dead.items():
            self.metrics.dead_letters.labels(self.projection.name, kind).inc(count)
        self.metrics.position.labels(self.key, feed, str(part)).set(position)
