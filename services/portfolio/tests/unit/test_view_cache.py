"""The cache of rendered portfolios on its own: keyed by participant and ETag, bounded, and no
entry kept longer than its time to live or after its participant is forgotten; and the
participants' rows it keeps where commits are heard (ADR 0080)."""

import pytest

from bilet_portfolio.application.ports import Snapshot
from bilet_portfolio.application.view_cache import RenderedView, ViewCache
from bilet_portfolio.domain.consent import ConsentFacts, ConsentState
from bilet_portfolio.domain.progress import Progress
from bilet_portfolio.domain.views import ParticipantRecord


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def view(etag: str, *fields: str) -> RenderedView:
    return RenderedView(etag, f"body of {etag}".encode(), fields)


def test_an_answer_is_found_by_its_participant_and_etag_only() -> None:
    cache = ViewCache()
    cache.put("p1", view('W/"3.1-self-verified"', "portfolio", "full_name"))
    assert cache.get("p1", 'W/"3.1-self-verified"') == view(
        'W/"3.1-self-verified"', "portfolio", "full_name"
    )
    assert cache.get("p1", 'W/"3.1-operator-verified"') is None  # another scope
    assert cache.get("p1", 'W/"4.1-self-verified"') is None  # another version
    assert cache.get("p2", 'W/"3.1-self-verified"') is None  # another participant


def test_personal_means_a_read_of_it_is_audited() -> None:
    assert view("a", "portfolio").personal
    assert not view("b").personal


def test_the_least_recently_used_answer_goes_first() -> None:
    cache = ViewCache(size=2)
    cache.put("p1", view("a"))
    cache.put("p2", view("b"))
    assert cache.get("p1", "a") is not None  # p1 used: p2 is now the oldest
    cache.put("p3", view("c"))
    assert cache.get("p2", "b") is None
    assert cache.get("p1", "a") is not None
    assert cache.get("p3", "c") is not None
    assert len(cache) == 2


def test_no_answer_outlives_its_time_to_live() -> None:
    clock = Clock()
    cache = ViewCache(ttl=60.0, clock=clock)
    cache.put("p1", view("a"))
    clock.now = 59.9
    assert cache.get("p1", "a") is not None
    clock.now = 60.0
    assert cache.get("p1", "a") is None
    assert len(cache) == 0


def test_forget_drops_every_answer_of_the_participant() -> None:
    cache = ViewCache()
    cache.put("p1", view("a"))
    cache.put("p1", view("b"))
    cache.put("p2", view("a"))
    cache.forget("p1")
    assert cache.get("p1", "a") is None
    assert cache.get("p1", "b") is None
    assert cache.get("p2", "a") is not None


def test_size_zero_keeps_nothing() -> None:
    cache = ViewCache(size=0)
    assert not cache.put("p1", view("a"))
    assert cache.get("p1", "a") is None
    assert len(cache) == 0


def test_negative_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="not negative"):
        ViewCache(size=-1)
    with pytest.raises(ValueError, match="not negative"):
        ViewCache(ttl=-1.0)
    with pytest.raises(ValueError, match="recent is positive"):
        ViewCache(recent=0)


def test_a_change_drops_the_participants_answers_and_no_others() -> None:
    cache = ViewCache()
    cache.put("p1", view("a", "portfolio", "full_name"))
    cache.put("p1", view("b", "portfolio"))
    cache.put("p2", view("a", "portfolio", "full_name"))
    cache.changed(["p1", "p3"])
    assert cache.participants() == {"p2"}
    assert len(cache) == 1
    assert cache.get("p2", "a") is not None


def test_a_change_of_anything_drops_every_answer() -> None:
    cache = ViewCache()
    cache.put("p1", view("a"))
    cache.put("p2", view("b"))
    cache.changed(None)
    assert len(cache) == 0
    assert cache.participants() == set()


def test_an_answer_rendered_before_its_participants_change_is_not_kept() -> None:
    cache = ViewCache()
    before = cache.ticket()
    cache.changed(["p1"])  # committed while the answer was being rendered
    assert not cache.put("p1", view("a"), before)
    assert cache.get("p1", "a") is None
    assert cache.put("p2", view("a"), before)  # another participant's change does not matter
    assert cache.put("p1", view("b"), cache.ticket())  # rendered after the change
    assert cache.participants() == {"p1", "p2"}


