"""The coordinators' insights from the faust worker's tumbling windows (ADR 0048) equal a SQL count
over the same events: a 2019 history (recorded over six weeks, across the year's end) streams
through real Kafka; the worker's windows write the marks, and the counts per municipality, ISO
week and metric are those of the kernel projection applied to the very same records. Every window
the changelog holds is a (participant, week) the count has, and no faust topic carries a name."""

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest

from bilet.contracts.base import DomainEvent
from bilet.contracts.catalogue.consent import ErasureReason, ParticipantErased
from bilet.eventstore import RecordedEvent
from bilet.projections import ReadModel
from bilet.projections.port import SqlRenderer
from bilet.projections.readmodel import layout_of
from bilet.projections.sqlite import SqliteReadModel
from bilet.projections.testing import produce
from bilet_recommender.adapters.insights import ReadModelInsights
from bilet_recommender.adapters.insights_projection import INSIGHTS, SOURCE_MARKS
from bilet_recommender.issuing_testing import (
    CANARY,
    CONSENT,
    EVENTS,
    IDENTITY,
    SOURCES,
    Season,
    build_season,
    recorded,
)
from bilet_recommender.worker_insights import window_week

from .conftest import Harness, stop

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

FIRST_DAY = datetime(2019, 12, 9, 8, tzinfo=UTC)
SPAN = timedelta(weeks=6)
Cells = dict[tuple[str, str, str], int]


def history(season: Season) -> dict[str, list[RecordedEvent]]:
    """Each source's records as its store recorded them over six weeks from December 2019 into
    January 2020: the catalogue first, then the pupils' facts, evenly apart; the first pupil's
    data is erased in the middle of the consents' history."""
    consents = season.facts[CONSENT]
    erasure = ParticipantErased(
        participant_id=season.pupils[0],
        reason=ErasureReason.CONSENT_WITHDRAWN,
        erased_at=FIRST_DAY + SPAN / 2,
        destruction_record_id=UUID(int=48),
    )
    extra: dict[str, Sequence[DomainEvent]] = {
        EVENTS: season.career_events,
        IDENTITY: season.schools,
    }
    facts = {**season.facts, CONSENT: [*consents[: len(consents) // 2], erasure]}
    facts[CONSENT] += consents[len(consents) // 2 :]
    out: dict[str, list[RecordedEvent]] = {}
    for source in SOURCES:
        events = recorded([*extra.get(source, []), *facts[source]])
        apart = SPAN / max(len(events), 1)
        out[source] = [
            event._replace(recorded_at=FIRST_DAY + apart * index)
            for index, event in enumerate(events)
        ]
    return out


async def counts(read_model: ReadModel, regions: Sequence[UUID]) -> Cells:
    """Pupils per municipality, ISO week and metric, for the metrics the windows count."""
    cells: Cells = {}
    for region_id in regions:
        for count in await ReadModelInsights(read_model).counts(region_id):
            if count.metric in SOURCE_MARKS.values():
                cells[(count.municipality, count.week, count.metric)] = count.pupils
    return cells


async def sql_count(tmp_path: Path, records: dict[str, list[RecordedEvent]]) -> SqliteReadModel:
    """The kernel projection over the same records, one transaction each."""
    read_model = await SqliteReadModel.open(tmp_path / "expected.sqlite3")
    await read_model.install(INSIGHTS)
    renderer = SqlRenderer(read_model.dialect, layout_of(INSIGHTS, read_model.dialect).tables)
    for source in SOURCES:
        for event in records[source]:
            async with read_model.transaction(renderer) as tx:
                await INSIGHTS.apply(tx, event)
    return read_model


async def test_the_windows_insights_equal_a_sql_count_over_the_same_events(
    harness: Harness, tmp_path: Path
) -> None:
    season = await build_season(harness.keystore, 40, seed=48)
    records = history(season)
    regions = sorted({school.region_id for school in season.schools}, key=str)
    expected_model = await sql_count(tmp_path, records)
    try:
        expected = await counts(expected_model, regions)
        async with expected_model.query(INSIGHTS) as tx:
            marked = {
                (str(pid), str(week))
                for pid, week in await tx.fetch(
                    "SELECT DISTINCT participant_id, week FROM {rec_ins_marks} "
                    "WHERE metric <> 'leading_environment'"
                )
            }
    finally:
        await expected_model.close()
    # The history spans weeks across the year's end, every metric in it.
    weeks = {week for _, week, _ in expected}
    assert len(weeks) >= 6
    assert {"2019-W52", "2020-W01"} <= weeks
    assert {metric for _, _, metric in expected} == set(SOURCE_MARKS.values())
    assert not {pid for pid, _ in marked} & {str(season.pupils[0])}, "the erased are not counted"

    for source in SOURCES:
        await produce(harness.bootstrap, harness.topic_of(source), records[source], service=source)
    worker = harness.start_worker(tmp_path / "worker.log")
    try:

        async def same_counts() -> bool:
            return await counts(harness.read_model, regions) == expected

        await harness.wait_for("the windows' counts", same_counts, 180, fail=False)
        exited = worker.poll()  # None: still running when the wait ended
    finally:
        stop(worker)
    assert await counts(harness.read_model, regions) == expected, (
        f"the worker's exit before the end of the wait: {exited}{harness.worker_errors()}"
    )

    topics = await harness.faust_topics()
    changelog = f"{harness.app_id}-insight-weeks-changelog"
    assert changelog in topics, topics
    windows = set()
    for record in await harness.records_of(changelog):
        participant, (start, _end) = json.loads(record.split(b"|", 1)[0])
        windows.add((participant, window_week(start)))
    # Every window the changelog holds is one the count has (the erased pupil's are not).
    assert windows - {w for w in windows if w[0] == str(season.pupils[0])} == marked
    canary = CANARY.encode()
    for topic in topics:
        assert all(canary not in record for record in await harness.records_of(topic)), topic
