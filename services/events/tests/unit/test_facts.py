"""The events service's facts: identity's and consent's published events, fed from in-memory
stores into a real SQLite read model as the embedded feed does, and what `Facts` answers — the
pupil's placement, the consent in force, the season's maximum, and the accessibility needs only
sealed, and only under a consent to health data."""

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from bilet.contracts.catalogue.consent import Purpose
from bilet.contracts.catalogue.identity import (
    CorrectionReason,
    ParticipantDetailsCorrected,
    ParticipantEnrolledInSeason,
    ParticipantMovedToSchool,
)
from bilet_events.application.facts import Attendee, Pupil, SealedNeeds
from bilet_events.facts_testing import (
    LUGA,
    OTHER_REGION,
    PARTICIPATION,
    REGION,
    SCHOOL,
    FactsHistory,
    envelope,
    erased,
    facts_on_sqlite,
    needs_corrected,
    purposes_withdrawn,
    registered,
    rules,
    school,
    verified,
    withdrawn,
)

TODAY = date(2019, 10, 14)
WITH_HEALTH = (*PARTICIPATION, Purpose.HEALTH_DATA)


@pytest.fixture
async def history(tmp_path: Path) -> AsyncIterator[FactsHistory]:
    async with facts_on_sqlite(tmp_path) as history:
        yield history


async def _pupil(history: FactsHistory, participant_id: UUID, today: date = TODAY) -> Pupil:
    pupil = await history.facts.pupil(participant_id, today)
    assert pupil is not None
    return pupil


async def test_a_registered_pupil_is_known_with_placement_and_sealed_needs(
    history: FactsHistory,
) -> None:
    pupil = uuid4()
    await history.given(school(), registered(pupil, grade=9))
    assert await history.facts.pupil(pupil, TODAY) == Pupil(
        participant_id=pupil,
        school_id=SCHOOL,
        region_id=REGION,
        municipality=LUGA,
        grade=9,
        season=2019,
        purposes=frozenset(),
        erased=False,
        sealed_needs=SealedNeeds(envelope("accessibility_needs"), 1),
    )


async def test_the_municipality_is_unknown_until_the_school_arrives(
    history: FactsHistory,
) -> None:
    pupil = uuid4()
    await history.given(registered(pupil))
    assert (await _pupil(history, pupil)).municipality is None
    await history.given(school())
    assert (await _pupil(history, pupil)).municipality == LUGA


async def test_a_consent_alone_makes_no_pupil(history: FactsHistory) -> None:
    pupil = uuid4()
    await history.given(verified(pupil))
    assert await history.facts.pupil(pupil, TODAY) is None
    await history.given(registered(pupil))
    assert (await _pupil(history, pupil)).purposes == frozenset(PARTICIPATION)


async def test_needs_reach_a_use_case_only_under_a_consent_to_health_data(
    history: FactsHistory,
) -> None:
    without, with_health = uuid4(), uuid4()
    await history.given(
        registered(without),
        verified(without),
        registered(with_health),
        verified(with_health, purposes=WITH_HEALTH),
    )
    refused = await _pupil(history, without)
    assert refused.sealed_needs is not None
    assert refused.accessibility_needs is None
    assert (await _pupil(history, with_health)).accessibility_needs == SealedNeeds(
        envelope("accessibility_needs"), 1
    )


async def test_withdrawing_health_data_hides_the_needs_and_keeps_career_events(
    history: FactsHistory,
) -> None:
    pupil, consent = uuid4(), uuid4()
    await history.given(
        registered(pupil),
        verified(pupil, purposes=WITH_HEALTH, consent_id=consent),
        purposes_withdrawn(pupil, consent, [Purpose.HEALTH_DATA], PARTICIPATION),
    )
    known = await _pupil(history, pupil)
    assert known.accessibility_needs is None
    assert known.consents_to(Purpose.CAREER_EVENTS)


