"""A participant: given their events, when the school acts, then these events or this refusal.

Decisions with personal data come as `Unsealed` drafts (plaintext); the given events are sealed
with a placeholder, exactly as `evolve` sees them from the store (it never reads sealed fields).
"""

from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from typing import Any
from uuid import UUID

import pytest

from bilet.contracts import DomainEvent, SealedValue
from bilet.contracts.catalogue.identity import (
    CorrectionReason,
    ParticipantDetailsCorrected,
    ParticipantEnrolledInSeason,
    ParticipantMovedToSchool,
    ParticipantRegistered,
)
from bilet.contracts.drafts import Decided, Unsealed
from bilet.contracts.vocabulary import AccessibilityNeed, Stage
from bilet_identity.domain import participant
from bilet_identity.domain.errors import (
    AlreadyEnrolled,
    InvalidDetails,
    NotEligible,
    NothingToCorrect,
    ParticipantExists,
    SameSchool,
    SeasonNotAfterCurrent,
    UnknownParticipant,
    UnknownSchool,
    UnknownSeason,
)
from bilet_identity.domain.participant import (
    CorrectDetails,
    EnrolInSeason,
    MoveToSchool,
    Participant,
    RegisterParticipant,
)
from bilet_identity.domain.people import (
    FullName,
    HealthLimitationKind,
    HealthLimitations,
    PersonalDetails,
)
from bilet_identity.domain.region import Region, region_id_for
from bilet_identity.domain.school import School
from bilet_identity.domain.season import SeasonRules
from bilet_identity.domain.snils import Snils

PID = UUID("6c1c1c1c-0000-4000-8000-000000000001")
ALL = (Stage.INTERESTS, Stage.SOFT_SKILLS, Stage.PROFESSIONS_KNOWLEDGE)
RULES = SeasonRules(2019, 1, 6, 11, 3, ALL, date(2019, 9, 1), date(2020, 5, 31))
RULES_2020 = SeasonRules(2020, 1, 6, 11, 3, ALL, date(2020, 9, 1), date(2021, 5, 31))
LENINGRAD = Region(region_id_for("47"), "47", "ЛО", "Europe/Moscow", "Ц", frozenset({2019, 2020}))
SPB = Region(region_id_for("78"), "78", "СПб", "Europe/Moscow", "Ц", frozenset({2019}))
SCHOOL_3 = School(
    UUID("16fae2ab-d1c8-5e70-ba8f-657ddc885c03"), LENINGRAD.region_id, "СОШ № 3", "Луга"
)
SCHOOL_5 = School(
    UUID("2b848086-7aca-51be-b130-41e65476f3a5"), LENINGRAD.region_id, "СОШ № 5", "Луга"
)
SPB_SCHOOL = School(UUID("3c000000-0000-4000-8000-000000000003"), SPB.region_id, "СОШ № 1", "СПб")
DETAILS = PersonalDetails(
    FullName("Соколова", "Дарья", "Андреевна"),
    date(2007, 4, 12),
    Snils.parse("112-233-445 95"),
    HealthLimitations(True, HealthLimitationKind.VISION),
    (AccessibilityNeed.LARGE_PRINT,),
)
PLACEHOLDER = SealedValue.model_validate(
    {"$enc": "aesgcm-v1", "kid": "k", "n": "AAAAAAAAAAAAAAAA", "ct": "AAAAAAAAAAAAAAAAAAAAAAAA"}
)


def sealed(decided: Sequence[Decided]) -> list[DomainEvent]:
    """The decided events as the store holds them (a placeholder for each sealed value)."""
    return [
        d.sealed_with(dict.fromkeys(d.personal, PLACEHOLDER)) if isinstance(d, Unsealed) else d
        for d in decided
    ]


