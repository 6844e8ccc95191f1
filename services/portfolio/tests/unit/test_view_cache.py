"""The cache of rendered portfolios on its own: keyed by participant and ETag, bounded, and no
entry kept longer than its time to live or after its participant is forgotten."""

import pytest

from bilet_portfolio.application.view_cache import RenderedView, ViewCache


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
