"""The coordinators' insights in the faust worker (ADR 0048): tumbling weekly windows over the
facts from Kafka, whose results are the marks of the insights read model the API reads.

An agent beside the issuing one reads the issuing agent's repartition topic
(`<app id>-facts-by-participant`: every record of the source topics, keyed by participant), so
that each window cell is written from the one partition that owns its key. Until ADR 0101 it
repartitioned the source topics into a topic of its own with the same key: a second forward and
a second consumption of every record for the same partitioning. The windowed table `insight-weeks`
(changelog `<app id>-insight-weeks-changelog`) holds, per participant and ISO week, the metrics
the participant counted for in that week (registered, consent verified, stage completed, career
event attended): codes under a pseudonymous participant id, nothing readable. The first time a
metric enters a participant's week, the window's result — the mark (metric, week, participant)
— is written to `rec_ins_marks` (idempotent), and the API counts distinct pupils per
municipality and week from those marks at read time, joined with where each pupil studies now:
the same SQL count as the kernel projection's (`insights_projection.py`), which the worker's
kernel feed keeps running for the places, the erasures and the sets' leading environments.

Why these choices (ADR 0048):
- faust's tumbling windows start at multiples of their size since the epoch, a Thursday; the
  timestamps are shifted by three days so that a week's window starts on a Monday 00:00 UTC,
  the ISO week the kernel projection counts by;
- the window of a fact is chosen by its recording (`recorded_at`, the CloudEvents `time`), not
  the Kafka timestamp of the record or the clock, as the kernel projection does;
- faust's `expires` is not used: it judges expiry against the wall clock, so a replay of the
  2019 history would have its windows deleted as soon as they were filled, and it neither
  writes the deletions to the changelog nor expires what a restart recovers from it. Until ADR
  0118's amendment the windows never expired at all, and the table grew by a participant-week
  for ever. Now the agent drops the cells more than `weeks_kept` weeks older than the newest
  week it has taken (stream time, as the windows themselves), from memory only, each time that
  newest week moves on (so also on the first batch after a restart, which drops what the
  changelog brought back). The cells only save writes: a fact whose cell was dropped (a
  redelivery, or a fact arriving that late) writes its mark again, which the read model
  already holds (`mark` is an upsert of the same row, refused for the erased), so the SQL
  count is the same;
- keyed by participant, not by municipality: a window cell keyed by municipality would be
  written from every participant partition (faust writes a table's changelog to the partition
  of the record being processed, so recovery would keep one partition's value), the pupil's
  municipality is known only from other streams (their school's registration), and a pupil who
  moves is counted where they study now. Distinct pupils are therefore a set per participant
  and week — the participant's id is the key — and the count per municipality is SQL.
It takes the records in batches (`take_events`, as the issuing agent): a batch's marks are
written in one transaction, in the records' order, then each window cell it changed is written
once (ADR 0101; one transaction per mark before).
At least once: a redelivered fact finds its metric in the window and writes nothing; the marks
are written before the windows are updated, so a crash in between writes the same marks again;
the batch is acknowledged only when the agent asks for the next one.
Erasure: the agent applies `ParticipantErased` itself (as the kernel feed does too): the
participant's marks are deleted and, since a participant's facts are taken one after another in
one partition, every mark the agent takes after it is refused, whichever feed comes first.
"""

import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, cast

import faust
from faust.streams import Stream
from faust.types import TopicT

from bilet.contracts import CATALOGUE, decode
from bilet.projections import ReadModel
from bilet.projections.decode import decode as decode_record
from bilet.projections.port import SqlRenderer
from bilet.projections.readmodel import layout_of
from bilet_recommender.adapters.insights_projection import (
    INSIGHTS,
    SOURCE_MARKS,
    erase,
    iso_week,
    mark,
)
from bilet_recommender.records import record_headers
from bilet_recommender.worker_guards import UNREADABLE, exit_at_once, left_aside, processing

