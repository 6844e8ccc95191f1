"""Whether a participant's name reads as erased (the ETag check of every read): a sealed name
does exactly when the participant's key is gone, as opening it would say."""

import json

from bilet.crypto import ERASED, FieldCipher, InMemoryKeyStore
from bilet_portfolio.application.personal_fields import NAME_FIELD, PersonalFields
from bilet_portfolio.domain.consent import ConsentFacts, ConsentState
from bilet_portfolio.domain.progress import Progress
from bilet_portfolio.domain.views import ParticipantRecord

PID = "5b1e2c3d-0000-4000-8000-000000000007"


def pupil(sealed_name: str | None) -> ParticipantRecord:
    return ParticipantRecord(
        participant_id=PID,
        school_id="s1",
        region_id="r1",
        season=2019,
        grade=7,
        sealed_name=sealed_name,
        consent=ConsentFacts(ConsentState.VERIFIED),
        erased=False,
        erased_at=None,
        progress=Progress(0, 3, 0, 0, 3, False),
        version=1,
        updated_at="2019-11-05T00:00:00+00:00",
    )


async def test_a_sealed_name_reads_as_erased_once_the_key_is_destroyed() -> None:
    cipher = FieldCipher(InMemoryKeyStore())
    name = {"last_name": "Соколова", "first_name": "Дарья", "patronymic": None}
    sealed = await cipher.encrypt(PID, {NAME_FIELD: name}, [NAME_FIELD])
    record = pupil(json.dumps(sealed[NAME_FIELD]))
    fields = PersonalFields(cipher)
    assert await fields.name_erased(record) is False
    await cipher.erase(PID)
    assert await fields.name_erased(record) is True
    opened = await cipher.decrypt(PID, {NAME_FIELD: json.loads(record.sealed_name or "")})
    assert opened[NAME_FIELD] is ERASED  # what opening it says, the check says


async def test_a_name_recorded_as_erased_or_absent_needs_no_key() -> None:
    fields = PersonalFields(FieldCipher(InMemoryKeyStore()))
    assert await fields.name_erased(pupil(json.dumps({"$erased": True}))) is True
    assert await fields.name_erased(pupil(None)) is False
