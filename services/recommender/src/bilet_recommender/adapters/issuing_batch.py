"""The faust worker's issuing step over a batch of facts (ADR 0047): what `worker.py` runs for
each batch its agent takes from the repartition topic, without faust in it (tests drive it with a
dict for the table).

Per batch, not per fact (the costs the worker's profile showed, ADR 0047):
- the facts are grouped by participant; a participant's facts are folded in their order of
  delivery, the participants side by side (their streams and table keys are disjoint);
- each participant's `Held` is read from the table once and written once, after the batch;
- the stream of sets is read once per participant (`Pending.read`); the catalogue's rows once
  per region and attended event, kept across batches until an offer changes (`KeptCatalogue`,
  ADR 0104);
- the sets decided wait in a `Pending` and are appended in one commit, before any evidence is
  written back: a crash in between redelivers the batch, whose sets are the same derived ids
  (the store's idempotent retry), as one fact at a time did.

The domain step is `Issuing.apply`, the one the embedded runtime runs per fact.
"""

import asyncio
import contextlib
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from bilet.eventstore import EventStore, RecordedEvent
from bilet.projections import ReadModel
from bilet_recommender.adapters.evidence_projection import (
    OFFERS_CHANGED,
    PROJECTION,
    Built,
    QueryReads,
    TxCatalogue,
    built_once,
)
from bilet_recommender.application.issuing import Issuing, Pending
from bilet_recommender.domain import evidence as evidence_fold
from bilet_recommender.domain.evidence import Evidence, Fact
from bilet_recommender.domain.offers import Opportunities

# How long the worker keeps the catalogue's rows at most, however little it heard (ADR 0104).
KEPT_AT_MOST_SECONDS: Final = 30.0


class Held(BaseModel):
    """What the worker's table holds per participant: the evidence, and the version of each
    stream it last took a fact from. At least once means a crash redelivers from the last
    committed offset, so facts already folded come again after later ones; the evolve of
    `Evidence` is idempotent for one fact but not for a replayed sequence (a seat booked again
    after it was attended, a consent verified again after its withdrawal). As the kernel's
    projections do (ADR 0008), a fact at or below its stream's version is left aside: each
    stream reaches a participant's partition in version order (one source partition per stream,
    one repartition key per participant)."""

    model_config = ConfigDict(frozen=True)

    evidence: Evidence
    versions: dict[str, int] = Field(default_factory=dict)

    def first_delivery(self, stream_id: str, version: int) -> bool:
        return version > self.versions.get(stream_id, -1)

    def after(self, stream_id: str, version: int, evidence: Evidence) -> str:
        """The JSON the table keeps after the fact at `version` of `stream_id`."""
        return self.taken(stream_id, version, evidence).model_dump_json()

    def taken(self, stream_id: str, version: int, evidence: Evidence) -> "Held":
        """What is held once the fact at `version` of `stream_id` gave `evidence`."""
        return Held(evidence=evidence, versions={**self.versions, stream_id: version})


@dataclass(frozen=True)
class Delivered:
    """A fact about a participant as it came off the repartition topic."""

    recorded: RecordedEvent
    fact: Fact


@dataclass
class BatchOutcome:
    """What a batch did: the table's new values (participant key → `Held` JSON, only those that
    changed), facts folded, facts left aside as redelivered, sets appended."""

    saved: dict[str, str] = field(default_factory=dict)
    folded: int = 0
    redelivered: int = 0
    issued: int = 0