WEEK: Final = 7 * 24 * 3600.0
# The epoch fell on a Thursday: +3 days puts a window's start on a Monday 00:00 UTC.
MONDAY_SHIFT: Final = 3 * 24 * 3600.0


def window_time(recorded_at: datetime) -> float:
    """The timestamp a fact recorded at `recorded_at` is windowed by."""
    return recorded_at.timestamp() + MONDAY_SHIFT


def window_week(window_start: float) -> str:
    """The ISO week (`2019-W37`) of the window starting at `window_start`."""
    return iso_week(datetime.fromtimestamp(window_start - MONDAY_SHIFT, UTC))


@dataclass(frozen=True)
class Mark:
    """The window result to write: `participant_id` counted for `metric` in `week`."""

    metric: str
    week: str
    participant_id: str


@dataclass(frozen=True)
class Erase:
    """Forget the participant's marks and refuse later ones (`ParticipantErased`)."""

    participant_id: str


@dataclass(frozen=True)
class Windowed:
    """A fact of the batch as the windows see it: its metric (None for an erasure), participant
    and window time."""

    metric: str | None
    participant_id: str
    at: float


@dataclass
class Counted:
    """What a batch does: the read model's writes in the order of the facts, and each window
    cell's metrics after the batch (cell → the index of the last fact that changed it, and the
    metrics), written back once per cell."""

    writes: list[Mark | Erase] = field(default_factory=list)
    cells: dict[tuple[str, float], tuple[int, frozenset[str]]] = field(default_factory=dict)


def count_batch(
    facts: Sequence[Windowed],
    window_start: Callable[[float], float],
    counted_of: Callable[[str, float], frozenset[str]],
) -> Counted:
    """The marks and window changes of a batch of facts, in their order (pure: the table and the
    read model are the caller's). `window_start`: the start of the window holding a time;
    `counted_of(participant, at)`: the metrics the table holds for that cell. A metric already in
    its cell (a redelivery, or a second fact of the kind that week, the batch's own included)
    writes nothing."""
    outcome = Counted()
    for index, fact in enumerate(facts):
        if fact.metric is None:
            outcome.writes.append(Erase(fact.participant_id))
            continue
        start = window_start(fact.at)
        cell = (fact.participant_id, start)
        known = outcome.cells.get(cell)
        counted = known[1] if known is not None else counted_of(fact.participant_id, fact.at)
        if fact.metric in counted:
            continue
        outcome.writes.append(Mark(fact.metric, window_week(start), fact.participant_id))
        outcome.cells[cell] = (index, counted | {fact.metric})
    return outcome


def oldest_kept(newest_start: float, weeks_kept: int) -> float:
    """The start of the oldest window the table keeps once it has taken a fact in the window
    starting at `newest_start`: that window and the `weeks_kept` before it."""
    return newest_start - weeks_kept * WEEK


def dropped(keys: Iterable[Any], oldest: float) -> list[Any]:
    """The table's keys, `(participant id, (window start, end))`, of the windows that start
    before `oldest`."""
    return [key for key in keys if key[1][0] < oldest]


class MarksWriter:
    """Writes a batch's window results into the insights read model (its tables installed
    once), in one transaction: per batch, not per mark (ADR 0101)."""

    def __init__(self, read_model: ReadModel) -> None:
        self.read_model = read_model
        self.renderer = SqlRenderer(
            read_model.dialect, layout_of(INSIGHTS, read_model.dialect).tables
        )
        self._installed = False

    async def write(self, writes: Sequence[Mark | Erase]) -> None:
        """Apply `writes` in their order (an erasure refuses the participant's later marks)."""
        if not writes:
            return
        if not self._installed:
            await self.read_model.install(INSIGHTS)
            self._installed = True
        async with self.read_model.transaction(self.renderer) as tx:
            for write in writes:
                if isinstance(write, Erase):
                    await erase(tx, write.participant_id)
                else:
                    await mark(tx, write.metric, write.week, write.participant_id, "")