def given(*batches: Sequence[Decided]) -> Participant | None:
    state: Participant | None = None
    for batch in batches:
        for event in sealed(batch):
            assert isinstance(
                event,
                ParticipantRegistered
                | ParticipantDetailsCorrected
                | ParticipantMovedToSchool
                | ParticipantEnrolledInSeason,
            )
            state = participant.evolve(state, event)
    return state


def register(**changes: Any) -> RegisterParticipant:
    fields: dict[str, Any] = {
        "participant_id": PID,
        "season": 2019,
        "school": SCHOOL_3,
        "school_region": LENINGRAD,
        "residence": LENINGRAD,
        "rules": RULES,
        "details": DETAILS,
        "grade": 7,
        "citizenship": "RU",
        "accessibility_needs": (AccessibilityNeed.LARGE_PRINT,),
    }
    fields.update(changes)
    return RegisterParticipant(**fields)


REGISTERED = participant.decide(register(), None)


def correct(**changes: Any) -> CorrectDetails:
    return CorrectDetails(
        participant_id=PID,
        reason=changes.pop("reason", CorrectionReason.TYPING_ERROR),
        current=DETAILS,
        rules=RULES,
        **changes,
    )


# ---------------------------------------------------------------------- registration
def test_when_an_eligible_pupil_is_registered_then_registered_with_plaintext_to_seal() -> None:
    [draft] = participant.decide(register(), None)
    assert isinstance(draft, Unsealed)
    assert draft.event_class is ParticipantRegistered
    assert draft.stream_id == f"participant-{PID}"
    assert draft.subject == str(PID)
    assert draft.clear == {
        "participant_id": PID,
        "school_id": SCHOOL_3.school_id,
        "region_id": LENINGRAD.region_id,
        "season": 2019,
        "grade": 7,
    }
    # Health data is personal too: the accessibility needs are sealed (with the health key).
    assert draft.personal == {
        "full_name": {"last_name": "Соколова", "first_name": "Дарья", "patronymic": "Андреевна"},
        "birth_date": "2007-04-12",
        "snils": "112-233-445 95",
        "health_limitations": {"has_limitations": True, "kind": "vision"},
        "accessibility_needs": ["large_print"],
    }


def test_given_registered_when_registered_again_with_the_same_id_then_refused() -> None:
    with pytest.raises(ParticipantExists):
        participant.decide(register(), given(REGISTERED))


def test_only_at_a_registered_school() -> None:
    with pytest.raises(UnknownSchool):
        participant.decide(register(school=None), None)


def test_only_in_a_season_with_published_rules() -> None:
    with pytest.raises(UnknownSeason):
        participant.decide(register(rules=None), None)
    with pytest.raises(UnknownSeason):
        participant.decide(register(season=2020), None)


@pytest.mark.parametrize(
    ("changes", "reasons"),
    [
        ({"grade": 5}, ("grade_out_of_range",)),
        ({"citizenship": "BY"}, ("not_russian_citizen",)),
        ({"residence": None}, ("region_not_admitted",)),
        (
            {"grade": 4, "citizenship": "KZ", "residence": None},
            ("grade_out_of_range", "not_russian_citizen", "region_not_admitted"),
        ),
    ],
)
def test_when_not_eligible_then_not_eligible_with_every_reason(
    changes: dict[str, Any], reasons: tuple[str, ...]
) -> None:
    with pytest.raises(NotEligible) as refused:
        participant.decide(register(**changes), None)
    assert refused.value.reasons == reasons
    assert refused.value.code == "not_eligible"


def test_the_schools_region_must_take_part_in_the_season_too() -> None:
    not_this_season = replace(LENINGRAD, seasons=frozenset({2020}))
    with pytest.raises(NotEligible) as refused:
        participant.decide(register(school_region=not_this_season), None)
    assert refused.value.reasons == ("region_not_admitted",)


def test_a_pupil_may_live_in_another_admitted_region_than_the_school() -> None:
    [draft] = participant.decide(register(residence=SPB), None)
    assert isinstance(draft, Unsealed)
    assert draft.clear["region_id"] == LENINGRAD.region_id  # the school's region acts for them


