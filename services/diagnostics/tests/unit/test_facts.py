"""The read side's facts: identity's, consent's and diagnostics' published events, fed from
in-memory stores into a real SQLite read model as the embedded feed does, and what `Facts`
answers from them."""

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from bilet.contracts.catalogue.consent import ConsentRejected, Purpose, RejectionReason
from bilet.contracts.catalogue.identity import (
    CorrectionReason,
    ParticipantDetailsCorrected,
    ParticipantEnrolledInSeason,
    ParticipantMerged,
    ParticipantMovedToSchool,
)
from bilet.contracts.examples import sealed
from bilet.contracts.sealed import SealedValue
from bilet.contracts.vocabulary import Stage
from bilet.eventstore import ANY, NewEvent
from bilet.projections.sqlite import SqliteReadModel
from bilet_diagnostics.adapters.facts import PROJECTION, ReadModelFacts
from bilet_diagnostics.application.facts import Pupil
from bilet_diagnostics.facts_testing import (
    OTHER_REGION,
    REGION,
    SCHOOL_3,
    SCHOOL_5,
    SPB_SCHOOL,
    FactsHistory,
    erased,
    facts_on_sqlite,
    purposes_withdrawn,
    region,
    registered,
    rules,
    started,
    verified,
    window,
    withdrawn,
)

TODAY = date(2019, 10, 14)
DIAGNOSTICS_CONSENT = frozenset({Purpose.PROGRAMME_PARTICIPATION, Purpose.ONLINE_DIAGNOSTICS})


@pytest.fixture
async def history(tmp_path: Path) -> AsyncIterator[FactsHistory]:
    async with facts_on_sqlite(tmp_path) as history:
        yield history


async def _pupil(history: FactsHistory, participant_id: UUID, today: date = TODAY) -> Pupil:
    pupil = await history.facts.pupil(participant_id, today)
    assert pupil is not None
    return pupil


# ---------------------------------------------------------------------- pupils


async def test_a_registered_pupil_is_known_with_school_region_grade_and_season(
    history: FactsHistory,
) -> None:
    pupil = uuid4()
    await history.given(registered(pupil, SCHOOL_3, REGION, season=2019, grade=7))
    assert await history.facts.pupil(pupil, TODAY) == Pupil(
        participant_id=pupil,
        school_id=SCHOOL_3,
        region_id=REGION,
        grade=7,
        season=2019,
        seasons=frozenset({2019}),
        purposes=frozenset(),
        erased=False,
    )


async def test_a_pupil_identity_has_not_told_of_is_unknown_even_with_a_consent(
    history: FactsHistory,
) -> None:
    # Consent's topic may run ahead of identity's: a consent alone makes no pupil.
    pupil = uuid4()
    await history.given(verified(pupil, date(2020, 8, 31)))
    assert await history.facts.pupil(pupil, TODAY) is None
    await history.given(registered(pupil))
    assert (await _pupil(history, pupil)).purposes == DIAGNOSTICS_CONSENT


async def test_an_enrolment_in_a_later_season_becomes_the_current_one(
    history: FactsHistory,
) -> None:
    pupil = uuid4()
    await history.given(
        registered(pupil, SCHOOL_3, season=2019, grade=7),
        ParticipantEnrolledInSeason(
            participant_id=pupil, season=2020, school_id=SCHOOL_5, region_id=REGION, grade=8
        ),
    )
    facts = await _pupil(history, pupil)
    assert (facts.season, facts.seasons, facts.school_id, facts.grade) == (
        2020,
        frozenset({2019, 2020}),
        SCHOOL_5,
        8,
    )


async def test_a_move_changes_school_region_and_grade(history: FactsHistory) -> None:
    pupil = uuid4()
    await history.given(
        registered(pupil, SCHOOL_3, REGION, grade=7),
        ParticipantMovedToSchool(
            participant_id=pupil,
            from_school_id=SCHOOL_3,
            to_school_id=SPB_SCHOOL,
            to_region_id=OTHER_REGION,
            grade=7,
        ),
    )
    facts = await _pupil(history, pupil)
    assert (facts.school_id, facts.region_id, facts.grade) == (SPB_SCHOOL, OTHER_REGION, 7)


