"""СНИЛС rules exactly as DOMAIN.md states them."""

import random

import pytest

from bilet_identity.domain.snils import InvalidSnils, Snils, check_number, generate


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("112-233-445 95", "11223344595"),
        ("11223344595", "11223344595"),
        ("112 233 445 95", "11223344595"),
        (" 112-233-445-95 ", "11223344595"),
    ],
)
def test_accepted_with_or_without_separators_and_kept_in_one_canonical_form(
    text: str, canonical: str
) -> None:
    snils = Snils.parse(text)
    assert snils.digits == canonical
    assert snils.formatted == "112-233-445 95"


def test_sum_below_100_is_the_check_number() -> None:
    # 1*9 + 1*8 + 2*7 + 2*6 + 3*5 + 3*4 + 4*3 + 4*2 + 5*1 = 95
    assert check_number("112233445") == 95


@pytest.mark.parametrize(
    ("body", "weighted_sum", "check"),
    [
        ("141008407", 99, 99),  # below 100: the sum itself
        ("026002389", 100, 0),  # 100 gives 00
        ("030214884", 101, 0),  # 101 gives 00
        ("110767574", 150, 49),  # above 101: the remainder modulo 101
        ("543546368", 201, 0),  # remainder 100 gives 00
        ("578899234", 302, 0),  # remainder 100 again
    ],
)
def test_the_check_number_rule(body: str, weighted_sum: int, check: int) -> None:
    assert sum(int(d) * w for d, w in zip(body, range(9, 0, -1), strict=True)) == weighted_sum
    assert check_number(body) == check
    assert Snils.parse(f"{body}{check:02d}").digits == f"{body}{check:02d}"


def test_a_wrong_check_number_is_refused() -> None:
    with pytest.raises(InvalidSnils, match="check number"):
        Snils.parse("112-233-445 96")


def test_bodies_up_to_001_001_998_carry_no_check_number() -> None:
    assert Snils.parse("001-001-998 17").digits == "00100199817"
    assert Snils.parse("001-001-998 00").digits == "00100199800"
    with pytest.raises(InvalidSnils):
        Snils.parse("001-001-999 00")  # the first body with a check number: 65
    assert Snils.parse("001-001-999 65").digits == "00100199965"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1122334459",
        "112233445955",
        "112-233-44a 95",
        "112_233_445_95",
        "000-000-000 00",
        "١١٢٢٣٣٤٤٥٩٥",
    ],
)
def test_anything_but_eleven_digits_is_refused(text: str) -> None:
    with pytest.raises(InvalidSnils):
        Snils.parse(text)


def test_the_number_never_shows_in_repr_or_str() -> None:
    snils = Snils.parse("112-233-445 95")
    assert "112" not in repr(snils)
    assert "112" not in str(snils)
    assert "112" not in f"{[snils]}"


def test_generated_numbers_are_valid() -> None:
    rng = random.Random(2019)
    for _ in range(1000):
        snils = generate(rng)
        assert Snils.parse(snils.formatted) == snils
