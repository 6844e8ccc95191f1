"""The faust windows of the insights (ADR 0048), on faust's own window arithmetic: a fact's week
window is its ISO week (Monday 00:00 UTC), across year ends; why faust's own expiry is not used
(it judges against the wall clock, so a 2019 replay's windows would be stale at once); and the
agent's own, by stream time, under which the marks stay the SQL count (ADR 0118's amendment)."""

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from faust.windows import TumblingWindow

from bilet.projections.readmodel import layout_of
from bilet.projections.sqlite import SqliteReadModel
from bilet_recommender.adapters.insights_projection import INSIGHTS, iso_week
from bilet_recommender.worker_insights import (
    MONDAY_SHIFT,
    WEEK,
    Erase,
    Mark,
    MarksWriter,
    Windowed,
    count_batch,
    dropped,
    oldest_kept,
    window_time,
    window_week,
)

WINDOWS = TumblingWindow(WEEK)


@pytest.mark.parametrize(
    "recorded_at",
    [
        datetime(2019, 9, 2, 0, 0, tzinfo=UTC),  # a Monday at midnight: its own week
        datetime(2019, 9, 8, 23, 59, 59, tzinfo=UTC),  # the Sunday before midnight
        datetime(2019, 12, 30, 12, tzinfo=UTC),  # ISO 2020-W01
        datetime(2021, 1, 3, 12, tzinfo=UTC),  # ISO 2020-W53
        datetime(2026, 12, 6, 21, 40, tzinfo=UTC),
    ],
)
def test_a_facts_window_is_its_iso_week(recorded_at: datetime) -> None:
    start, _end = WINDOWS.current(window_time(recorded_at))
    assert window_week(start) == iso_week(recorded_at)
    first_day = datetime.fromtimestamp(start - MONDAY_SHIFT, UTC)
    assert (first_day.weekday(), first_day.hour, first_day.minute) == (0, 0, 0)
    assert first_day <= recorded_at < first_day + timedelta(days=7)


def test_without_the_shift_faust_weeks_start_on_thursdays() -> None:
    """Why `window_time` shifts: faust's windows start at multiples of their size since the
    epoch, a Thursday."""
    monday = datetime(2019, 9, 2, 12, tzinfo=UTC)
    start, _ = WINDOWS.current(monday.timestamp())
    assert datetime.fromtimestamp(start, UTC).strftime("%A") == "Thursday"


def test_any_expiry_would_drop_a_2019_replays_windows_at_once() -> None:
    """faust deletes a window once its end is `expires` before now (the clock, not the stream):
    even a year's expiry makes every 2019 window stale while it is being filled."""
    _, end = WINDOWS.current(window_time(datetime(2019, 9, 2, tzinfo=UTC)))
    expiring = TumblingWindow(WEEK, expires=timedelta(days=365))
    assert expiring.stale(end, time.time())
    assert not WINDOWS.stale(end, time.time())


# A batch of the insights agent (ADR 0101): the marks in the facts' order, one write back per
# window cell, nothing for what a cell already counts.
def _start(at: float) -> float:
    return float(WINDOWS.current(at)[0])


MONDAY = window_time(datetime(2019, 9, 2, 9, tzinfo=UTC))
NEXT_WEEK = MONDAY + WEEK


def test_a_batch_marks_each_new_metric_once_and_writes_each_cell_once() -> None:
    # given a pupil whose week already counts their registration
    held = {("p1", _start(MONDAY)): frozenset({"registered"})}

    def counted_of(participant_id: str, at: float) -> frozenset[str]:
        return held.get((participant_id, _start(at)), frozenset())

    # when a batch brings that registration again, two stages the same week, one the next week
    # and another pupil's consent
    facts = [
        Windowed("registered", "p1", MONDAY),
        Windowed("stage_completed", "p1", MONDAY + 60),
        Windowed("stage_completed", "p1", MONDAY + 120),
        Windowed("consent_verified", "p2", MONDAY),
        Windowed("stage_completed", "p1", NEXT_WEEK),
    ]
    outcome = count_batch(facts, _start, counted_of)

    # then each new metric of a cell is marked once, in order, and each cell written once with
    # what it holds after the batch, under the last fact that changed it
    week, next_week = window_week(_start(MONDAY)), window_week(_start(NEXT_WEEK))
    assert outcome.writes == [
        Mark("stage_completed", week, "p1"),
        Mark("consent_verified", week, "p2"),
        Mark("stage_completed", next_week, "p1"),
    ]
    assert outcome.cells == {
        ("p1", _start(MONDAY)): (1, frozenset({"registered", "stage_completed"})),
        ("p2", _start(MONDAY)): (3, frozenset({"consent_verified"})),
        ("p1", _start(NEXT_WEEK)): (4, frozenset({"stage_completed"})),
    }