async def test_needs_stated_again_carry_their_key_generation(history: FactsHistory) -> None:
    pupil = uuid4()
    await history.given(
        registered(pupil),
        verified(pupil, purposes=WITH_HEALTH),
        needs_corrected(pupil, "needs-again", generation=2),
    )
    assert (await _pupil(history, pupil)).accessibility_needs == SealedNeeds(
        envelope("needs-again"), 2
    )


async def test_a_consent_past_its_last_day_or_withdrawn_is_not_in_force(
    history: FactsHistory,
) -> None:
    expired, gone = uuid4(), uuid4()
    await history.given(
        registered(expired),
        verified(expired, valid_until=date(2019, 10, 13)),
        registered(gone),
        verified(gone),
        withdrawn(gone, date(2019, 10, 1)),
    )
    assert (await _pupil(history, expired)).purposes == frozenset()
    assert (await _pupil(history, expired, date(2019, 10, 13))).purposes == frozenset(PARTICIPATION)
    assert not (await _pupil(history, gone)).consents_to(Purpose.CAREER_EVENTS)


async def test_an_erased_pupil_keeps_no_needs_whatever_arrives_first(
    history: FactsHistory,
) -> None:
    before, after = uuid4(), uuid4()
    # Each feed applies what is appended so far: one order, then the other.
    await history.given(erased(before))
    await history.given(registered(before), registered(after))
    await history.given(erased(after))
    for pupil in (before, after):
        known = await _pupil(history, pupil)
        assert known.erased
        assert known.sealed_needs is None
        assert not known.consents_to(Purpose.CAREER_EVENTS)


async def test_a_move_changes_school_and_region_and_an_earlier_enrolment_does_not(
    history: FactsHistory,
) -> None:
    pupil, other_school = uuid4(), uuid4()
    await history.given(
        registered(pupil, season=2020, grade=9),
        school(other_school, OTHER_REGION, "Санкт-Петербург"),
        ParticipantMovedToSchool(
            participant_id=pupil,
            from_school_id=SCHOOL,
            to_school_id=other_school,
            to_region_id=OTHER_REGION,
            grade=9,
        ),
        ParticipantEnrolledInSeason(
            participant_id=pupil, season=2019, school_id=SCHOOL, region_id=REGION, grade=8
        ),
    )
    moved = await _pupil(history, pupil)
    assert (moved.season, moved.grade) == (2020, 9)
    assert (moved.school_id, moved.region_id, moved.municipality) == (
        other_school,
        OTHER_REGION,
        "Санкт-Петербург",
    )


async def test_the_season_maximum_is_that_of_the_highest_rules_version(
    history: FactsHistory,
) -> None:
    assert await history.facts.max_career_events(2019) is None
    await history.given(rules(2019, 2, max_career_events=4), rules(2019, 1, max_career_events=3))
    assert await history.facts.max_career_events(2019) == 4
    assert await history.facts.max_career_events(2020) is None


async def test_the_rosters_facts_keep_the_sealed_full_name_and_the_schools_name(
    history: FactsHistory,
) -> None:
    pupil, unknown_school, nobody = uuid4(), uuid4(), uuid4()
    other = uuid4()
    await history.given(school(), registered(pupil), registered(other, unknown_school))
    attendees = await history.facts.attendees([pupil, other, nobody])
    assert attendees == {
        pupil: Attendee(pupil, SCHOOL, "МОУ «СОШ № 3»", envelope("full_name")),
        other: Attendee(other, unknown_school, None, envelope("full_name")),
    }
    corrected = ParticipantDetailsCorrected(
        participant_id=pupil,
        reason=CorrectionReason.DOCUMENT_CHANGED,
        full_name=envelope("new name"),
    )
    await history.given(corrected)
    assert (await history.facts.attendees([pupil]))[pupil].sealed_full_name == envelope("new name")
    await history.given(erased(pupil))
    assert (await history.facts.attendees([pupil]))[pupil].sealed_full_name is None
    assert await history.facts.attendees([]) == {}