def install(
    app: faust.App,
    by_participant: TopicT,
    read_model: Callable[[], Awaitable[ReadModel]],
    batch_size: int,
    batch_seconds: float,
    weeks_kept: int,
) -> None:
    """Add the windowed insights agent to the worker's app, over `by_participant`: the issuing
    agent's repartition topic (ADR 0101), whose records it takes in batches of at most
    `batch_size` or `batch_seconds`. `read_model`: an async callable giving the worker's read
    model (opened lazily on the app's loop, as the issuing agent's). `weeks_kept`: how many weeks
    before the newest one taken a participant-week stays in the table (ADR 0118's amendment)."""
    app_id = app.conf.id
    partitions = by_participant.partitions
    # (participant id, week window) → JSON list of the metrics counted that week.
    weeks = app.Table(
        "insight-weeks", partitions=partitions, key_type=str, value_type=str, default=str
    ).tumbling(WEEK, expires=None)
    writer: list[MarksWriter] = []
    # The start of the newest window a fact was taken in (stream time; 0: none yet).
    newest: list[float] = [0.0]

    @app.agent(by_participant, name=f"{app_id}.insights")
    async def count_weeks(stream: faust.StreamT[Any]) -> None:
        # `take_events` acknowledges a batch's records when the loop asks for the next batch:
        # after its marks are written and its windows updated. A batch that fails ends the
        # process instead (ADR 0085): faust would acknowledge it; Kafka delivers it again.
        batches = cast(Stream[Any], stream).take_events(batch_size, batch_seconds)
        async for events in batches:
            try:
                await count(events)
            except Exception:
                exit_at_once("the insights agent failed on a batch")

    def windowed(event: faust.EventT[Any]) -> Windowed | None:
        try:
            recorded = decode_record(event.value, record_headers(event.headers))
            metric = SOURCE_MARKS.get(recorded.type)
            erased = recorded.type == "ParticipantErased"
            if (metric is None and not erased) or not CATALOGUE.is_published(recorded.type):
                return None
            participant_id = str(decode(recorded).participant_id)  # type: ignore[attr-defined]
        except UNREADABLE as error:
            left_aside("insights", event, error)
            return None
        return Windowed(metric, participant_id, window_time(recorded.recorded_at))

    def window_start(at: float) -> float:
        return float(weeks.table.window.current(at)[0])  # type: ignore[union-attr]

    def counted_of(participant_id: str, at: float) -> frozenset[str]:
        value = weeks.clone(relative_to=at)[participant_id].value()
        return frozenset(json.loads(value or "[]"))

    async def count(events: Sequence[faust.EventT[Any]]) -> None:
        taken = [(event, fact) for event in events if (fact := windowed(event)) is not None]
        if not taken:
            return
        outcome = count_batch([fact for _event, fact in taken], window_start, counted_of)
        if outcome.writes:
            if not writer:
                writer.append(MarksWriter(await read_model()))
            # The marks before the windows: a crash in between writes the same marks again.
            await writer[0].write(outcome.writes)
        latest = max(window_start(fact.at) for _event, fact in taken)
        if latest > newest[0]:
            newest[0] = latest
            # Once a week of stream time (and on the first batch after a restart): a scan of
            # the keys. Dropped from the store only, not the changelog (whose delete would go
            # to the partition of the event being processed, not the key's): a restart
            # recovers them and the first batch drops them again.
            store = weeks.table.data
            for key in dropped(list(store.keys()), oldest_kept(latest, weeks_kept)):
                store.pop(key, None)
        oldest = oldest_kept(newest[0], weeks_kept)
        for (participant_id, start), (index, metrics) in outcome.cells.items():
            if start < oldest:
                continue  # a fact that late: its mark is written, its cell would be dropped
            event, fact = taken[index]
            # faust writes a change to the changelog partition of the event being processed.
            with processing(event):
                weeks.clone(relative_to=fact.at)[participant_id] = json.dumps(sorted(metrics))