async def test_a_grade_correction_changes_the_grade_and_nothing_else(
    history: FactsHistory,
) -> None:
    pupil, other = uuid4(), uuid4()
    await history.given(
        registered(pupil, grade=7),
        registered(other, grade=7),
        ParticipantDetailsCorrected(
            participant_id=pupil, reason=CorrectionReason.GRADE_CORRECTED, grade=8
        ),
        # A correction of other details (a name) leaves the grade alone.
        ParticipantDetailsCorrected(
            participant_id=other,
            reason=CorrectionReason.TYPING_ERROR,
            full_name=SealedValue.model_validate(sealed("full_name")),
        ),
    )
    assert (await _pupil(history, pupil)).grade == 8
    assert (await _pupil(history, other)).grade == 7


# ---------------------------------------------------------------------- consent


async def test_the_verified_consent_is_in_force_to_its_last_day_included(
    history: FactsHistory,
) -> None:
    pupil = uuid4()
    await history.given(registered(pupil), verified(pupil, date(2019, 10, 31)))
    assert (await _pupil(history, pupil, date(2019, 10, 31))).purposes == DIAGNOSTICS_CONSENT
    # The day after, it has expired: no purpose is in force.
    assert (await _pupil(history, pupil, date(2019, 11, 1))).purposes == frozenset()


async def test_a_later_verified_consent_replaces_the_earlier(history: FactsHistory) -> None:
    pupil = uuid4()
    await history.given(
        registered(pupil),
        verified(pupil, date(2019, 10, 31)),
        verified(pupil, date(2020, 8, 31), (Purpose.PROGRAMME_PARTICIPATION, Purpose.PORTFOLIO)),
    )
    facts = await _pupil(history, pupil, date(2020, 1, 10))
    assert facts.purposes == {Purpose.PROGRAMME_PARTICIPATION, Purpose.PORTFOLIO}
    assert not facts.consents_to(Purpose.ONLINE_DIAGNOSTICS)


async def test_a_withdrawal_ends_the_consent_at_once(history: FactsHistory) -> None:
    pupil = uuid4()
    await history.given(
        registered(pupil), verified(pupil, date(2020, 8, 31)), withdrawn(pupil, TODAY)
    )
    assert (await _pupil(history, pupil)).purposes == frozenset()


async def test_withdrawn_purposes_leave_the_rest_in_force(history: FactsHistory) -> None:
    pupil, consent = uuid4(), uuid4()
    everything = (Purpose.PROGRAMME_PARTICIPATION, Purpose.ONLINE_DIAGNOSTICS, Purpose.HEALTH_DATA)
    await history.given(
        registered(pupil),
        verified(pupil, date(2020, 8, 31), everything, consent_id=consent),
        # A withdrawal naming another (pending) consent changes nothing in force.
        purposes_withdrawn(
            pupil, uuid4(), [Purpose.ONLINE_DIAGNOSTICS], [Purpose.PROGRAMME_PARTICIPATION]
        ),
    )
    assert (await _pupil(history, pupil)).purposes == set(everything)
    await history.given(
        purposes_withdrawn(
            pupil,
            consent,
            [Purpose.HEALTH_DATA, Purpose.ONLINE_DIAGNOSTICS],
            [Purpose.PROGRAMME_PARTICIPATION],
        )
    )
    assert (await _pupil(history, pupil)).purposes == {Purpose.PROGRAMME_PARTICIPATION}


async def test_an_erased_pupil_is_known_as_erased_with_no_consent(history: FactsHistory) -> None:
    pupil = uuid4()
    await history.given(
        registered(pupil), verified(pupil, date(2020, 8, 31)), withdrawn(pupil, TODAY)
    )
    await history.given(erased(pupil))
    facts = await _pupil(history, pupil)
    assert facts.erased
    assert facts.purposes == frozenset()
    assert not facts.consents_to(Purpose.ONLINE_DIAGNOSTICS)


async def test_a_merged_profile_names_the_kept_one(history: FactsHistory) -> None:
    """docs/adr/0043: identity merged a second profile of a child into the kept one."""
    duplicate, kept = uuid4(), uuid4()
    await history.given(registered(duplicate), registered(kept))
    await history.given(ParticipantMerged(participant_id=duplicate, kept_participant_id=kept))
    merged = await _pupil(history, duplicate)
    assert merged.merged_into == kept
    assert (await _pupil(history, kept)).merged_into is None


# ---------------------------------------------------------------------- seasons, regions, windows


