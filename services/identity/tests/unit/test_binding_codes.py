"""Binding codes as people type them, and the bounded counter of wrong ones (docs/adr/0053)."""

import pytest

from bilet_identity.access.attempts import AttemptLimit, AttemptLimiter, TooManyAttempts
from bilet_identity.access.codes import ALPHABET, BITS, LENGTH, new_code, normalised, printed


def test_a_new_code_has_sixty_random_bits_of_an_unambiguous_alphabet() -> None:
    codes = {new_code() for _ in range(1000)}
    assert len(codes) == 1000
    assert BITS == 60
    assert all(len(code) == LENGTH and set(code) <= set(ALPHABET) for code in codes)
    assert not set("ILOU") & set(ALPHABET)


def test_a_code_typed_with_dashes_spaces_lower_case_or_misread_letters_is_the_same_code() -> None:
    code = "7KQ2M9XD4H01"
    assert printed(code) == "7KQ2-M9XD-4H01"
    for typed in ("7KQ2-M9XD-4H01", "7kq2 m9xd 4hOl", "7KQ2M9XD4HOI"):
        assert normalised(typed) == code


def test_text_that_cannot_be_a_code_is_not_one() -> None:
    for typed in ("", "7KQ2-M9XD-4H0", "7KQ2-M9XD-4H0UU", "7KQ2-M9XD-4H0U", "ЖЖЖЖ-M9XD-4H01"):
        assert normalised(typed) is None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_given_the_failures_of_a_key_used_up_then_refused_until_its_window_ends() -> None:
    clock = Clock()
    limiter = AttemptLimiter({"account": AttemptLimit(3, 60)}, clock=clock)
    keys = [("account", "a")]
    for _ in range(3):
        limiter.check(keys)
        limiter.failed(keys)
    clock.now += 20
    with pytest.raises(TooManyAttempts) as refused:
        limiter.check(keys)
    assert refused.value.retry_after == 40
    limiter.check([("account", "b")])  # another account is not limited
    clock.now += 40
    limiter.check(keys)  # a new window


def test_any_limited_key_refuses_and_the_counter_stays_bounded() -> None:
    clock = Clock()
    limits = {"account": AttemptLimit(100, 60), "source": AttemptLimit(2, 60)}
    limiter = AttemptLimiter(limits, max_keys=4, clock=clock)
    limiter.failed([("account", "a"), ("source", "s")])
    limiter.failed([("account", "b"), ("source", "s")])
    with pytest.raises(TooManyAttempts):
        limiter.check([("account", "c"), ("source", "s")])
    for number in range(10):
        limiter.failed([("account", f"flood-{number}")])
    assert len(limiter._windows) == 4
