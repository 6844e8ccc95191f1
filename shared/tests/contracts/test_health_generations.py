"""The health key's generations (docs/adr/0026): after a withdrawal destroyed a participant's
health key, a new consent lets health data be sealed again under a new generation of it; what
the destroyed generation sealed stays unreadable for ever, by the new key too."""

import base64
import json
from collections.abc import Mapping
from uuid import UUID

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import ValidationError

from bilet.application.eventlog import seal_all
from bilet.contracts import (
    EventMetadata,
    KeyScope,
    decode,
    encode,
    health_key_subject,
    health_key_subjects,
    seal,
    sealed_scopes,
    unseal,
)
from bilet.contracts.catalogue.identity import CorrectionReason, ParticipantDetailsCorrected
from bilet.contracts.drafts import Unsealed
from bilet.contracts.examples import EXAMPLES, PARTICIPANT
from bilet.contracts.schemas import event_schema
from bilet.contracts.sealed import GENERATION_KEYWORD, key_subject
from bilet.crypto import ERASED, FieldCipher, FieldCipherError, InMemoryKeyStore
from bilet.crypto.keystore import associated_data
from bilet.eventstore import NewEvent

BEFORE = {"health_limitations": {"has_limitations": True, "kind": "visual"}}
AFTER = {"health_limitations": {"has_limitations": True, "kind": "hearing"}}


def _correction(generation: int | None, **sealed: object) -> ParticipantDetailsCorrected:
    return ParticipantDetailsCorrected(
        participant_id=UUID(PARTICIPANT),
        reason=CorrectionReason.HEALTH_STATUS_CHANGED,
        key_generation=generation,
        **sealed,  # type: ignore[arg-type]
    )


async def _sealed(cipher: FieldCipher, generation: int, values: Mapping[str, object]) -> object:
    draft = Unsealed(
        ParticipantDetailsCorrected,
        clear={
            "participant_id": UUID(PARTICIPANT),
            "reason": CorrectionReason.HEALTH_STATUS_CHANGED,
            "key_generation": generation,
        },
        personal=values,
    )
    [event] = await seal_all(cipher, [draft])
    return decode(encode(event, EventMetadata()))  # as a reader gets it from the store


def test_the_first_generation_is_the_subject_every_earlier_event_was_sealed_with() -> None:
    assert health_key_subject(PARTICIPANT) == f"health:{PARTICIPANT}"
    assert health_key_subject(PARTICIPANT, 1) == f"health:{PARTICIPANT}"
    assert health_key_subject(PARTICIPANT, 3) == f"health:{PARTICIPANT}:3"
    assert health_key_subjects(PARTICIPANT, 3) == (
        f"health:{PARTICIPANT}",
        f"health:{PARTICIPANT}:2",
        f"health:{PARTICIPANT}:3",
    )
    with pytest.raises(ValueError, match="start at 1"):
        health_key_subject(PARTICIPANT, 0)
    with pytest.raises(ValueError, match="one generation"):
        key_subject(PARTICIPANT, KeyScope.PARTICIPANT, 2)


def test_the_schema_says_which_field_names_the_health_key_generation() -> None:
    schema = event_schema(ParticipantDetailsCorrected)
    assert schema["properties"]["key_generation"][GENERATION_KEYWORD] == "health"


def test_a_correction_names_a_generation_exactly_when_it_states_health_data() -> None:
    sealed = EXAMPLES[("ParticipantDetailsCorrected", 3)]["health_limitations"]
    with pytest.raises(ValidationError, match="exactly when a health field is"):
        _correction(None, health_limitations=sealed)
    with pytest.raises(ValidationError, match="exactly when a health field is"):
        _correction(2, full_name=sealed)
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        _correction(0, health_limitations=sealed)


@pytest.mark.parametrize(("version", "generation"), [(1, None), (2, 1)])
def test_an_older_correction_is_read_as_of_the_first_generation(
    version: int, generation: int | None
) -> None:
    # The v1 example corrects the name only: no health field, no generation.
    old = EXAMPLES[("ParticipantDetailsCorrected", version)]
    metadata = json.dumps({"schema_version": version}).encode()
    event = decode(NewEvent("ParticipantDetailsCorrected", json.dumps(old).encode(), metadata))
    assert isinstance(event, ParticipantDetailsCorrected)
    assert event.key_generation == generation


async def test_given_a_new_generation_then_its_data_reads_and_the_destroyed_one_stays_erased() -> (
    None
):
    keys = InMemoryKeyStore()
    cipher = FieldCipher(keys)
    before = await _sealed(cipher, 1, BEFORE)
    await cipher.erase(health_key_subject(PARTICIPANT, 1))  # the withdrawal

    after = await _sealed(cipher, 2, AFTER)  # a new consent covers health data again

    reader = FieldCipher(keys)
    assert isinstance(before, ParticipantDetailsCorrected)
    assert isinstance(after, ParticipantDetailsCorrected)
    assert await unseal(reader, before, health=True) == {"health_limitations": ERASED}
    assert await unseal(reader, after, health=True) == AFTER
    # An erasure destroys every generation.
    for subject in health_key_subjects(PARTICIPANT, 2):
        await cipher.erase(subject)
    assert await unseal(FieldCipher(keys), after, health=True) == {"health_limitations": ERASED}


async def test_the_destroyed_generation_cannot_be_opened_with_the_new_key() -> None:
    # The crypto-shredding proof: the old ciphertext is still in every copy of the old event,
    # and the new generation's key, which a reader holds, opens none of it.
    keys = InMemoryKeyStore()
    cipher = FieldCipher(keys)
    old_subject, new_subject = (health_key_subject(PARTICIPANT, n) for n in (1, 2))
    old = await seal(cipher, PARTICIPANT, BEFORE, sealed_scopes(ParticipantDetailsCorrected))
    await cipher.erase(old_subject)
    await seal(
        cipher, PARTICIPANT, AFTER, sealed_scopes(ParticipantDetailsCorrected), {KeyScope.HEALTH: 2}
    )
    envelope = old["health_limitations"].envelope()

    # Through the cipher: the old envelope names a key the new subject does not have.
    with pytest.raises(FieldCipherError, match="was encrypted with key"):
        await FieldCipher(keys).decrypt(new_subject, {"health_limitations": envelope})
    # With the new key's raw bytes, whatever the associated data claims: it does not open.
    new_key = await keys.get(new_subject)
    assert new_key is not None
    assert await keys.get(old_subject) is None
    nonce, ciphertext = base64.b64decode(envelope["n"]), base64.b64decode(envelope["ct"])
    for subject in (old_subject, new_subject):
        for key_id in (envelope["kid"], new_key.key_id):
            data = associated_data("aesgcm-v1", subject, "health_limitations", key_id)
            with pytest.raises(InvalidTag):
                AESGCM(new_key.key).decrypt(nonce, ciphertext, data)
