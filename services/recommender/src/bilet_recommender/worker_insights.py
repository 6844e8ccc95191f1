"""The coordinators' insights in the faust worker (ADR 0048): tumbling weekly windows over the
facts from Kafka, whose results are the marks of the insights read model the API reads.

An agent beside the issuing one reads the same source topics and repartitions every record by
participant into its own topic (`<app id>-insight-facts-by-participant`), so that each window
cell is written from the one partition that owns its key. The windowed table `insight-weeks`
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
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Final

import faust
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
from bilet_recommender.records import participant_key, record_headers
from bilet_recommender.worker_guards import UNREADABLE, exit_at_once, left_aside

WEEK: Final = 7 * 24 * 3600.0
# The epoch fell on a Thursday: +3 days puts a window's start on a Monday 00:00 UTC.
MONDAY_SHIFT: Final = 3 * 24 * 3600.0


def window_time(recorded_at: datetime) -> float:
    """The timestamp a fact recorded at `recorded_at` is windowed by."""
    return recorded_at.timestamp() + MONDAY_SHIFT


def window_week(window_start: float) -> str:
    """The ISO week (`2019-W37`) of the window starting at `window_start`."""
    return iso_week(datetime.fromtimestamp(window_start - MONDAY_SHIFT, UTC))


class MarksWriter:
    """Writes window results into the insights read model (its tables installed once)."""

    def __init__(self, read_model: ReadModel) -> None:
        self.read_model = read_model
        self.renderer = SqlRenderer(
            read_model.dialect, layout_of(INSIGHTS, read_model.dialect).tables
        )
        self._installed = False

    async def write(self, metric: str, week: str, participant_id: str) -> None:
        await self._install()
        async with self.read_model.transaction(self.renderer) as tx:
            await mark(tx, metric, week, participant_id, "")

    async def erase(self, participant_id: str) -> None:
        await self._install()
        async with self.read_model.transaction(self.renderer) as tx:
            await erase(tx, participant_id)

    async def _install(self) -> None:
        if not self._installed:
            await self.read_model.install(INSIGHTS)
            self._installed = True


def install(
    app: faust.App,
    topics: list[str],
    partitions: int,
    read_model: Callable[[], Awaitable[ReadModel]],
) -> tuple[TopicT, ...]:
    """Add the windowed insights agent to the worker's app; its repartition topic is returned
    (declared before faust starts, ADR 0085). `read_model`: an async callable giving the worker's
    read model (opened lazily on the app's loop, as the issuing agent's)."""
    app_id = app.conf.id
    sources = app.topic(*topics, value_serializer="raw")
    by_participant = app.topic(
        f"{app_id}-insight-facts-by-participant",
        partitions=partitions,
        key_serializer="raw",
        value_serializer="raw",
        internal=True,
    )
    # (participant id, week window) → JSON list of the metrics counted that week.
    weeks = app.Table(
        "insight-weeks", partitions=partitions, key_type=str, value_type=str, default=str
    ).tumbling(WEEK, expires=None)
    writer: list[MarksWriter] = []

    @app.agent(sources, name=f"{app_id}.insights")
    async def count_weeks(stream: faust.StreamT[Any]) -> None:
        grouped = stream.group_by(participant_key, name="insight", topic=by_participant)
        async for event in grouped.events():
            # faust would acknowledge a record whose processing raised: end the process instead
            # (ADR 0085), and Kafka delivers it again to the next worker.
            try:
                await count(event)
            except Exception:
                exit_at_once("the insights agent failed on a record")

    async def count(event: faust.EventT[Any]) -> None:
        try:
            recorded = decode_record(event.value, record_headers(event.headers))
            metric = SOURCE_MARKS.get(recorded.type)
            erased = recorded.type == "ParticipantErased"
            if (metric is None and not erased) or not CATALOGUE.is_published(recorded.type):
                return
            participant_id = str(decode(recorded).participant_id)  # type: ignore[attr-defined]
        except UNREADABLE as error:
            left_aside("insights", event, error)
            return
        if not writer:
            writer.append(MarksWriter(await read_model()))
        if metric is None:
            await writer[0].erase(participant_id)
            return
        at = window_time(recorded.recorded_at)
        window = weeks.clone(relative_to=at)
        counted = set(json.loads(window[participant_id].value() or "[]"))
        if metric in counted:
            return  # a redelivery, or a second fact of the kind that week
        start, _end = weeks.table.window.current(at)  # type: ignore[union-attr]
        await writer[0].write(metric, window_week(start), participant_id)
        window[participant_id] = json.dumps(sorted(counted | {metric}))

    return (by_participant,)