def test_a_malformed_citizenship_is_invalid_details() -> None:
    with pytest.raises(InvalidDetails) as refused:
        participant.decide(register(citizenship="Russia"), None)
    assert refused.value.field == "citizenship"


@pytest.mark.parametrize("birth_date", [date(2019, 1, 1), date(1990, 1, 1)])
def test_a_birth_date_that_is_no_pupils_is_refused(birth_date: date) -> None:
    with pytest.raises(InvalidDetails) as refused:
        participant.decide(register(details=replace(DETAILS, birth_date=birth_date)), None)
    assert refused.value.field == "birth_date"


def test_an_accessibility_need_is_listed_once() -> None:
    needs = (AccessibilityNeed.QUIET_SPACE, AccessibilityNeed.QUIET_SPACE)
    with pytest.raises(InvalidDetails):
        participant.decide(register(accessibility_needs=needs), None)


def test_the_folded_state_holds_no_personal_data() -> None:
    state = given(REGISTERED)
    assert state is not None
    assert state.school_id == SCHOOL_3.school_id
    assert state.enrolments == (
        participant.Enrolment(2019, SCHOOL_3.school_id, LENINGRAD.region_id, 7),
    )
    assert "Соколова" not in repr(state)


# ---------------------------------------------------------------------- corrections
def test_given_nothing_when_corrected_then_unknown_participant() -> None:
    with pytest.raises(UnknownParticipant):
        participant.decide(correct(grade=8), None)


def test_when_a_correction_names_nothing_then_refused() -> None:
    with pytest.raises(NothingToCorrect):
        participant.decide(correct(), given(REGISTERED))


def test_when_corrected_to_what_it_is_then_nothing_happens() -> None:
    unchanged = correct(
        full_name=DETAILS.full_name,
        snils=DETAILS.snils,
        grade=7,
        accessibility_needs=(AccessibilityNeed.LARGE_PRINT,),
    )
    assert participant.decide(unchanged, given(REGISTERED)) == []


def test_when_the_surname_changes_then_only_the_name_is_sealed_anew() -> None:
    new_name = FullName("Громова", "Дарья", "Андреевна")
    [draft] = participant.decide(
        correct(full_name=new_name, reason=CorrectionReason.DOCUMENT_CHANGED), given(REGISTERED)
    )
    assert isinstance(draft, Unsealed)
    assert draft.event_class is ParticipantDetailsCorrected
    assert draft.clear == {"participant_id": PID, "reason": CorrectionReason.DOCUMENT_CHANGED}
    assert draft.personal == {
        "full_name": {"last_name": "Громова", "first_name": "Дарья", "patronymic": "Андреевна"}
    }


def test_when_the_grade_is_corrected_then_the_state_follows() -> None:
    decided = participant.decide(correct(grade=8), given(REGISTERED))
    state = given(REGISTERED, decided)
    assert state is not None
    assert state.grade == 8
    assert state.enrolments[0].grade == 8


def test_a_grade_correction_must_stay_eligible() -> None:
    with pytest.raises(NotEligible) as refused:
        participant.decide(correct(grade=5), given(REGISTERED))
    assert refused.value.reasons == ("grade_out_of_range",)


def test_a_corrected_birth_date_must_be_a_pupils() -> None:
    with pytest.raises(InvalidDetails):
        participant.decide(correct(birth_date=date(2018, 1, 1)), given(REGISTERED))


def test_accessibility_needs_are_corrected_sealed_like_the_health_limitations() -> None:
    [draft] = participant.decide(
        correct(
            health=HealthLimitations(False),
            accessibility_needs=(),
            reason=CorrectionReason.HEALTH_STATUS_CHANGED,
        ),
        given(REGISTERED),
    )
    assert isinstance(draft, Unsealed)
    assert "accessibility_needs" not in draft.clear
    assert draft.personal == {
        "health_limitations": {"has_limitations": False, "kind": None},
        "accessibility_needs": [],
    }


