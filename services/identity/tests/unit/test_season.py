"""Season rules are versioned configuration: given the published revisions, when the operator
publishes, then a new revision (or nothing, or a refusal)."""

from datetime import date

import pytest

from bilet.contracts.catalogue.identity import SeasonRulesPublished
from bilet.contracts.vocabulary import GradeRange, Stage
from bilet_identity.domain.errors import (
    InvalidDetails,
    InvalidSeasonRules,
    SeasonClosed,
    SeasonStarted,
)
from bilet_identity.domain.season import PublishSeasonRules, SeasonRules, decide, evolve

ALL = (Stage.INTERESTS, Stage.SOFT_SKILLS, Stage.PROFESSIONS_KNOWLEDGE)


def rules_2019(**changes: object) -> PublishSeasonRules:
    fields: dict[str, object] = {
        "season": 2019,
        "lowest_grade": 6,
        "highest_grade": 11,
        "max_career_events": 3,
        "diagnostics_stages": ALL,
        "starts_on": date(2019, 9, 1),
        "ends_on": date(2020, 5, 31),
    }
    fields.update(changes)
    return PublishSeasonRules(**fields)  # type: ignore[arg-type]


def given(*events: SeasonRulesPublished) -> SeasonRules | None:
    state: SeasonRules | None = None
    for event in events:
        state = evolve(state, event)
    return state


def published(version: int, lowest: int = 6, events: int = 3) -> SeasonRulesPublished:
    return SeasonRulesPublished(
        season=2019,
        rules_version=version,
        eligible_grades=GradeRange(lowest=lowest, highest=11),
        max_career_events=events,
        diagnostics_stages=ALL,
        starts_on=date(2019, 9, 1),
        ends_on=date(2020, 5, 31),
        applies_from=date(2019, 9, 1),
    )


def test_given_no_rules_when_published_then_revision_1() -> None:
    assert decide(rules_2019(), given()) == [published(1)]


def test_given_rules_when_the_same_rules_are_published_then_nothing_happens() -> None:
    assert decide(rules_2019(), given(published(1))) == []


def test_given_rules_when_revised_then_the_next_revision_is_in_force() -> None:
    [event] = decide(rules_2019(max_career_events=4), given(published(1)))
    assert event == published(2, events=4)
    state = given(published(1), event)
    assert state is not None
    assert (state.rules_version, state.max_career_events) == (2, 4)


def test_an_older_revision_never_replaces_the_one_in_force() -> None:
    state = given(published(2, lowest=7), published(1))
    assert state is not None
    assert (state.rules_version, state.lowest_grade) == (2, 7)


@pytest.mark.parametrize(
    "changes",
    [
        {"lowest_grade": 9, "highest_grade": 6},
        {"lowest_grade": 0},
        {"highest_grade": 12},
        {"ends_on": date(2019, 8, 1)},
        {"starts_on": date(2020, 9, 1), "ends_on": date(2021, 5, 31)},
        {"diagnostics_stages": ()},
        {"diagnostics_stages": (Stage.INTERESTS, Stage.INTERESTS)},
        {"max_career_events": 0},
        # Across two school years: past 31 August, or over the summer into the next one.
        {"ends_on": date(2020, 9, 30)},
        {"starts_on": date(2019, 3, 1), "ends_on": date(2019, 12, 31)},
    ],
)
def test_rules_that_make_no_sense_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(InvalidSeasonRules) as refused:
        decide(rules_2019(**changes), given())
    assert refused.value.code == "invalid_season_rules"


def test_a_season_outside_the_programme_years_is_invalid_details() -> None:
    with pytest.raises(InvalidDetails, match="season"):
        decide(
            rules_2019(season=2101, starts_on=date(2101, 9, 1), ends_on=date(2102, 5, 1)),
            given(),
        )


def test_the_season_admits_its_grade_range_only() -> None:
    state = given(published(1))
    assert state is not None
    assert [g for g in range(1, 12) if state.admits_grade(g)] == [6, 7, 8, 9, 10, 11]


def test_a_season_inside_one_school_year_is_published() -> None:
    spring = rules_2019(starts_on=date(2019, 2, 1), ends_on=date(2019, 8, 31))
    [event] = decide(spring, given())
    assert (event.starts_on, event.ends_on) == (date(2019, 2, 1), date(2019, 8, 31))


def test_before_the_season_starts_every_rule_may_be_revised() -> None:
    earlier = rules_2019(starts_on=date(2019, 9, 15), today=date(2019, 8, 20))
    [event] = decide(earlier, given(published(1)))
    assert (event.rules_version, event.starts_on) == (2, date(2019, 9, 15))
    assert event.applies_from == date(2019, 9, 15)  # the whole season: nothing happened yet


def test_a_running_season_is_revised_from_the_day_of_the_revision_never_backwards() -> None:
    running = date(2019, 11, 1)
    [event] = decide(rules_2019(max_career_events=4, today=running), given(published(1)))
    assert (event.rules_version, event.applies_from) == (2, running)  # the past keeps v1
    state = evolve(evolve(None, published(1)), event)
    assert (state.rules_version, state.applies_from) == (2, running)
    with pytest.raises(SeasonStarted) as moved:
        decide(rules_2019(starts_on=date(2019, 9, 2), today=running), given(published(1)))
    assert moved.value.code == "season_started"
    with pytest.raises(InvalidSeasonRules, match="before the day"):
        decide(rules_2019(ends_on=date(2019, 10, 31), today=running), given(published(1)))
    # Publishing the rules in force again is still nothing, whenever it is done.
    assert decide(rules_2019(today=running), given(published(1))) == []


def test_an_ended_season_is_not_rewritten() -> None:
    with pytest.raises(SeasonClosed) as closed:
        decide(rules_2019(max_career_events=4, today=date(2020, 6, 1)), given(published(1)))
    assert closed.value.code == "season_closed"
    assert closed.value.details == {"season": 2019, "ended_on": "2020-05-31"}


def test_a_revision_keeps_the_regions_testing_windows_inside_the_season() -> None:
    window = ((date(2019, 10, 11), date(2019, 10, 31)),)
    later = rules_2019(starts_on=date(2019, 10, 15), windows=window)
    with pytest.raises(InvalidSeasonRules, match="window"):
        decide(later, given(published(1)))
    [event] = decide(rules_2019(ends_on=date(2020, 4, 30), windows=window), given(published(1)))
    assert event.ends_on == date(2020, 4, 30)
