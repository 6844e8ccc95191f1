"""Eligibility: grade in the season's range, Russian citizenship, an admitted region."""

from datetime import date

import pytest

from bilet.contracts.vocabulary import Stage
from bilet_identity.domain.eligibility import Ineligibility, ineligibility
from bilet_identity.domain.region import Region, region_id_for
from bilet_identity.domain.season import SeasonRules

RULES = SeasonRules(2019, 1, 6, 11, 3, (Stage.INTERESTS,), date(2019, 9, 1), date(2020, 5, 31))
ADMITTED = Region(
    region_id_for("47"), "47", "Ленинградская обл.", "Europe/Moscow", "Ц", frozenset({2019})
)
ADMITTED_LATER = Region(region_id_for("78"), "78", "СПб", "Europe/Moscow", "Ц", frozenset({2020}))


@pytest.mark.parametrize("grade", [6, 7, 8, 9, 10, 11])
def test_a_russian_pupil_of_grades_6_to_11_in_an_admitted_region_is_eligible(grade: int) -> None:
    assert ineligibility(RULES, grade=grade, citizenship="RU", residence=ADMITTED) == ()


@pytest.mark.parametrize("grade", [1, 5])
def test_a_grade_outside_the_seasons_range_is_not_eligible(grade: int) -> None:
    assert ineligibility(RULES, grade=grade, citizenship="RU", residence=ADMITTED) == (
        Ineligibility.GRADE_OUT_OF_RANGE,
    )


def test_the_range_is_the_seasons_rule_not_a_constant() -> None:
    from_grade_8 = SeasonRules(
        2019, 2, 8, 11, 3, (Stage.INTERESTS,), RULES.starts_on, RULES.ends_on
    )
    assert ineligibility(from_grade_8, grade=7, citizenship="RU", residence=ADMITTED) == (
        Ineligibility.GRADE_OUT_OF_RANGE,
    )


def test_a_foreign_citizen_is_not_eligible() -> None:
    assert ineligibility(RULES, grade=7, citizenship="BY", residence=ADMITTED) == (
        Ineligibility.NOT_RUSSIAN_CITIZEN,
    )


@pytest.mark.parametrize("residence", [None, ADMITTED_LATER])
def test_a_region_not_admitted_in_the_season_is_not_eligible(residence: Region | None) -> None:
    assert ineligibility(RULES, grade=7, citizenship="RU", residence=residence) == (
        Ineligibility.REGION_NOT_ADMITTED,
    )


def test_every_reason_is_given_at_once() -> None:
    assert ineligibility(RULES, grade=4, citizenship="KZ", residence=None) == (
        Ineligibility.GRADE_OUT_OF_RANGE,
        Ineligibility.NOT_RUSSIAN_CITIZEN,
        Ineligibility.REGION_NOT_ADMITTED,
    )
