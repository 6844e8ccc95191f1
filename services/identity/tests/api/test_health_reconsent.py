"""Health data stated again under a new consent (issue #12, docs/adr/0026): after a withdrawal of
`health_data` destroyed the pupil's health key, the school's correction that states health data
is refused until a verified consent covers `health_data` again; then it is sealed under a new
generation of the health key and shown, while what the destroyed generation sealed is never
readable again. The consent service's part (its events, the key it destroys) is played here as
it plays it: its events in its store, the key destroyed in the suite's key store."""

import json
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from bilet.contracts import health_key_subject, health_key_subjects, unseal
from bilet.contracts.catalogue.identity import ParticipantDetailsCorrected, ParticipantRegistered
from bilet.crypto import ERASED

if TYPE_CHECKING:
    from services.identity.tests.conftest import Api

HEARING = {"has_limitations": True, "kind": "hearing"}
RESTATED = {
    "reason": "health_status_changed",
    "health_limitations": HEARING,
    "accessibility_needs": ["hearing_loop"],
}


async def _health_withdrawn(api: "Api", pid: str, consent_id: UUID) -> str:
    """What consent's withdrawal of `health_data` does: the generation in force destroyed at
    once, and the withdrawal published. Answers its `BVB-Position`."""
    await api.service.cipher.erase(health_key_subject(pid))
    return await api.health_data_withdrawn(pid, consent_id)


async def _correct(api: "Api", pid: str, token: str, body: dict[str, Any]) -> Any:
    headers = api.registrar() | {"BVB-Position": token}
    return await api.client.patch(f"/identity/v1/participants/{pid}", headers=headers, json=body)


async def test_after_a_withdrawal_a_new_consent_lets_the_school_state_health_data_again(
    api: "Api",
) -> None:
    pid = await api.registered_with_health()
    first = uuid4()
    await api.consent_verified(pid, consent_id=first)
    withdrawal = await _health_withdrawn(api, pid, first)

    # While no consent covers health data again: refused, nothing recorded.
    refused = await _correct(api, pid, withdrawal, RESTATED)
    assert (refused.status_code, refused.json()["code"]) == (409, "health_data_withdrawn")
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    assert (await api.shown(pid, api.registrar()))["version"] == 0

    # The guardian signs a new consent covering health data; once verified, the school states
    # it again (with the verification's `BVB-Position`, so identity has applied it).
    again = await api.consent_verified(pid)
    accepted = await _correct(api, pid, again, RESTATED)
    assert accepted.status_code == 200, accepted.text

    personal = (await api.shown(pid, api.registrar(), again))["personal"]
    assert personal["health_limitations"] == HEARING
    assert personal["accessibility_needs"] == ["hearing_loop"]
    assert (personal["health_erased"], personal["health_withheld"]) == (False, None)
    assert "musculoskeletal" not in json.dumps(personal)
    # Sealed under the second generation; the first one's ciphertext stays unreadable.
    registered, corrected = await _stored_events(api, pid)
    assert corrected.key_generation == 2
    assert (await unseal(api.service.cipher, registered, health=True))["health_limitations"] is (
        ERASED
    )
    assert (await unseal(api.service.cipher, corrected, health=True))["health_limitations"] == (
        HEARING
    )

    # A whole erasure destroys the participant key and every generation of the health key.
    await api.service.cipher.erase(pid)
    for subject in health_key_subjects(pid, 2):
        await api.service.cipher.erase(subject)
    shown = await api.shown(pid, api.registrar(), again)
    assert (shown["erased"], shown["personal"]) == (True, None)
    assert (await unseal(api.service.cipher, corrected, health=True))["health_limitations"] is (
        ERASED
    )


async def _stored_events(
    api: "Api", pid: str
) -> tuple[ParticipantRegistered, ParticipantDetailsCorrected]:
    loaded = await api.service.transactor.attempt().read(f"participant-{pid}")
    registered, corrected = loaded.events
    assert isinstance(registered, ParticipantRegistered)
    assert isinstance(corrected, ParticipantDetailsCorrected)
    return registered, corrected


async def test_a_consent_not_yet_applied_is_no_consent_and_the_refusal_changes_nothing(
    api: "Api",
) -> None:
    pid = await api.registered_with_health()
    first = uuid4()
    await api.consent_verified(pid, consent_id=first)
    await _health_withdrawn(api, pid, first)

    unreached = await _correct(api, pid, f"consent:999999:consent-{pid}", RESTATED)
    foreign = await _correct(api, pid, "portfolio:1", RESTATED)

    assert (unreached.status_code, unreached.json()["code"]) == (409, "not_yet_visible")
    assert unreached.headers["Retry-After"] == "1"
    assert (foreign.status_code, foreign.json()["code"]) == (400, "invalid_position_token")
    assert (await api.shown(pid, api.registrar()))["version"] == 0
