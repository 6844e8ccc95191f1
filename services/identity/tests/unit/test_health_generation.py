"""Health data after a withdrawal (docs/adr/0026): given a participant's events and what is known
of their health key and consent, when the school states health data, then it is sealed under the
generation in force, under a new one, or refused.

A withdrawal of `health_data` destroys the generation in force (the consent service does); the
school states health data again only under a consent that covers it again, and then under the
generation the consent service destroys at the next withdrawal.
"""

from dataclasses import replace
from datetime import date
from typing import Any
from uuid import UUID

import pytest

from bilet.contracts import SealedValue
from bilet.contracts.catalogue.identity import (
    CorrectionReason,
    ParticipantDetailsCorrected,
    ParticipantRegistered,
)
from bilet.contracts.drafts import Unsealed
from bilet.contracts.vocabulary import AccessibilityNeed
from bilet_identity.domain import participant
from bilet_identity.domain.errors import HealthDataWithdrawn
from bilet_identity.domain.health import HealthConsent
from bilet_identity.domain.participant import CorrectDetails, Participant
from bilet_identity.domain.people import (
    FullName,
    HealthLimitationKind,
    HealthLimitations,
    PersonalDetails,
)
from bilet_identity.domain.snils import Snils

PID = UUID("6c1c1c1c-0000-4000-8000-000000000001")
SCHOOL = UUID("16fae2ab-d1c8-5e70-ba8f-657ddc885c03")
REGION = UUID("2b848086-7aca-51be-b130-41e65476f3a5")
SEALED = SealedValue.model_validate(
    {"$enc": "aesgcm-v1", "kid": "k", "n": "AAAAAAAAAAAAAAAA", "ct": "AAAAAAAAAAAAAAAAAAAAAAAA"}
)
# What the school knows once the health key is destroyed: the rest, not the health data.
DESTROYED = PersonalDetails(
    FullName("Соколова", "Дарья", "Андреевна"),
    date(2007, 4, 12),
    Snils.parse("112-233-445 95"),
    health=None,
    accessibility_needs=None,
)
HEARING = HealthLimitations(True, HealthLimitationKind.HEARING)
COVERS_AGAIN = HealthConsent(covers=True, generation=2)


def registered() -> ParticipantRegistered:
    return ParticipantRegistered(
        participant_id=PID,
        school_id=SCHOOL,
        region_id=REGION,
        season=2019,
        grade=7,
        full_name=SEALED,
        birth_date=SEALED,
        snils=SEALED,
        health_limitations=SEALED,
        accessibility_needs=SEALED,
    )


def health_corrected(generation: int) -> ParticipantDetailsCorrected:
    return ParticipantDetailsCorrected(
        participant_id=PID,
        reason=CorrectionReason.HEALTH_STATUS_CHANGED,
        health_limitations=SEALED,
        key_generation=generation,
    )


def given(*events: ParticipantRegistered | ParticipantDetailsCorrected) -> Participant:
    state: Participant | None = None
    for event in events:
        state = participant.evolve(state, event)
    assert state is not None
    return state


def state_health(**changes: Any) -> CorrectDetails:
    """The school states the pupil's health limitations (hearing) and nothing else."""
    fields: dict[str, Any] = {
        "participant_id": PID,
        "reason": CorrectionReason.HEALTH_STATUS_CHANGED,
        "current": DESTROYED,
        "rules": None,
        "health": HEARING,
    }
    fields.update(changes)
    return CorrectDetails(**fields)


def generation_of(decided: list[participant.Decision]) -> object:
    [draft] = decided
    assert isinstance(draft, Unsealed)
    assert draft.personal == {"health_limitations": {"has_limitations": True, "kind": "hearing"}}
    return draft.clear["key_generation"]


def test_given_a_registration_then_health_data_is_of_the_first_generation() -> None:
    assert given(registered()).health_generation == 1


def test_given_the_key_in_force_when_health_data_is_stated_then_sealed_under_it() -> None:
    # Before any withdrawal no consent is needed: it is sealed and shown to nobody until one.
    known = replace(DESTROYED, health=HealthLimitations(True, HealthLimitationKind.VISION))
    decided = participant.decide(state_health(current=known), given(registered()))
    assert generation_of(decided) == 1


@pytest.mark.parametrize(
    "consent",
    [
        None,  # identity does not follow consent's stream
        HealthConsent(covers=False, generation=2),  # no consent in force covers health data
    ],
)
def test_given_the_key_destroyed_when_no_consent_covers_health_data_then_refused(
    consent: HealthConsent | None,
) -> None:
    command = state_health(health_key_destroyed=True, health_consent=consent)
    with pytest.raises(HealthDataWithdrawn):
        participant.decide(command, given(registered()))


def test_given_the_key_destroyed_when_the_read_model_has_not_seen_its_withdrawal_then_refused() -> (
    None
):
    # It still names the destroyed generation: it lags the withdrawal, so nothing is recorded
    # under a generation the consent service would not destroy next.
    stale = HealthConsent(covers=True, generation=1)
    command = state_health(health_key_destroyed=True, health_consent=stale)
    with pytest.raises(HealthDataWithdrawn):
        participant.decide(command, given(registered()))


def test_given_the_key_destroyed_when_a_consent_covers_it_again_then_a_new_generation() -> None:
    state = given(registered())
    command = state_health(health_key_destroyed=True, health_consent=COVERS_AGAIN)

    decided = participant.decide(command, state)

    assert generation_of(decided) == 2
    assert given(registered(), health_corrected(2)).health_generation == 2


def test_given_withdrawals_while_nothing_was_stated_then_the_generation_the_consents_name() -> None:
    # Two more withdrawals destroyed generations 2 and 3 before anything was stated under them.
    command = state_health(
        health_key_destroyed=True, health_consent=HealthConsent(covers=True, generation=4)
    )
    assert generation_of(participant.decide(command, given(registered()))) == 4


def test_given_a_second_generation_in_force_then_health_data_is_sealed_under_it() -> None:
    state = given(registered(), health_corrected(2))
    assert generation_of(participant.decide(state_health(), state)) == 2


def test_given_the_key_destroyed_then_everything_but_health_data_is_still_corrected() -> None:
    command = state_health(
        health=None, full_name=FullName("Громова", "Дарья", "Андреевна"), health_key_destroyed=True
    )
    [draft] = participant.decide(command, given(registered()))
    assert isinstance(draft, Unsealed)
    assert set(draft.personal) == {"full_name"}
    assert "key_generation" not in draft.clear


def test_when_accessibility_needs_are_stated_alone_then_they_name_the_generation_too() -> None:
    command = state_health(
        health=None,
        accessibility_needs=(AccessibilityNeed.SIGN_LANGUAGE_INTERPRETER,),
        health_key_destroyed=True,
        health_consent=COVERS_AGAIN,
    )
    [draft] = participant.decide(command, given(registered()))
    assert isinstance(draft, Unsealed)
    assert draft.personal == {"accessibility_needs": ["sign_language_interpreter"]}
    assert draft.clear["key_generation"] == 2