async def test_the_highest_rules_version_gives_the_season_stages(history: FactsHistory) -> None:
    assert await history.facts.season_stages(2019) is None
    await history.given(rules(2019, 1, [Stage.INTERESTS, Stage.SOFT_SKILLS]))
    assert await history.facts.season_stages(2019) == (Stage.INTERESTS, Stage.SOFT_SKILLS)
    await history.given(rules(2019, 2, [Stage.SOFT_SKILLS, Stage.INTERESTS]))
    assert await history.facts.season_stages(2019) == (Stage.SOFT_SKILLS, Stage.INTERESTS)
    assert await history.facts.season_stages(2020) is None


async def test_a_revision_applies_from_its_day_and_the_days_before_keep_their_version(
    history: FactsHistory,
) -> None:
    """docs/adr/0050: a revision of a running season is in force from `applies_from`; a day
    before it is still under the version then in force (an attempt started then keeps it)."""
    await history.given(rules(2019, 1, [Stage.INTERESTS, Stage.SOFT_SKILLS]))
    revised_on = date(2019, 10, 15)
    await history.given(rules(2019, 2, [Stage.SOFT_SKILLS], applies_from=revised_on))
    first, revised = (Stage.INTERESTS, Stage.SOFT_SKILLS), (Stage.SOFT_SKILLS,)
    assert await history.facts.season_stages(2019, date(2019, 9, 1)) == first
    assert await history.facts.season_stages(2019, revised_on - timedelta(days=1)) == first
    assert await history.facts.season_stages(2019, revised_on) == revised
    assert await history.facts.season_stages(2019, date(2020, 5, 31)) == revised
    # Before the season starts: the first version (what the season is planned to be).
    assert await history.facts.season_stages(2019, date(2019, 8, 1)) == first
    assert await history.facts.season_stages(2019) == revised  # the rules as they stand now
    # Delivered again (a replay, another copy), a version changes nothing.
    await history.given(rules(2019, 1, [Stage.INTERESTS, Stage.SOFT_SKILLS]))
    assert await history.facts.season_stages(2019, revised_on - timedelta(days=1)) == first
    assert await history.facts.season_stages(2019, revised_on) == revised


async def test_today_is_the_date_in_the_region_time_zone(history: FactsHistory) -> None:
    await history.given(region(REGION, "Europe/Moscow"), region(OTHER_REGION, "Asia/Vladivostok"))
    evening_utc = datetime(2019, 10, 10, 20, 30, tzinfo=UTC)
    assert await history.facts.region_today(REGION, evening_utc) == date(2019, 10, 10)
    # 06:30 of the next day in Vladivostok (UTC+10).
    assert await history.facts.region_today(OTHER_REGION, evening_utc) == date(2019, 10, 11)
    assert await history.facts.region_today(uuid4(), evening_utc) is None


async def test_a_time_zone_this_machine_does_not_know_tells_no_day(
    history: FactsHistory,
) -> None:
    await history.given(region(REGION, "Europe/Atlantis"))
    assert await history.facts.region_today(REGION, datetime(2019, 10, 10, tzinfo=UTC)) is None


async def test_a_window_covers_its_first_and_last_day(history: FactsHistory) -> None:
    await history.given(window(date(2019, 10, 11), date(2019, 10, 31)))
    is_open = history.facts.window_open
    assert not await is_open(REGION, 2019, Stage.INTERESTS, date(2019, 10, 10))
    assert await is_open(REGION, 2019, Stage.INTERESTS, date(2019, 10, 11))
    assert await is_open(REGION, 2019, Stage.PROFESSIONS_KNOWLEDGE, date(2019, 10, 31))
    assert not await is_open(REGION, 2019, Stage.INTERESTS, date(2019, 11, 1))
    # Another region, another season: not covered.
    assert not await is_open(OTHER_REGION, 2019, Stage.INTERESTS, date(2019, 10, 20))
    assert not await is_open(REGION, 2020, Stage.INTERESTS, date(2019, 10, 20))


async def test_the_window_boundary_is_midnight_in_the_region_not_in_utc(
    history: FactsHistory,
) -> None:
    # 31 October 21:30 UTC is already 1 November in Vladivostok: its window has closed there.
    await history.given(
        region(OTHER_REGION, "Asia/Vladivostok"),
        window(date(2019, 10, 11), date(2019, 10, 31), region_id=OTHER_REGION),
    )
    now = datetime(2019, 10, 31, 21, 30, tzinfo=UTC)
    today = await history.facts.region_today(OTHER_REGION, now)
    assert today == date(2019, 11, 1)
    assert not await history.facts.window_open(OTHER_REGION, 2019, Stage.INTERESTS, today)
    # 10 October 14:00 UTC is 11 October, midnight past, in Vladivostok: the window is open.
    opening = await history.facts.region_today(
        OTHER_REGION, datetime(2019, 10, 10, 14, 0, tzinfo=UTC)
    )
    assert opening == date(2019, 10, 11)
    assert await history.facts.window_open(OTHER_REGION, 2019, Stage.INTERESTS, opening)


