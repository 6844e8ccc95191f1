"""Personal fields travel sealed: a producer seals them, an entitled reader opens them, and after
erasure the same events still decode and read as ERASED."""

import json
from datetime import date
from uuid import UUID

import pytest
from pydantic import ValidationError

from bilet.contracts import (
    ERASED_VALUE,
    EventMetadata,
    SealedValue,
    decode,
    encode,
    health_key_subject,
    seal,
    seal_many,
    sealed_fields,
    sealed_scopes,
    unseal,
    unseal_many,
)
from bilet.contracts.catalogue.consent import ConsentSubmitted
from bilet.contracts.catalogue.events import MentorFeedbackGiven
from bilet.contracts.catalogue.identity import ParticipantRegistered
from bilet.contracts.examples import EXAMPLES, PARTICIPANT, REGION, SCHOOL_3
from bilet.contracts.sealed import Personal
from bilet.crypto import ERASED, DataKey, FieldCipher, FieldCipherError, InMemoryKeyStore

MARIA = {
    "full_name": {"last_name": "Иванова", "first_name": "Мария", "patronymic": "Петровна"},
    "birth_date": date(2011, 4, 5).isoformat(),
    "snils": "112-233-445 95",
    "health_limitations": {"has_limitations": True, "kind": "нарушение опорно-двигательного"},
    "accessibility_needs": ["step_free_access"],
}
HEALTH = ("health_limitations", "accessibility_needs")


async def _registration(cipher: FieldCipher) -> ParticipantRegistered:
    return ParticipantRegistered(
        participant_id=UUID(PARTICIPANT),
        school_id=UUID(SCHOOL_3),
        region_id=UUID(REGION),
        season=2019,
        grade=7,
        **await seal(cipher, PARTICIPANT, MARIA, sealed_scopes(ParticipantRegistered)),
    )


async def test_given_a_sealed_registration_when_stored_then_no_personal_value_is_readable() -> None:
    cipher = FieldCipher(InMemoryKeyStore())
    event = await _registration(cipher)
    stored = encode(event, EventMetadata())
    text = stored.data.decode()
    for needle in ("Иванова", "Мария", "2011-04-05", "112-233-445", "опорно", "step_free"):
        assert needle not in text
    assert json.loads(stored.data)["full_name"]["$enc"] == "aesgcm-v1"
    assert json.loads(stored.data)["accessibility_needs"]["$enc"] == "aesgcm-v1"
    # An entitled reader opens them; health data only when it asks for it.
    assert await unseal(cipher, decode(stored), health=True) == MARIA
    assert set(await unseal(cipher, decode(stored))) == set(MARIA) - set(HEALTH)


async def test_given_an_erased_participant_when_read_again_then_fields_are_erased() -> None:
    keys = InMemoryKeyStore()
    writer = FieldCipher(keys)
    stored = encode(await _registration(writer), EventMetadata())
    await writer.erase(PARTICIPANT)
    await writer.erase(health_key_subject(PARTICIPANT))

    event = decode(stored)  # the history still decodes: the envelopes are well formed
    opened = await unseal(FieldCipher(keys), event, health=True)

    assert opened == dict.fromkeys(MARIA, ERASED)
    assert isinstance(event, ParticipantRegistered)
    assert event.grade == 7  # pseudonymous facts stay


async def test_an_event_rewritten_after_erasure_holds_the_erased_marker() -> None:
    data = dict(EXAMPLES[("ParticipantRegistered", 3)])
    data["full_name"] = {"$erased": True}
    event = decode(
        encode(
            ParticipantRegistered.model_validate_json(json.dumps(data)),
            EventMetadata(),
        )
    )
    assert isinstance(event, ParticipantRegistered)
    assert event.full_name == ERASED_VALUE
    opened = await unseal(FieldCipher(InMemoryKeyStore()), event)
    assert opened["full_name"] is ERASED


@pytest.mark.parametrize(
    "value",
    [
        "Иванова Мария Петровна",
        {"last_name": "Иванова"},
        {"$enc": "plain-v0", "kid": "k", "n": "AAAAAAAAAAAAAAAA", "ct": "A" * 24},
        {"$enc": "aesgcm-v1", "kid": "k", "n": "AAAAAAAAAAAAAAAA", "ct": "A" * 24, "x": "Иванова"},
        {"$erased": False},
    ],
)
def test_a_personal_field_refuses_anything_but_an_envelope_or_the_erased_marker(
    value: object,
) -> None:
    data = dict(EXAMPLES[("ParticipantRegistered", 3)])
    data["full_name"] = value
    with pytest.raises(ValidationError):
        ParticipantRegistered.model_validate_json(json.dumps(data))