def test_a_change_forgotten_from_the_record_still_refuses_older_answers() -> None:
    cache = ViewCache(recent=2)
    before = cache.ticket()
    cache.changed(["p1"])
    cache.changed(["p2"])
    cache.changed(["p3"])  # p1's change leaves the record of recent ones
    assert not cache.put("p1", view("a"), before)
    assert not cache.put("p9", view("a"), before)  # unknown: refused, to be safe
    after = cache.ticket()
    assert cache.put("p1", view("a"), after)


def test_a_change_of_anything_refuses_every_older_answer() -> None:
    cache = ViewCache()
    before = cache.ticket()
    cache.changed(None)
    assert not cache.put("p1", view("a"), before)
    assert cache.put("p1", view("a"), cache.ticket())


def test_entries_evicted_by_size_leave_the_participant_index() -> None:
    cache = ViewCache(size=1)
    cache.put("p1", view("a"))
    cache.put("p2", view("b"))
    assert cache.participants() == {"p2"}


# ---------------------------------------------------------------------- participants' rows
def snapshot(participant_id: str, version: int = 1) -> Snapshot:
    return Snapshot(
        ParticipantRecord(
            participant_id=participant_id,
            school_id=None,
            region_id=None,
            season=None,
            grade=7,
            sealed_name=None,
            consent=ConsentFacts(state=ConsentState.NONE),
            erased=False,
            erased_at=None,
            progress=Progress(
                stages_completed=0,
                stages_total=3,
                career_events_booked=0,
                career_events_attended=0,
                max_career_events=None,
                recommendations=False,
            ),
            version=version,
            updated_at="2019-11-01T00:00:00+00:00",
        ),
        reference_version=1,
    )


def test_a_row_is_kept_until_its_participant_changes() -> None:
    cache = ViewCache(follows_commits=True)
    assert cache.keep_row("p1", snapshot("p1"), cache.ticket())
    assert cache.keep_row("p2", snapshot("p2"), cache.ticket())
    assert cache.row("p1") == snapshot("p1")
    cache.changed(["p1"])
    assert cache.row("p1") is None
    assert cache.row("p2") == snapshot("p2")
    assert cache.rows() == {"p2"}


def test_no_row_is_kept_where_commits_are_not_followed() -> None:
    cache = ViewCache()  # a read model another process feeds: its commits are not heard here
    assert not cache.keeps_rows
    assert not cache.keep_row("p1", snapshot("p1"), cache.ticket())
    assert cache.row("p1") is None
    off = ViewCache(size=0, follows_commits=True)
    assert not off.keeps_rows
    assert not off.keep_row("p1", snapshot("p1"), 0)
    assert ViewCache(follows_commits=True).keeps_rows


def test_a_row_read_before_its_participants_change_is_not_kept() -> None:
    cache = ViewCache(follows_commits=True)
    before = cache.ticket()
    cache.changed(["p1"])  # committed while the row was being read
    assert not cache.keep_row("p1", snapshot("p1"), before)
    assert cache.keep_row("p2", snapshot("p2"), before)
    cache.changed(None)
    assert not cache.keep_row("p3", snapshot("p3"), before)  # anything may have changed
    assert cache.rows() == set()  # and every kept row went with it


def test_forgetting_a_participant_drops_their_row() -> None:
    cache = ViewCache(follows_commits=True)
    cache.keep_row("p1", snapshot("p1"), cache.ticket())
    cache.forget("p1")
    assert cache.row("p1") is None


def test_no_row_outlives_its_time_to_live() -> None:
    clock = Clock()
    cache = ViewCache(follows_commits=True, row_ttl=5.0, clock=clock)
    cache.keep_row("p1", snapshot("p1"), cache.ticket())
    clock.now = 4.9
    assert cache.row("p1") is not None
    clock.now = 5.0
    assert cache.row("p1") is None
    assert cache.rows() == set()


def test_rows_are_bounded_by_the_size_least_recently_used_first() -> None:
    cache = ViewCache(size=2, follows_commits=True)
    for participant_id in ("p1", "p2"):
        cache.keep_row(participant_id, snapshot(participant_id), cache.ticket())
    assert cache.row("p1") is not None  # p1 used: p2 is now the oldest
    cache.keep_row("p3", snapshot("p3"), cache.ticket())
    assert cache.rows() == {"p1", "p3"}
