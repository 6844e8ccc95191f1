"""Given facts from other services, when folded, then the evidence the recommender may act on:
no readable personal data, redeliveries change nothing, an erasure forgets everything."""

from datetime import UTC, date, datetime
from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from bilet.contracts.catalogue.consent import (
    ConsentPurposesWithdrawn,
    ErasureReason,
    ParticipantErased,
    Purpose,
)
from bilet.contracts.catalogue.events import (
    BookingCancellationReason,
    BookingCancelled,
    BookingRoute,
    SeatBooked,
)
from bilet.contracts.catalogue.identity import (
    CorrectionReason,
    ParticipantDetailsCorrected,
    ParticipantMovedToSchool,
)
from bilet.contracts.vocabulary import Environment, Level, Stage
from bilet_recommender.domain import evidence as fold
from bilet_recommender.domain.evidence import FACT_TYPES, Evidence, Fact
from bilet_recommender.testing import (
    SEASON,
    attended,
    career_event,
    completed_pupil,
    evidence_of,
    feedback,
    interests,
    knowledge,
    sealed,
    soft_skills,
    verified,
)

PARTICIPANT = uuid4()
REGION = uuid4()
EVENT = career_event(REGION, Environment.SMART)
VISIT = attended(PARTICIPANT, EVENT)
HISTORY: tuple[Fact, ...] = (
    *completed_pupil(
        PARTICIPANT, REGION, {Environment.SMART: 70}, {Environment.SMART: Level.PROFICIENT}
    ),
    VISIT,
    feedback(VISIT),
)


def folded(*facts: Fact) -> Evidence:
    return evidence_of(PARTICIPANT, *facts)


def test_the_evidence_holds_grade_region_stages_attendance_and_rubrics() -> None:
    evidence = folded(*HISTORY)
    assert (evidence.grade, evidence.region_id, evidence.season) == (8, REGION, SEASON)
    assert evidence.completed_season() == SEASON
    assert [r.stage for r in evidence.results(SEASON)] == list(Stage)
    assert (
        dict(evidence.result(SEASON, Stage.INTERESTS).environment_scores)[Environment.SMART] == 70
    )
    assert [a.booking_id for a in evidence.attended] == [VISIT.booking_id]
    assert evidence.rubrics[0].career_event_id == EVENT.career_event_id
    assert evidence.allows(Purpose.RECOMMENDATIONS, date(2026, 11, 2))


def test_no_readable_personal_data_only_the_sealed_needs() -> None:
    stored = folded(*HISTORY).model_dump_json()
    # Name, birth date, СНИЛС, health limitations and the mentor's comment are not kept at all,
    # not even sealed; the accessibility needs only as identity sealed them.
    for sealed_elsewhere in ("name", "birth", "snils", "health", "comment"):
        assert sealed(sealed_elsewhere).ct not in stored
    assert sealed("needs").ct in stored


def test_the_evidence_is_kept_and_read_back_as_json() -> None:
    evidence = folded(*HISTORY)
    assert Evidence.model_validate_json(evidence.model_dump_json()) == evidence


def test_seats_held_and_released_and_attended() -> None:
    seat = SeatBooked(
        career_event_id=EVENT.career_event_id,
        session_id=EVENT.sessions[0].session_id,
        booking_id=uuid4(),
        participant_id=PARTICIPANT,
        season=SEASON,
        route=BookingRoute.BOOKED,
    )
    held = folded(seat)
    assert [b.booking_id for b in held.booked] == [seat.booking_id]
    released = BookingCancelled(
        career_event_id=EVENT.career_event_id,
        booking_id=seat.booking_id,
        participant_id=PARTICIPANT,
        reason=BookingCancellationReason.PARTICIPANT_CANCELLED,
    )
    assert folded(seat, released).booked == ()
    went = attended(PARTICIPANT, EVENT).model_copy(update={"booking_id": seat.booking_id})
    after = folded(seat, went)
    assert after.booked == ()
    assert [a.booking_id for a in after.attended] == [seat.booking_id]


def test_corrections_moves_and_partial_withdrawals() -> None:
    corrected = ParticipantDetailsCorrected(
        participant_id=PARTICIPANT,
        reason=CorrectionReason.GRADE_CORRECTED,
        grade=9,
        accessibility_needs=sealed("needs2"),
        key_generation=2,
    )
    new_region = uuid4()
    moved = ParticipantMovedToSchool(
        participant_id=PARTICIPANT,
        from_school_id=uuid4(),
        to_school_id=uuid4(),
        to_region_id=new_region,
        grade=9,
    )
    consent = HISTORY[1]
    assert isinstance(consent, type(verified(PARTICIPANT)))
    narrowed = ConsentPurposesWithdrawn(
        participant_id=PARTICIPANT,
        consent_id=consent.consent_id,
        withdrawn=(Purpose.RECOMMENDATIONS,),
        remaining=(Purpose.PROGRAMME_PARTICIPATION,),
        withdrawn_on=date(2026, 11, 1),
    )
    evidence = folded(*HISTORY, corrected, moved, narrowed)
    assert (evidence.grade, evidence.region_id) == (9, new_region)
    assert evidence.needs is not None
    assert evidence.needs.key_generation == 2
    assert not evidence.allows(Purpose.RECOMMENDATIONS, date(2026, 11, 2))
    assert evidence.allows(Purpose.PROGRAMME_PARTICIPATION, date(2026, 11, 2))


def test_an_erasure_forgets_everything_and_takes_nothing_more_in() -> None:
    erased = ParticipantErased(
        participant_id=PARTICIPANT,
        reason=ErasureReason.CONSENT_WITHDRAWN,
        erased_at=datetime(2026, 12, 1, tzinfo=UTC),
        destruction_record_id=uuid4(),
    )
    after = folded(*HISTORY, erased, *HISTORY)
    assert after == Evidence(participant_id=PARTICIPANT, erased=True)
    assert not after.allows(Purpose.RECOMMENDATIONS, date(2026, 11, 2))


def test_a_retaken_stage_of_a_new_season_completes_that_season_alone() -> None:
    retake = interests(PARTICIPANT, {Environment.HEALTHY: 90}, season=SEASON + 1)
    evidence = folded(*HISTORY, retake)
    assert evidence.completed_season() == SEASON
    later = folded(
        *HISTORY,
        retake,
        soft_skills(PARTICIPANT, season=SEASON + 1),
        knowledge(PARTICIPANT, {}, season=SEASON + 1),
    )
    assert later.completed_season() == SEASON + 1
    assert len(later.results(SEASON)) == 3


def test_the_fold_is_total_over_its_facts() -> None:
    assert set(FACT_TYPES) >= {type(fact) for fact in HISTORY}


@given(st.lists(st.sampled_from(HISTORY), max_size=12))
def test_a_redelivered_fact_changes_nothing(facts: list[Fact]) -> None:
    once = folded(*facts)
    for fact in facts:
        assert fold.evolve(once, fact) == once