async def test_a_later_window_for_the_same_stages_replaces_the_earlier(
    history: FactsHistory,
) -> None:
    await history.given(
        window(date(2019, 10, 11), date(2019, 10, 31)),
        window(date(2019, 11, 5), date(2019, 11, 20)),
    )
    is_open = history.facts.window_open
    assert not await is_open(REGION, 2019, Stage.INTERESTS, date(2019, 10, 20))
    assert await is_open(REGION, 2019, Stage.INTERESTS, date(2019, 11, 10))


async def test_a_window_for_other_stages_is_added_beside(history: FactsHistory) -> None:
    await history.given(
        window(date(2019, 10, 11), date(2019, 10, 31), [Stage.INTERESTS]),
        window(date(2019, 11, 5), date(2019, 11, 20), [Stage.INTERESTS, Stage.SOFT_SKILLS]),
    )
    is_open = history.facts.window_open
    assert await is_open(REGION, 2019, Stage.INTERESTS, date(2019, 10, 20))
    assert await is_open(REGION, 2019, Stage.INTERESTS, date(2019, 11, 10))
    assert not await is_open(REGION, 2019, Stage.SOFT_SKILLS, date(2019, 10, 20))
    assert await is_open(REGION, 2019, Stage.SOFT_SKILLS, date(2019, 11, 10))
    assert not await is_open(REGION, 2019, Stage.PROFESSIONS_KNOWLEDGE, date(2019, 11, 10))


async def test_nothing_is_known_before_the_feed_installed_the_tables(tmp_path: Path) -> None:
    read_model = await SqliteReadModel.open(tmp_path / "empty.sqlite3")
    try:
        facts = ReadModelFacts(read_model)
        assert await facts.pupil(uuid4(), TODAY) is None
        assert await facts.season_stages(2019) is None
        assert await facts.region_today(REGION, datetime(2019, 10, 10, tzinfo=UTC)) is None
        assert not await facts.window_open(REGION, 2019, Stage.INTERESTS, TODAY)
        progress = await facts.progress(SCHOOL_3, 2019)
        assert (progress.known, progress.grades) == (False, ())
    finally:
        await read_model.close()


async def test_a_started_stage_of_an_unknown_pupil_is_kept_for_when_they_arrive(
    history: FactsHistory,
) -> None:
    pupil = uuid4()
    await history.given(started(pupil, Stage.INTERESTS))
    assert await history.facts.pupil(pupil, TODAY) is None


async def test_a_rejected_new_consent_leaves_the_one_in_force(history: FactsHistory) -> None:
    # Only a pending consent is ever rejected; the verified one stays in force.
    pupil = uuid4()
    await history.given(
        registered(pupil),
        verified(pupil, date(2020, 8, 31)),
        ConsentRejected(
            participant_id=pupil, consent_id=uuid4(), reasons=(RejectionReason.UNREADABLE_SCAN,)
        ),
    )
    assert (await _pupil(history, pupil)).purposes == DIAGNOSTICS_CONSENT


async def test_events_of_no_published_type_are_ignored(history: FactsHistory) -> None:
    # Internal streams of the service (answers, reservations) pass the embedded feed unread.
    pupil = uuid4()
    await history.given(registered(pupil))
    store = history.stores["diagnostics"]
    await store.append(
        f"answers-{pupil}", [NewEvent("AnswerSaved", b'{"participant_id": "x"}')], ANY
    )
    await history.feed.catch_up({})
    assert (await _pupil(history, pupil)).grade == 7
    # Not applied and not refused: nothing went to the dead letters.
    assert await history.feed.read_model.dead_letters(PROJECTION) == []


async def test_a_wait_for_a_position_returns_once_the_facts_include_it(
    history: FactsHistory,
) -> None:
    pupil = uuid4()
    assert not await history.facts.wait_for("identity", 1, 0.05)
    await history.given(registered(pupil))
    assert await history.facts.wait_for("identity", 1, 5, stream_id=f"participant-{pupil}")
    assert not await history.facts.wait_for("identity", 2, 0.05)