def test_an_erasure_keeps_its_place_among_the_batchs_marks() -> None:
    # given a batch with a mark, the pupil's erasure, then a later fact of theirs
    facts = [
        Windowed("registered", "p1", MONDAY),
        Windowed(None, "p1", MONDAY + 60),
        Windowed("stage_completed", "p1", MONDAY + 120),
    ]
    # when it is counted
    outcome = count_batch(facts, _start, lambda _p, _at: frozenset())
    # then the erasure comes between the two marks (the read model refuses the later one)
    week = window_week(_start(MONDAY))
    assert outcome.writes == [
        Mark("registered", week, "p1"),
        Erase("p1"),
        Mark("stage_completed", week, "p1"),
    ]


def test_a_redelivered_batch_writes_nothing() -> None:
    # given a week that counts everything the batch brings
    facts = [Windowed("registered", "p1", MONDAY), Windowed("stage_completed", "p1", MONDAY)]
    # when it comes again
    outcome = count_batch(
        facts, _start, lambda _p, _at: frozenset({"registered", "stage_completed"})
    )
    # then
    assert outcome.writes == []
    assert outcome.cells == {}


# The agent's expiry (ADR 0118's amendment): by stream time, and the cells only save writes.
def test_the_table_keeps_the_newest_weeks_and_drops_the_older() -> None:
    # given cells of the newest week, of the oldest week kept and of the week before it
    newest = _start(MONDAY + 10 * WEEK)
    keys = [
        ("p1", WINDOWS.current(MONDAY + 10 * WEEK)),
        ("p1", WINDOWS.current(MONDAY + 2 * WEEK)),
        ("p2", WINDOWS.current(MONDAY + WEEK)),
        ("p3", WINDOWS.current(MONDAY)),
    ]
    # when eight weeks before the newest are kept
    gone = dropped(keys, oldest_kept(newest, 8))
    # then only the cells of windows starting before the oldest week kept go
    assert gone == keys[2:]
    assert dropped(keys, oldest_kept(newest, 10)) == []


def test_a_2019_replay_is_not_dropped_while_it_is_filled() -> None:
    """Stream time, not the clock: the newest 2019 week keeps its own and the weeks before."""
    newest = _start(MONDAY)
    assert dropped([("p1", WINDOWS.current(MONDAY))], oldest_kept(newest, 1)) == []


async def _marks(read_model: SqliteReadModel) -> list[tuple[str, str, str]]:
    renderer = layout_of(INSIGHTS, read_model.dialect).renderer
    async with read_model.reader(renderer) as tx:
        rows = await tx.fetch(
            "SELECT metric, week, participant_id FROM {rec_ins_marks} "
            "ORDER BY metric, week, participant_id"
        )
    return [(row[0], row[1], row[2]) for row in rows]


async def test_a_fact_after_its_cell_was_dropped_leaves_the_sql_count_as_it_was(
    tmp_path: Path,
) -> None:
    # given a week's facts counted, one pupil erased, and their cells then dropped
    read_model = await SqliteReadModel.open(tmp_path / "rm.sqlite3")
    try:
        writer = MarksWriter(read_model)
        facts = [
            Windowed("registered", "p1", MONDAY),
            Windowed("stage_completed", "p1", MONDAY + 60),
            Windowed("registered", "p2", MONDAY),
            Windowed(None, "p2", MONDAY + 120),
        ]
        await writer.write(count_batch(facts, _start, lambda _p, _at: frozenset()).writes)
        before = await _marks(read_model)
        # when the same facts come again (a redelivery, or as late) and no cell counts them
        # (dropped), and the erased pupil's fact with them
        again = count_batch(
            [*facts[:2], Windowed("registered", "p2", MONDAY + 180)],
            _start,
            lambda _p, _at: frozenset(),
        )
        await writer.write(again.writes)
        # then their marks are written again, and the read model counts what it counted
        assert [w for w in again.writes if isinstance(w, Mark)] == [
            Mark("registered", window_week(_start(MONDAY)), "p1"),
            Mark("stage_completed", window_week(_start(MONDAY)), "p1"),
            Mark("registered", window_week(_start(MONDAY)), "p2"),
        ]
        week = window_week(_start(MONDAY))
        assert before == [("registered", week, "p1"), ("stage_completed", week, "p1")]
        assert await _marks(read_model) == before
    finally:
        await read_model.close()
