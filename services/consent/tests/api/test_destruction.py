"""Withdrawal → destruction, end to end inside the service: after the job, the guardian's name and
passport, the pupil's СНИЛС and the document bytes are in no file under var/, the history still
replays (sealed fields read as erased), and nothing more is accepted for the participant."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

import pytest

from bilet import stores
from bilet.contracts import CATALOGUE, decode, sealed_fields, unseal
from bilet.contracts.catalogue.consent import ErasureReason, ParticipantErased
from bilet.contracts.catalogue.identity import ParticipantRegistered
from bilet.crypto import ERASED, FieldCipher, SubjectErased, is_erased
from bilet_consent.application.eventlog import decode_event
from bilet_consent.cli import main
from bilet_consent.domain.internal import DestructionRecorded
from bilet_consent.runtime import open_runtime
from bilet_consent.settings import ConsentSettings
from bilet_consent.testing import GUARDIAN_LAST, PASSPORT_NUMBER, PDF, PUPIL_SNILS

if TYPE_CHECKING:
    from services.consent.tests.conftest import Api

SECRETS = (
    GUARDIAN_LAST.encode(),
    "Ирина".encode(),
    PASSPORT_NUMBER.encode(),
    PUPIL_SNILS.encode(),
    "Дарья".encode(),
    PDF[:40],
)


def _files_holding(var_dir: Path, needles: tuple[bytes, ...]) -> list[tuple[str, bytes]]:
    found: list[tuple[str, bytes]] = []
    for path in var_dir.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            found.extend((path.name, n) for n in needles if n in content)
    return found


async def _withdrawn(api: Api) -> tuple[UUID, UUID]:
    dasha = api.pupils["dasha"]
    consent_id = await api.verified(dasha)
    response = await api.client.post(
        f"/consent/v1/consents/{consent_id}/withdraw", headers=api.guardian(dasha), json={}
    )
    assert response.status_code == 200, response.text
    assert response.json()["consent_id"] == str(consent_id)
    return dasha, consent_id


async def test_destruction_leaves_no_personal_data_and_a_replayable_history(api: Api) -> None:
    dasha, consent_id = await _withdrawn(api)
    var_dir = api.settings.var_dir
    assert await api.service.documents.count(dasha) == 1
    # Nothing personal is ever written in the clear, before the erasure either.
    assert _files_holding(var_dir, SECRETS) == []

    not_yet = await api.service.erase_due("test")
    assert not_yet.erased == []
    api.clock.advance(30)  # erase_by = withdrawal + 30 days
    report = await api.service.erase_due("test")
    assert [o.participant_id for o in report.erased] == [dasha]
    assert report.erased[0].documents_deleted == 1

    assert await api.service.documents.count(dasha) == 0
    assert not (api.settings.documents_dir / str(dasha)).exists()
    assert await api.service.keystore.get(str(dasha)) is None
    # Both keys are destroyed, the health key too (ADR 0017), and neither is ever made again.
    with pytest.raises(SubjectErased):
        await api.service.keystore.get_or_create(f"health:{dasha}")
    assert _files_holding(var_dir, SECRETS) == []

    # The destruction record: whose (an id), what, how, when, on what ground, who.
    record = await api.service.record(report.erased[0].record_id)
    assert isinstance(record, DestructionRecorded)
    assert record.participant_id == dasha
    assert record.consent_id == consent_id
    assert "guardian_passport" in record.categories
    assert record.methods == ("data_key_destroyed", "documents_deleted")
    assert record.withdrawn_on is not None
    assert record.withdrawn_on.isoformat() == "2019-09-20"
    assert record.reason is ErasureReason.CONSENT_WITHDRAWN
    assert record.valid_until is None
    assert record.performed_by == "test"
    # Where from, and by whom: the information systems and the operator, nothing personal.
    assert record.destroyed_from == (
        "identity_event_store",
        "consent_event_store",
        "key_store",
        "consent_document_store",
        "read_models",
    )
    assert record.operator == "Союз «Молодые профессионалы (Ворлдскиллс Россия)»"
    assert not [s for s in SECRETS if s in record.model_dump_json().encode()]

    # The history replays: every event decodes, every sealed field reads as erased.
    for service in ("consent", "identity"):
        store = await stores.open_event_store(api.settings, service)
        keystore = await stores.open_key_store(api.settings)
        try:
            cipher = FieldCipher(keystore)
            replayed = 0
            for recorded in await store.read_all(0, 10_000):
                if recorded.stream_id.startswith("audit-"):
                    continue  # the audit trail: ids only, not events of the catalogue
                event = decode_event(recorded, recorded.stream_id)
                replayed += 1
                if CATALOGUE.is_published(recorded.type):
                    assert decode(recorded) == event
                if sealed_fields(type(event)):
                    values = await unseal(cipher, event, health=True)
                    assert values, recorded.type
                    erased = [is_erased(v) for v in values.values()]
                    # Dasha's are gone; the other pupils' still open.
                    assert all(erased) if event.subject == str(dasha) else not any(erased)
            assert replayed > 0
        finally:
            await keystore.close()
            await store.close()

    # What the API says now.
    assert await api.status_of(dasha) == "erased"
    view = await api.client.get(f"/consent/v1/consents/{consent_id}", headers=api.operator())
    assert view.status_code == 200
    assert view.json()["guardian"]["full_name"] == {"$erased": True}
    assert view.json()["erased"] is True
    document = await api.client.get(
        f"/consent/v1/consents/{consent_id}/document", headers=api.operator()
    )
    assert document.status_code == 410
    assert document.json()["code"] == "document_gone"
    again = await api.submit(dasha)
    assert again.status_code == 410
    assert again.json()["code"] == "participant_erased"

    # Running the job again changes nothing.
    assert (await api.service.erase_due("test")).erased == []
    stream = await api.service.store.read_stream(f"consent-{dasha}")
    assert [r.type for r in stream].count(ParticipantErased.event_type) == 1


async def test_two_replicas_erasing_at_once_erase_once(api: Api) -> None:
    dasha, _ = await _withdrawn(api)
    api.clock.advance(31)
    outcomes = await asyncio.gather(
        api.service.erase(dasha, "replica-1"), api.service.erase(dasha, "replica-2")
    )
    assert sum(1 for o in outcomes if o is not None) == 1
    stream = await api.service.store.read_stream(f"consent-{dasha}")
    assert [r.type for r in stream].count(ParticipantErased.event_type) == 1


async def test_withdrawing_only_health_data_schedules_nothing(api: Api) -> None:
    dasha = api.pupils["dasha"]
    consent_id = await api.verified(dasha)
    response = await api.client.post(
        f"/consent/v1/consents/{consent_id}/withdraw",
        headers=api.guardian(dasha),
        json={"purposes": ["health_data"]},
    )
    assert response.status_code == 200, response.text
    assert response.json()["consent_id"] == str(consent_id)
    [last] = await api.service.store.read_stream(f"consent-{dasha}", backwards=True, limit=1)
    assert last.type == "ConsentPurposesWithdrawn"
    assert response.json()["position"] == last.position
    status = await api.client.get(
        f"/consent/v1/participants/{dasha}/status", headers=api.operator()
    )
    assert (status.json()["state"], status.json()["erase_by"]) == ("verified", None)
    api.clock.advance(300)  # within the consent's period (to 31 August 2020)
    assert (await api.service.erase_due("test")).due == 0
    assert await api.service.keystore.get(str(dasha)) is not None


def test_the_command_line_refuses_to_erase_ahead_of_time() -> None:
    assert main(["erase-due", "--as-of", "2999-01-01"]) == 2
    assert main(["no-such-command"]) == 2


async def test_the_command_line_erases_what_is_due(
    api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    dasha, _ = await _withdrawn(api)  # in 2019 by the test's clock: long due by the real one
    assert await asyncio.to_thread(main, ["erase-due"], api.settings) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert json.loads(lines[0])["participant_id"] == str(dasha)
    assert json.loads(lines[-1])["erased"] == 1
    assert await api.status_of(dasha) == "erased"


async def test_a_consent_that_ends_unrenewed_has_the_data_destroyed_30_days_later(
    api: Api,
) -> None:
    dasha = api.pupils["dasha"]
    consent_id = await api.verified(dasha)  # valid until 31 August 2020
    api.clock.advance(375)  # 29 September 2020
    status = await api.client.get(
        f"/consent/v1/participants/{dasha}/status", headers=api.operator()
    )
    assert (status.json()["state"], status.json()["erase_by"]) == ("expired", "2020-09-30")
    assert (await api.service.erase_due("test")).erased == []
    api.clock.advance(1)
    report = await api.service.erase_due("test")
    assert [o.participant_id for o in report.erased] == [dasha]
    assert await api.service.keystore.get(str(dasha)) is None
    assert await api.service.documents.count(dasha) == 0
    assert _files_holding(api.settings.var_dir, SECRETS) == []
    [erased] = [
        json.loads(r.data)
        for r in await api.service.store.read_stream(f"consent-{dasha}")
        if r.type == ParticipantErased.event_type
    ]
    assert erased["reason"] == "consent_expired"
    record = await api.service.record(report.erased[0].record_id)
    assert record is not None
    assert (record.reason, record.consent_id) == (ErasureReason.CONSENT_EXPIRED, consent_id)
    assert (record.valid_until, record.withdrawn_on) == (date(2020, 8, 31), None)
    assert await api.status_of(dasha) == "erased"


async def test_a_renewed_consent_keeps_the_data(api: Api) -> None:
    dasha = api.pupils["dasha"]
    await api.verified(dasha)
    api.clock.advance(340)  # 25 August 2020: the school submits next season's form
    await api.verified(dasha, signed_on="2020-08-24", valid_until="2021-08-31")
    api.clock.advance(60)
    assert (await api.service.erase_due("test")).due == 0
    assert await api.status_of(dasha) == "verified"


async def test_the_operator_named_in_destruction_records_is_configurable(
    make_settings: Callable[..., ConsentSettings],
) -> None:
    settings = make_settings(consent_operator="ГБУ ДО «Интеллект»")
    async with open_runtime(settings) as runtime:
        assert runtime.service.operator == "ГБУ ДО «Интеллект»"


async def test_withdrawing_only_health_data_destroys_it_alone_at_once(api: Api) -> None:
    dasha = api.pupils["dasha"]
    consent_id = await api.verified(dasha)

    response = await api.client.post(
        f"/consent/v1/consents/{consent_id}/withdraw",
        headers=api.guardian(dasha),
        json={"purposes": ["health_data"]},
    )

    assert response.status_code == 200, response.text
    # The health key is destroyed, and never made again; the participant key stays.
    with pytest.raises(SubjectErased):
        await api.service.keystore.get_or_create(f"health:{dasha}")
    assert await api.service.keystore.get(str(dasha)) is not None
    # Identity's registration: health fields read as erased, name and СНИЛС still open.
    identity = await stores.open_event_store(api.settings, "identity")
    try:
        [registered] = await identity.read_stream(f"participant-{dasha}")
    finally:
        await identity.close()
    event = decode(registered)
    assert isinstance(event, ParticipantRegistered)
    opened = await unseal(api.service.cipher, event, health=True)
    assert opened["health_limitations"] is ERASED
    assert opened["accessibility_needs"] is ERASED
    assert opened["snils"] == PUPIL_SNILS
    assert opened["full_name"]["last_name"] == "Соколова"  # type: ignore[index]
    # The destruction record of health data alone, in the withdrawal's commit.
    records = [
        decode_event(r, r.stream_id)
        for r in await api.service.store.read_all(0, 10_000)
        if r.stream_id.startswith("destruction-")
    ]
    [record] = [r for r in records if isinstance(r, DestructionRecorded)]
    assert record.participant_id == dasha
    assert record.categories == ("participant_health_data",)
    assert record.methods == ("data_key_destroyed",)
    assert record.consent_id == consent_id
    assert record.reason is ErasureReason.CONSENT_WITHDRAWN
    assert record.documents_deleted == 0
    # Nothing else changed: the consent stays in force, and a later erasure still runs.
    assert await api.status_of(dasha) == "verified"


async def _withdraw(api: Api, participant_id: UUID, consent_id: UUID, purposes: list[str]) -> None:
    response = await api.client.post(
        f"/consent/v1/consents/{consent_id}/withdraw",
        headers=api.guardian(participant_id),
        json={"purposes": purposes} if purposes else {},
    )
    assert response.status_code == 200, response.text


async def test_each_withdrawal_of_health_data_destroys_the_generation_in_force(api: Api) -> None:
    # ADR 0026: a new consent covering health data lets identity seal it again under the next
    # generation of the health key; the next withdrawal destroys that one, an erasure all.
    dasha = api.pupils["dasha"]
    keys = api.service.keystore
    first = await api.verified(dasha)
    await _withdraw(api, dasha, first, ["health_data"])
    second = await api.verified(dasha)
    await keys.get_or_create(f"health:{dasha}:2")  # what identity seals under now

    await _withdraw(api, dasha, second, ["health_data"])

    assert await keys.get(f"health:{dasha}:2") is None  # it was, and is gone for good
    with pytest.raises(SubjectErased):
        await keys.get_or_create(f"health:{dasha}:2")
    assert await keys.get_or_create(f"health:{dasha}:3") is not None  # the one in force now
    assert await keys.get(str(dasha)) is not None

    await _withdraw(api, dasha, second, [])
    api.clock.advance(30)
    report = await api.service.erase_due("test")

    assert [o.participant_id for o in report.erased] == [dasha]
    for subject in (str(dasha), f"health:{dasha}", f"health:{dasha}:2", f"health:{dasha}:3"):
        with pytest.raises(SubjectErased):
            await keys.get_or_create(subject)
