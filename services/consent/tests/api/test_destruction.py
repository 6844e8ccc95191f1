"""Withdrawal → destruction, end to end inside the service: after the job, the guardian's name and
passport, the pupil's СНИЛС and the document bytes are in no file under var/, the history still
replays (sealed fields read as erased), and nothing more is accepted for the participant."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

import pytest

from bilet import stores
from bilet.contracts import CATALOGUE, decode, sealed_fields, unseal
from bilet.contracts.catalogue.consent import ParticipantErased
from bilet.crypto import FieldCipher, is_erased
from bilet_consent.application.eventlog import decode_event
from bilet_consent.cli import main
from bilet_consent.domain.internal import DestructionRecorded
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
    assert response.status_code == 200
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
    assert _files_holding(var_dir, SECRETS) == []

    # The destruction record: whose (an id), what, how, when, on what ground, who.
    record = await api.service.record(report.erased[0].record_id)
    assert isinstance(record, DestructionRecorded)
    assert record.participant_id == dasha
    assert record.consent_id == consent_id
    assert "guardian_passport" in record.categories
    assert record.methods == ("data_key_destroyed", "documents_deleted")
    assert record.withdrawn_on.isoformat() == "2019-09-20"
    assert record.performed_by == "test"

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
                    values = await unseal(cipher, event)
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
    await api.client.post(
        f"/consent/v1/consents/{consent_id}/withdraw",
        headers=api.guardian(dasha),
        json={"purposes": ["health_data"]},
    )
    api.clock.advance(365)
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
