"""Regions: admitted per season with their coordinator, and their diagnostics windows."""

from datetime import date
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from bilet.contracts.catalogue.identity import DiagnosticsWindowScheduled, RegionAdmitted
from bilet.contracts.vocabulary import Stage
from bilet_identity.domain.errors import (
    InvalidDetails,
    InvalidWindow,
    RegionAlreadyAdmitted,
    RegionNotAdmitted,
    UnknownSeason,
)
from bilet_identity.domain.region import (
    AdmitRegion,
    Region,
    RegionEvent,
    ScheduleDiagnosticsWindow,
    decide,
    evolve,
    region_id_for,
)
from bilet_identity.domain.russia import REGION_CODES, TIME_ZONES
from bilet_identity.domain.season import SeasonRules

ALL = (Stage.INTERESTS, Stage.SOFT_SKILLS, Stage.PROFESSIONS_KNOWLEDGE)
RULES = SeasonRules(2019, 1, 6, 11, 3, ALL, date(2019, 9, 1), date(2020, 5, 31))
RULES_2020 = SeasonRules(2020, 1, 6, 11, 3, ALL, date(2020, 9, 1), date(2021, 5, 31))
COORDINATOR = "ГБУ ДО «Интеллект»"
LENINGRAD = region_id_for("47")


def admit(season: int = 2019, rules: SeasonRules | None = RULES) -> AdmitRegion:
    return AdmitRegion("47", "Ленинградская область", season, "Europe/Moscow", COORDINATOR, rules)


def window(
    opens: date = date(2019, 10, 11),
    closes: date = date(2019, 10, 31),
    stages: tuple[Stage, ...] = ALL,
    season: int = 2019,
    rules: SeasonRules | None = RULES,
) -> ScheduleDiagnosticsWindow:
    return ScheduleDiagnosticsWindow(LENINGRAD, season, stages, opens, closes, rules)


def given(*events: RegionEvent) -> Region | None:
    state: Region | None = None
    for event in events:
        state = evolve(state, event)
    return state


ADMITTED = RegionAdmitted(
    region_id=LENINGRAD,
    region_code="47",
    name="Ленинградская область",
    season=2019,
    time_zone="Europe/Moscow",
    coordinator=COORDINATOR,
)
WINDOW = DiagnosticsWindowScheduled(
    region_id=LENINGRAD,
    season=2019,
    stages=ALL,
    opens_on=date(2019, 10, 11),
    closes_on=date(2019, 10, 31),
)


def test_one_region_one_id_derived_from_its_code() -> None:
    assert region_id_for("47") == LENINGRAD == UUID("b04673c4-e959-5e7b-b095-3d9da56889fb")
    assert region_id_for("78") != LENINGRAD


def test_given_nothing_when_admitted_then_region_admitted_with_its_coordinator() -> None:
    assert decide(admit(), given()) == [ADMITTED]
    state = given(ADMITTED)
    assert state is not None
    assert state.coordinator == COORDINATOR
    assert state.admitted_in(2019)
    assert not state.admitted_in(2020)


def test_admission_needs_the_season_rules() -> None:
    with pytest.raises(UnknownSeason):
        decide(admit(rules=None), given())


def test_given_admitted_when_admitted_again_for_the_season_then_refused() -> None:
    with pytest.raises(RegionAlreadyAdmitted):
        decide(admit(), given(ADMITTED))


def test_given_admitted_when_admitted_for_the_next_season_then_both_seasons() -> None:
    [event] = decide(admit(2020, RULES_2020), given(ADMITTED))
    state = given(ADMITTED, event)
    assert state is not None
    assert state.seasons == {2019, 2020}


@pytest.mark.parametrize(
    ("code", "field"),
    [(code, "region_code") for code in ("4", "ab", "00", "80", "96", "99")],
)
def test_a_malformed_region_code_is_refused(code: str, field: str) -> None:
    command = AdmitRegion(code, "X", 2019, "Europe/Moscow", COORDINATOR, RULES)
    with pytest.raises(InvalidDetails) as refused:
        decide(command, given())
    assert refused.value.field == field


def test_given_admitted_when_a_window_is_scheduled_then_it_is_the_regions_window() -> None:
    assert decide(window(), given(ADMITTED)) == [WINDOW]
    state = given(ADMITTED, WINDOW)
    assert state is not None
    assert [(w.opens_on, w.closes_on) for w in state.windows] == [
        (date(2019, 10, 11), date(2019, 10, 31))
    ]


def test_the_same_window_again_is_nothing_new() -> None:
    assert decide(window(), given(ADMITTED, WINDOW)) == []


def test_a_later_window_for_the_same_stages_replaces_the_earlier() -> None:
    [later] = decide(window(closes=date(2019, 11, 8)), given(ADMITTED, WINDOW))
    state = given(ADMITTED, WINDOW, later)
    assert state is not None
    assert [w.closes_on for w in state.windows] == [date(2019, 11, 8)]


def test_a_window_needs_the_region_admitted_in_that_season() -> None:
    with pytest.raises(RegionNotAdmitted):
        decide(window(), given())
    with pytest.raises(RegionNotAdmitted):
        decide(
            window(date(2020, 10, 1), date(2020, 10, 20), season=2020, rules=RULES_2020),
            given(ADMITTED),
        )


@pytest.mark.parametrize(
    "command",
    [
        window(date(2019, 10, 31), date(2019, 10, 11)),  # closes before it opens
        window(date(2019, 8, 1), date(2019, 10, 11)),  # before the season
        window(date(2020, 5, 1), date(2020, 6, 30)),  # after the season
        window(stages=(Stage.INTERESTS, Stage.INTERESTS)),
    ],
)
def test_windows_that_do_not_fit_the_season_are_refused(
    command: ScheduleDiagnosticsWindow,
) -> None:
    with pytest.raises(InvalidWindow):
        decide(command, given(ADMITTED))


def test_a_window_only_for_stages_that_run_in_the_season() -> None:
    two_stages = SeasonRules(2019, 1, 6, 11, 3, ALL[:2], date(2019, 9, 1), date(2020, 5, 31))
    with pytest.raises(InvalidWindow, match="stage"):
        decide(window(rules=two_stages), given(ADMITTED))
    with pytest.raises(UnknownSeason):
        decide(window(rules=None), given(ADMITTED))


@pytest.mark.parametrize("zone", ["Moscow", "Europe/Atlantis", "Europe/London", "UTC", "MSK"])
def test_a_time_zone_that_is_not_one_of_russias_iana_zones_is_refused(zone: str) -> None:
    command = AdmitRegion("47", "X", 2019, zone, COORDINATOR, RULES)
    with pytest.raises(InvalidDetails) as refused:
        decide(command, given())
    assert refused.value.field == "time_zone"


def test_every_subject_and_every_zone_of_russia_is_admitted() -> None:
    assert len(REGION_CODES) == 89
    for code, zone in zip(REGION_CODES, TIME_ZONES * 4, strict=False):
        ZoneInfo(zone)  # a real zone of the tz database
        [event] = decide(AdmitRegion(code, "X", 2019, zone, COORDINATOR, RULES), given())
        assert isinstance(event, RegionAdmitted)
        assert (event.region_code, event.time_zone) == (code, zone)
