"""The coordinators' insights in the faust worker (ADR 0048): tumbling weekly windows over the
facts from Kafka, whose results are the marks of the insights read model the API reads.

An agent beside the issuing one reads its own topic (`<app id>-insight-facts-by-participant`),
into which the worker's one repartition forwards, keyed by participant, only the records it
counts (ADR 0078), so that each window cell is written from the one partition that owns its key.
It takes them in batches (`take_events`): a batch's marks go to the read model in one transaction,
then each window it changed is written once. The windowed table `insight-weeks`
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
- windows never expire: faust judges expiry against the wall clock, so with any `expires` a
  replay of the 2019 history would have its windows deleted as soon as they were filled;
- keyed by participant, not by municipality: a window cell keyed by municipality would be
  written from every participant partition (faust writes a table's changelog to the partition
  of the record being processed, so recovery would keep one partition's value), the pupil's
  municipality is known only from other streams (their school's registration), and a pupil who
  moves is counted where they study now. Distinct pupils are therefore a set per participant
  and week — the participant's id is the key — and the count per municipality is SQL.
At least once: a redelivered fact finds its metric in the window and writes nothing; the mark is
written before the window is updated, so a crash in between writes the same mark again.
Erasure: the agent applies `ParticipantErased` itself (as the kernel feed does too): the
participant's marks are deleted and, since a participant's facts are taken one after another in
one partition, every mark the agent takes after it is refused, whichever feed comes first.
"""

import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Final, cast

import faust
from faust.streams import Stream
from faust.types import EventT, TopicT

from bilet.contracts import CATALOGUE
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
from bilet_recommender.records import NO_PARTICIPANT, key_text, processing, record_headers

WEEK: Final = 7 * 24 * 3600.0
# The epoch fell on a Thursday: +3 days puts a window's start on a Monday 00:00 UTC.
MONDAY_SHIFT: Final = 3 * 24 * 3600.0


def window_time(recorded_at: datetime) -> float:
    """The timestamp a fact recorded at `recorded_at` is windowed by."""
    return recorded_at.timestamp() + MONDAY_SHIFT


def window_week(window_start: float) -> str:
    """The ISO week (`2019-W37`) of the window starting at `window_start`."""
    return iso_week(datetime.fromtimestamp(window_start - MONDAY_SHIFT, UTC))


# What the agent takes: the facts it marks, and the erasures (the repartition forwards no other).
TAKES: Final = frozenset(SOURCE_MARKS) | {"ParticipantErased"}

# A batch's marks and erasures in the order they came: (metric, week, participant id) to mark,
# or None and the participant id to erase.
Step = tuple[str | None, str, str]


class MarksWriter:
    """Writes window results into the insights read model (its tables installed once)."""

    def __init__(self, read_model: ReadModel) -> None:
        self.read_model = read_model
        self.renderer = SqlRenderer(
            read_model.dialect, layout_of(INSIGHTS, read_model.dialect).tables
        )
        self._installed = False

    async def write(self, steps: Sequence[Step]) -> None:
        """A batch's marks and erasures, in their order, in one transaction (an erasure keeps
        the participant's later marks out, as one after another would)."""
        if not steps:
            return
        if not self._installed:
            await self.read_model.install(INSIGHTS)
            self._installed = True
        async with self.read_model.transaction(self.renderer) as tx:
            for metric, week, participant_id in steps:
                if metric is None:
                    await erase(tx, participant_id)
                else:
                    await mark(tx, metric, week, participant_id, "")


def topic(app: faust.App, partitions: int) -> TopicT:
    """The agent's topic: the records it takes, repartitioned by participant by the worker."""
    return app.topic(
        f"{app.conf.id}-insight-facts-by-participant",
        partitions=partitions,
        key_serializer="raw",
        value_serializer="raw",
        internal=True,
    )


def install(
    app: faust.App,
    by_participant: TopicT,
    read_model: Callable[[], Awaitable[ReadModel]],
    batch_size: int,
    batch_seconds: float,
) -> None:
    """Add the windowed insights agent to the worker's app, reading `by_participant` (`topic`)
    in batches as the issuing agent does. `read_model`: an async callable giving the worker's
    read model (opened lazily on the app's loop, as the issuing agent's)."""
    # (participant id, week window) → JSON list of the metrics counted that week.
    weeks = app.Table(
        "insight-weeks",
        partitions=by_participant.partitions,
        key_type=str,
        value_type=str,
        default=str,
    ).tumbling(WEEK, expires=None)
    writer: list[MarksWriter] = []

    @app.agent(by_participant, name=f"{app.conf.id}.insights")
    async def count_weeks(stream: faust.StreamT[Any]) -> None:
        # `take_events` acknowledges a batch's events when the loop asks for the next one: after
        # its marks are committed and its windows written (at least once).
        batches = cast(Stream[Any], stream).take_events(batch_size, batch_seconds)
        async for events in batches:
            if not writer:
                writer.append(MarksWriter(await read_model()))
            await count_batch(events, weeks, writer[0])


async def count_batch(events: Sequence[EventT[Any]], weeks: Any, writer: MarksWriter) -> None:
    """One batch: the marks new to their participant's week and the erasures, written in one
    transaction, then each changed window once. A mark is written before its window, so a crash
    in between writes the same mark again (idempotent); a redelivered fact finds its metric in
    the window and writes nothing."""
    steps: list[Step] = []
    # (participant id, window start) → the metrics counted, the window, the last event on it.
    changed: dict[tuple[str, float], tuple[set[str], Any, EventT[Any]]] = {}
    for event in events:
        recorded = decode_record(event.value, record_headers(event.headers))
        if recorded.type not in TAKES or not CATALOGUE.is_published(recorded.type):
            continue
        # The key is the record's `participant_id`, as the repartition read it from the value.
        participant_id = key_text(event.key)
        if participant_id == NO_PARTICIPANT:
            continue
        metric = SOURCE_MARKS.get(recorded.type)
        if metric is None:
            steps.append((None, "", participant_id))
            continue
        at = window_time(recorded.recorded_at)
        start, _end = weeks.table.window.current(at)
        known = changed.get((participant_id, start))
        if known is None:
            window = weeks.clone(relative_to=at)
            counted = set(json.loads(window[participant_id].value() or "[]"))
        else:
            counted, window, _last = known
        if metric in counted:
            continue  # a redelivery, or a second fact of the kind that week
        steps.append((metric, window_week(start), participant_id))
        counted.add(metric)
        changed[(participant_id, start)] = (counted, window, event)
    await writer.write(steps)
    for (participant_id, _start), (counted, window, last) in changed.items():
        # faust writes a change to the changelog partition of the event being processed: the
        # participant's own (a batch mixes the partitions).
        with processing(last):
            window[participant_id] = json.dumps(sorted(counted))
