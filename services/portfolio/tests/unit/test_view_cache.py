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
    cache.put("p1", view("a"))
    assert cache.get("p1", "a") is None


def test_negative_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="not negative"):
        ViewCache(size=-1)
    with pytest.raises(ValueError, match="not negative"):
        ViewCache(ttl=-1.0)
