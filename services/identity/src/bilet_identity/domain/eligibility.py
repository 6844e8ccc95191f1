"""Who may take part in a season: grade in the season's range, Russian citizenship, residence in
a region admitted to the season. A pure function of the facts, so every refusal can say why."""

from enum import StrEnum

from bilet_identity.domain.people import RUSSIA
from bilet_identity.domain.region import Region
from bilet_identity.domain.season import SeasonRules


class Ineligibility(StrEnum):
    """Why a pupil may not take part (the `reasons` of a `not_eligible` problem)."""

    GRADE_OUT_OF_RANGE = "grade_out_of_range"
    NOT_RUSSIAN_CITIZEN = "not_russian_citizen"
    REGION_NOT_ADMITTED = "region_not_admitted"


def ineligibility(
    rules: SeasonRules,
    *,
    grade: int,
    citizenship: str,
    residence: Region | None,
) -> tuple[Ineligibility, ...]:
    """Every reason the pupil is not eligible for the season of `rules`; empty when eligible.

    `residence` is the region the pupil lives in, None when it is no region of the programme.
    """
    reasons: list[Ineligibility] = []
    if not rules.admits_grade(grade):
        reasons.append(Ineligibility.GRADE_OUT_OF_RANGE)
    if citizenship != RUSSIA:
        reasons.append(Ineligibility.NOT_RUSSIAN_CITIZEN)
    if residence is None or not residence.admitted_in(rules.season):
        reasons.append(Ineligibility.REGION_NOT_ADMITTED)
    return tuple(reasons)