def test_given_health_data_not_known_when_needs_are_given_then_they_are_recorded() -> None:
    # Destroyed or withheld health data: any value stated is new (sealing then decides).
    unknown = replace(DETAILS, health=None, accessibility_needs=None)
    [draft] = participant.decide(
        replace(correct(accessibility_needs=(AccessibilityNeed.LARGE_PRINT,)), current=unknown),
        given(REGISTERED),
    )
    assert isinstance(draft, Unsealed)
    assert draft.personal == {"accessibility_needs": ["large_print"]}


# ---------------------------------------------------------------------- moves
def test_when_moved_then_moved_from_the_current_school() -> None:
    assert participant.decide(MoveToSchool(PID, SPB_SCHOOL), given(REGISTERED)) == [
        ParticipantMovedToSchool(
            participant_id=PID,
            from_school_id=SCHOOL_3.school_id,
            to_school_id=SPB_SCHOOL.school_id,
            to_region_id=SPB.region_id,
            grade=7,
        )
    ]


def test_given_moved_then_the_new_school_and_region_act_for_the_participant() -> None:
    moved = participant.decide(MoveToSchool(PID, SCHOOL_5, grade=8), given(REGISTERED))
    state = given(REGISTERED, moved)
    assert state is not None
    assert (state.school_id, state.grade) == (SCHOOL_5.school_id, 8)


def test_a_move_needs_another_registered_school() -> None:
    with pytest.raises(UnknownSchool):
        participant.decide(MoveToSchool(PID, None), given(REGISTERED))
    with pytest.raises(SameSchool):
        participant.decide(MoveToSchool(PID, SCHOOL_3), given(REGISTERED))
    with pytest.raises(UnknownParticipant):
        participant.decide(MoveToSchool(PID, SCHOOL_5), None)


# ---------------------------------------------------------------------- enrolment
def enrol(**changes: Any) -> EnrolInSeason:
    fields: dict[str, Any] = {
        "participant_id": PID,
        "season": 2020,
        "rules": RULES_2020,
        "school": SCHOOL_3,
        "school_region": LENINGRAD,
        "residence": LENINGRAD,
        "citizenship": "RU",
        "grade": 8,
    }
    fields.update(changes)
    return EnrolInSeason(**fields)


def test_when_enrolled_in_the_next_season_then_enrolled_at_the_school() -> None:
    decided = participant.decide(enrol(), given(REGISTERED))
    assert decided == [
        ParticipantEnrolledInSeason(
            participant_id=PID,
            season=2020,
            school_id=SCHOOL_3.school_id,
            region_id=LENINGRAD.region_id,
            grade=8,
        )
    ]
    state = given(REGISTERED, decided)
    assert state is not None
    assert (state.season, state.grade) == (2020, 8)
    assert [e.season for e in state.enrolments] == [2019, 2020]


def test_enrolment_refusals() -> None:
    with pytest.raises(AlreadyEnrolled):
        participant.decide(enrol(season=2019, rules=RULES), given(REGISTERED))
    later = given(REGISTERED, participant.decide(enrol(), given(REGISTERED)))
    with pytest.raises(AlreadyEnrolled):
        participant.decide(enrol(), later)
    with pytest.raises(SeasonNotAfterCurrent):
        participant.decide(enrol(season=2018, rules=None), later)
    with pytest.raises(UnknownSeason):
        participant.decide(enrol(rules=None), given(REGISTERED))
    with pytest.raises(NotEligible) as refused:
        participant.decide(enrol(grade=12 - 7, citizenship="BY"), given(REGISTERED))
    assert refused.value.reasons == ("grade_out_of_range", "not_russian_citizen")
    with pytest.raises(NotEligible) as refused:
        participant.decide(enrol(residence=SPB, school_region=SPB), given(REGISTERED))
    assert refused.value.reasons == ("region_not_admitted",)
