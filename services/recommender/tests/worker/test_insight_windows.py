"""The faust windows of the insights (ADR 0048), on faust's own window arithmetic: a fact's week
window is its ISO week (Monday 00:00 UTC), across year ends; and why the windows never expire
(faust judges expiry against the wall clock, so a 2019 replay's windows would be stale at once)."""

import time
from datetime import UTC, datetime, timedelta

import pytest
from faust.windows import TumblingWindow

from bilet_recommender.adapters.insights_projection import iso_week
from bilet_recommender.worker_insights import MONDAY_SHIFT, WEEK, window_time, window_week

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