def test_each_event_knows_its_personal_fields() -> None:
    assert sealed_fields(ParticipantRegistered) == (
        "full_name",
        "birth_date",
        "snils",
        "health_limitations",
        "accessibility_needs",
    )
    assert sealed_fields(ConsentSubmitted) == (
        "guardian_full_name",
        "guardian_passport",
        "guardian_authority",
    )
    assert sealed_fields(MentorFeedbackGiven) == ("comment",)


async def test_a_sealed_value_is_bound_to_its_field() -> None:
    cipher = FieldCipher(InMemoryKeyStore())
    sealed = await seal(cipher, PARTICIPANT, {"snils": "112-233-445 95"})
    assert isinstance(sealed["snils"], SealedValue)
    data = dict(EXAMPLES[("ParticipantRegistered", 3)])
    data["full_name"] = sealed["snils"].envelope()  # moved to another field
    moved = ParticipantRegistered.model_validate_json(json.dumps(data))
    with pytest.raises(FieldCipherError, match="'full_name' does not authenticate"):
        await unseal(cipher, moved)


async def test_given_the_health_key_destroyed_then_only_health_data_reads_as_erased() -> None:
    keys = InMemoryKeyStore()
    writer = FieldCipher(keys)
    stored = encode(await _registration(writer), EventMetadata())
    await writer.erase(health_key_subject(PARTICIPANT))

    opened = await unseal(FieldCipher(keys), decode(stored), health=True)

    assert {name: opened[name] for name in HEALTH} == dict.fromkeys(HEALTH, ERASED)
    assert {k: v for k, v in opened.items() if k not in HEALTH} == {
        k: v for k, v in MARIA.items() if k not in HEALTH
    }


async def test_given_the_participant_key_destroyed_then_health_data_needs_its_own_key() -> None:
    # Health data is sealed with a key of its own: the participant key does not open it, and
    # destroying the participant key alone leaves it (an erasure destroys both).
    keys = InMemoryKeyStore()
    writer = FieldCipher(keys)
    event = await _registration(writer)
    await writer.erase(PARTICIPANT)

    opened = await unseal(FieldCipher(keys), event, health=True)

    assert opened["full_name"] is ERASED
    assert opened["accessibility_needs"] == ["step_free_access"]


def test_given_a_v2_registration_when_decoded_then_its_health_data_is_withheld() -> None:
    # v2 held the accessibility needs in the clear and the health limitations under the
    # participant key: an upcaster cannot seal them anew, so they are never shown.
    v2 = EXAMPLES[("ParticipantRegistered", 2)]
    stored = encode(
        ParticipantRegistered.model_validate_json(
            json.dumps(EXAMPLES[("ParticipantRegistered", 3)])
        ),
        EventMetadata(),
    )
    old = type(stored)(
        type=stored.type, data=json.dumps(v2).encode(), metadata=b'{"schema_version":2}'
    )
    event = decode(old)
    assert isinstance(event, ParticipantRegistered)
    assert event.accessibility_needs == ERASED_VALUE
    assert event.health_limitations == ERASED_VALUE
    assert event.full_name == SealedValue.model_validate(v2["full_name"])


class _CountingKeyStore(InMemoryKeyStore):
    """Counts the key lookups of the ciphers over it."""

    def __init__(self) -> None:
        super().__init__()
        self.lookups = 0

    async def get(self, subject: str) -> DataKey | None:
        self.lookups += 1
        return await super().get(subject)


async def test_given_many_events_when_sealed_and_opened_at_once_then_as_one_at_a_time() -> None:
    keys = _CountingKeyStore()
    writer = FieldCipher(keys)
    pupils = [str(UUID(int=n)) for n in range(1, 4)]
    scopes = sealed_scopes(ParticipantRegistered)
    many = [
        Personal(pupil, {**MARIA, "snils": f"snils {n}"}, scopes) for n, pupil in enumerate(pupils)
    ]

    sealed = await seal_many(writer, many)

    events = [
        ParticipantRegistered(
            participant_id=UUID(pupil),
            school_id=UUID(SCHOOL_3),
            region_id=UUID(REGION),
            season=2019,
            grade=7,
            **values,
        )
        for pupil, values in zip(pupils, sealed, strict=True)
    ]
    await writer.erase(health_key_subject(pupils[1]))  # one pupil's health data destroyed
    reader = FieldCipher(keys)
    opened = await unseal_many(reader, events, health=True)

    assert opened == [await unseal(reader, event, health=True) for event in events]
    assert [o["snils"] for o in opened] == ["snils 0", "snils 1", "snils 2"]
    assert opened[1]["health_limitations"] is ERASED
    assert opened[2]["health_limitations"] == MARIA["health_limitations"]
    assert [sorted(values) for values in sealed] == [sorted(MARIA)] * 3
    # One lookup per key subject of the batch (three participant keys, three health keys).
    reader.forget(pupils[0])
    keys.lookups = 0
    await unseal_many(reader, [events[0]] * 20, health=True)
    assert keys.lookups == 1