class KeptCatalogue:
    """The read model's catalogue for the issuing step, its rows read once and kept, parsed,
    from batch to batch until an offer changes (ADR 0104; ADR 0047 read it once per batch).

    The read side applies every change of an offer: coordinators' and organisers' writes, and
    every booking and cancelled booking (a career event's seats), which come far more often. A
    transaction that writes an offer names `OFFERS_CHANGED`, and once it commits the read
    model's change signals tell this process (at once for its own read side, and again by its
    own NOTIFY; by NOTIFY for another process's on PostgreSQL; `None`, "anything may have
    changed", when a rebuild switched tables or the listening connection was lost). Hearing it
    drops every row kept, of every region. A read in flight when it comes lands in the rows
    dropped with it, not in the next ones. Rows are kept `at_most` seconds (`next_batch`). What
    a set is offered is therefore as old as the read side's lag plus the signal's way, as
    reading per batch made it as old as the lag plus the batch. The gain is largest between
    offer changes; while bookings come, the rows may be read again up to once per batch, as
    before, each region once (`TxCatalogue` makes a batch's sets of one region wait for one
    read).

    A read model that does not hear other processes (SQLite) keeps nothing across batches.
    `opportunities` is built per (region, attended events, moment) in a row, within a batch, and
    only the last per region is kept (`built_once`)."""

    def __init__(
        self,
        read_model: ReadModel,
        *,
        at_most: float = KEPT_AT_MOST_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.read_model = read_model
        self.keeps = read_model.hears_other_processes
        self.at_most = at_most
        self.clock = clock
        self.rows = TxCatalogue(QueryReads(read_model))
        self.since = clock()  # when the rows kept were dropped last
        self.built: Built = {}
        # Heard "anything may have changed" since the last batch began: the listening
        # connection may have been lost, and what other processes commit until it listens
        # again is heard by no one.
        self.unheard = False
        self._listening = contextlib.ExitStack()
        self._listening.enter_context(read_model.signals.listen(PROJECTION, self.heard))
        self.dropped = 0  # how many times the kept rows were dropped (tests)

    def heard(self, changed: Collection[str] | None) -> None:
        """A commit of the evidence projection: drop the rows if it may have changed an offer."""
        if changed is None:
            self.unheard = True
        if changed is None or OFFERS_CHANGED in changed:
            self.drop()

    def drop(self) -> None:
        self.rows = TxCatalogue(QueryReads(self.read_model))
        self.built = {}
        self.since = self.clock()
        self.dropped += 1

    async def next_batch(self) -> None:
        """Before a batch: listen (again, if the connection was lost), or, where other processes
        are not heard, forget what the last batch read.

        The loss dropped the rows, but the rest of that batch read them again while nothing
        listened: once listening again, they are dropped again (a rebuild's switch, which also
        says "anything", costs one read more). Rows older than `at_most` are dropped too: a
        change no signal named (a worker of an older version writes offers without naming
        `OFFERS_CHANGED`; a connection lost without the client noticing) is seen that late."""
        if self.keeps:
            lost, self.unheard = self.unheard, False
            await self.read_model.signals.ready()
            if lost or self.clock() - self.since >= self.at_most:
                self.drop()
            self.built = {}
        else:
            self.drop()

    def close(self) -> None:
        self._listening.close()

    async def opportunities(
        self, region_id: UUID, attended: Sequence[UUID], as_of: datetime
    ) -> Opportunities:
        return await built_once(self.built, self.rows, region_id, attended, as_of)


async def issue_batch(
    delivered: Sequence[Delivered],
    held_of: Callable[[str], str | None],
    issuing: Issuing,
    store: EventStore,
    catalogue: KeptCatalogue,
) -> BatchOutcome:
    """Fold and issue a batch; the sets are appended when this returns, the table's values are
    the caller's to write (`held_of`: what the table holds for a participant key)."""
    by_participant: dict[str, list[Delivered]] = {}
    for item in delivered:
        by_participant.setdefault(str(item.fact.participant_id), []).append(item)
    pending = Pending()
    await catalogue.next_batch()
    outcome = BatchOutcome()

    async def one(key: str, items: Sequence[Delivered]) -> None:
        raw = held_of(key)
        held = (
            Held(evidence=evidence_fold.initial(items[0].fact.participant_id))
            if raw is None
            else Held.model_validate_json(raw)
        )
        before = held
        for item in items:
            recorded = item.recorded
            if not held.first_delivery(recorded.stream_id, recorded.version):
                outcome.redelivered += 1
                continue
            evolved = await issuing.apply(
                held.evidence, item.fact, catalogue, recorded.event_id, pending
            )
            held = held.taken(recorded.stream_id, recorded.version, evolved)
            outcome.folded += 1
        if held is not before:
            outcome.saved[key] = held.model_dump_json()

    await asyncio.gather(*(one(key, items) for key, items in by_participant.items()))
    outcome.issued = await pending.append(store)
    return outcome
