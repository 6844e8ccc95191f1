"""The scores' integer rounding (`scoring.divide_half_up`, ADR 0070) is the exact rounding half up
of the quotient that `Fraction` gave before: the same evidence keeps the same scores, and so the
same published sets."""

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from bilet_recommender.domain.scoring import divide_half_up


def _fraction_half_up(numerator: int, denominator: int) -> int:
    return int((Fraction(numerator, denominator) + Fraction(1, 2)) // 1)


@given(st.integers(0, 100 * 400), st.integers(1, 400))
def test_integer_rounding_equals_the_exact_fraction(numerator: int, denominator: int) -> None:
    assert divide_half_up(numerator, denominator) == _fraction_half_up(numerator, denominator)


def test_halves_round_up() -> None:
    assert divide_half_up(125, 2) == 63  # round() would give 62
    assert divide_half_up(249, 4) == 62
    assert divide_half_up(5, 10) == 1
    assert divide_half_up(0, 7) == 0
