"""The consent API end to end over HTTP, with real SQLite stores under a temporary var/."""

from __future__ import annotations

import io
import json
from datetime import date
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import pypdfium2
import pytest
from PIL import Image

from bilet.http import Role
from bilet.http.consistency import POSITION_HEADER
from bilet_consent.testing import JPEG, PDF, PNG, REGION, SCHOOL_5, register_pupils

if TYPE_CHECKING:
    from services.consent.tests.conftest import Api


async def _status(api: Api, participant_id: UUID, headers: dict[str, str]) -> dict[str, Any]:
    response = await api.client.get(
        f"/consent/v1/participants/{participant_id}/status", headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_submit_verify_and_read_a_consent(api: Api) -> None:
    dasha = api.pupils["dasha"]
    assert (await _status(api, dasha, api.registrar()))["state"] == "none"

    response = await api.submit(dasha)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "pending"
    assert response.headers[POSITION_HEADER] == f"consent:{body['position']}:consent-{dasha}"
    consent_id = body["consent_id"]
    assert (await _status(api, dasha, api.registrar()))["state"] == "pending"

    verified = await api.client.post(
        f"/consent/v1/consents/{consent_id}/verify", headers=api.coordinator()
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["position"] > body["position"]

    status = await _status(api, dasha, api.guardian(dasha))
    assert status["state"] == "verified"
    assert "health_data" in status["purposes"]
    assert status["valid_until"] == "2020-08-31"

    # The verifier sees the passport; the school and the guardian see it masked.
    full = await api.client.get(f"/consent/v1/consents/{consent_id}", headers=api.operator())
    assert full.status_code == 200
    assert full.json()["guardian"]["passport"]["number"] == "731592"
    assert full.json()["guardian"]["full_name"]["last_name"] == "Соколова"
    masked = await api.client.get(f"/consent/v1/consents/{consent_id}", headers=api.registrar())
    assert masked.json()["guardian"]["passport"]["number"] == "****92"
    assert masked.json()["status"] == "verified"

    document = await api.client.get(
        f"/consent/v1/consents/{consent_id}/document", headers=api.registrar()
    )
    assert document.status_code == 200
    assert document.headers["content-type"] == "application/pdf"
    # What is served is the copy rebuilt from the upload's pixels (ADR 0015), never the upload.
    assert document.content != PDF
    assert len(pypdfium2.PdfDocument(document.content)) == 1


@pytest.mark.parametrize(("content", "media_type"), [(PNG, "image/png"), (JPEG, "image/jpeg")])
async def test_images_are_accepted_by_their_content(
    api: Api, content: bytes, media_type: str
) -> None:
    consent_id = await api.submitted(api.pupils["dasha"], document=content)
    document = await api.client.get(
        f"/consent/v1/consents/{consent_id}/document", headers=api.operator()
    )
    assert document.headers["content-type"] == media_type
    served, sent = Image.open(io.BytesIO(document.content)), Image.open(io.BytesIO(content))
    assert (served.format, served.size) == (sent.format, sent.size)  # rebuilt: the same picture


async def test_a_later_verified_consent_supersedes_the_earlier(api: Api) -> None:
    dasha = api.pupils["dasha"]
    first = await api.verified(dasha)
    second = await api.verified(dasha, purposes=["programme_participation"])
    status = await _status(api, dasha, api.operator())
    assert status["consent_id"] == str(second)
    assert status["purposes"] == ["programme_participation"]
    old = await api.client.get(f"/consent/v1/consents/{first}", headers=api.operator())
    assert old.json()["status"] == "superseded"


async def test_reject_with_reasons_the_school_can_act_on(api: Api) -> None:
    consent_id = await api.submitted(api.pupils["dasha"])
    response = await api.client.post(
        f"/consent/v1/consents/{consent_id}/reject",
        headers=api.operator(),
        json={"reasons": ["unreadable_scan", "passport_data_incomplete"]},
    )
    assert response.status_code == 200
    read = await api.client.get(f"/consent/v1/consents/{consent_id}", headers=api.registrar())
    assert read.json()["status"] == "rejected"
    assert read.json()["rejection_reasons"] == ["unreadable_scan", "passport_data_incomplete"]
    again = await api.client.post(
        f"/consent/v1/consents/{consent_id}/verify", headers=api.operator()
    )
    assert again.status_code == 409
    assert again.json()["code"] == "consent_not_pending"


async def test_withdrawing_health_data_keeps_the_rest(api: Api) -> None:
    dasha = api.pupils["dasha"]
    consent_id = await api.verified(dasha)
    response = await api.client.post(
        f"/consent/v1/consents/{consent_id}/withdraw",
        headers=api.guardian(dasha),
        json={"purposes": ["health_data"]},
    )
    assert response.status_code == 200, response.text
    status = await _status(api, dasha, api.guardian(dasha))
    assert status["state"] == "verified"
    assert "health_data" not in status["purposes"]
    assert status["erase_by"] is None
    twice = await api.client.post(
        f"/consent/v1/consents/{consent_id}/withdraw",
        headers=api.guardian(dasha),
        json={"purposes": ["health_data"]},
    )
    assert twice.status_code == 422
    assert twice.json()["code"] == "purpose_not_consented"


async def test_withdrawing_the_consent_schedules_destruction(api: Api) -> None:
    dasha = api.pupils["dasha"]
    consent_id = await api.verified(dasha)
    response = await api.client.post(
        f"/consent/v1/consents/{consent_id}/withdraw", headers=api.guardian(dasha), json={}
    )
    assert response.status_code == 200
    status = await _status(api, dasha, api.registrar())
    assert status["state"] == "withdrawn"
    assert status["purposes"] == []
    assert status["erase_by"] == "2019-10-20"
    again = await api.submit(dasha)
    assert again.status_code == 409
    assert again.json()["code"] == "erasure_scheduled"


async def test_the_school_withdraws_only_on_a_written_request(api: Api) -> None:
    dasha = api.pupils["dasha"]
    consent_id = await api.verified(dasha)
    url = f"/consent/v1/consents/{consent_id}/withdraw"
    refused = await api.client.post(url, headers=api.registrar(), json={})
    assert refused.status_code == 422
    assert refused.json()["code"] == "written_request_required"
    assert (await _status(api, dasha, api.registrar()))["state"] == "verified"
    body = {"request": {"reference": "17/2019", "received_on": "2019-09-19"}}
    accepted = await api.client.post(url, headers=api.registrar(), json=body)
    assert accepted.status_code == 200
    assert (await _status(api, dasha, api.registrar()))["state"] == "withdrawn"


async def test_a_command_waits_for_a_participant_identity_just_registered(api: Api) -> None:
    newcomer = uuid4()
    position = await register_pupils(api.settings, [(newcomer, SCHOOL_5, REGION)])
    token = f"identity:{position}:participant-{newcomer}"
    response = await api.submit(
        newcomer, headers={**api.registrar(SCHOOL_5), POSITION_HEADER: token}
    )
    assert response.status_code == 201, response.text


async def test_an_unknown_participant_is_404_with_a_stable_code(api: Api) -> None:
    response = await api.submit(uuid4())
    assert response.status_code == 404
    assert response.json()["code"] == "unknown_participant"


async def test_dates_come_from_the_injected_clock(api: Api) -> None:
    assert api.service.today() == date(2019, 9, 20)


@pytest.mark.parametrize("role", [Role.ORGANISER, Role.MENTOR, Role.NAVIGATOR, Role.PUPIL])
async def test_organisers_mentors_and_others_never_see_consents(api: Api, role: Role) -> None:
    dasha = api.pupils["dasha"]
    consent_id = await api.verified(dasha)
    headers = api.token(role, school=str(SCHOOL_5), participant=str(uuid4()))
    for path in (
        f"/consent/v1/consents/{consent_id}",
        f"/consent/v1/consents/{consent_id}/document",
    ):
        response = await api.client.get(path, headers=headers)
        assert response.status_code == 403, path
        assert response.json()["code"] == "forbidden"


async def _published(api: Api, participant_id: UUID, event_type: str) -> list[dict[str, Any]]:
    """The data of a participant's published events of one type, as the relay would send them."""
    records = await api.service.store.read_stream(f"consent-{participant_id}")
    return [json.loads(r.data) for r in records if r.type == event_type]


async def test_purposes_withdrawn_while_pending_are_not_published_back_at_verification(
    api: Api,
) -> None:
    dasha = api.pupils["dasha"]
    consent_id = await api.submitted(dasha)
    withdrawn = await api.client.post(
        f"/consent/v1/consents/{consent_id}/withdraw",
        headers=api.guardian(dasha),
        json={"purposes": ["health_data"]},
    )
    assert withdrawn.status_code == 200, withdrawn.text
    verified = await api.client.post(
        f"/consent/v1/consents/{consent_id}/verify", headers=api.coordinator()
    )
    assert verified.status_code == 200, verified.text
    [published] = await _published(api, dasha, "ConsentVerified")
    assert published["purposes"] == [
        "programme_participation",
        "online_diagnostics",
        "career_events",
        "portfolio",
        "recommendations",
    ]
    assert (await _status(api, dasha, api.operator()))["purposes"] == published["purposes"]


async def test_a_whole_withdrawal_of_a_pending_consent_ends_the_one_in_force_too(
    api: Api,
) -> None:
    dasha = api.pupils["dasha"]
    in_force = await api.verified(dasha)
    pending = await api.submitted(dasha, purposes=["programme_participation"])
    response = await api.client.post(
        f"/consent/v1/consents/{pending}/withdraw", headers=api.guardian(dasha), json={}
    )
    assert response.status_code == 200, response.text
    ended = await _published(api, dasha, "ConsentWithdrawn")
    assert [e["consent_id"] for e in ended] == [str(in_force), str(pending)]
    assert {e["erase_by"] for e in ended} == {"2019-10-20"}
    for consent_id in (in_force, pending):
        read = await api.client.get(f"/consent/v1/consents/{consent_id}", headers=api.operator())
        assert read.json()["status"] == "withdrawn"
    status = await _status(api, dasha, api.operator())
    assert (status["state"], status["consent_id"], status["purposes"]) == (
        "withdrawn",
        str(in_force),
        [],
    )


async def test_a_second_withdrawal_is_refused_and_the_destruction_date_holds(api: Api) -> None:
    dasha = api.pupils["dasha"]
    consent_id = await api.verified(dasha)
    url = f"/consent/v1/consents/{consent_id}/withdraw"
    assert (await api.client.post(url, headers=api.guardian(dasha), json={})).status_code == 200
    api.clock.advance(25)
    before = await api.service.store.stream_version(f"consent-{dasha}")
    for body in ({}, {"purposes": ["health_data"]}):
        again = await api.client.post(url, headers=api.guardian(dasha), json=body)
        assert again.status_code == 409, again.text
        assert again.json()["code"] == "erasure_scheduled"
        assert again.json()["erase_by"] == "2019-10-20"
    assert await api.service.store.stream_version(f"consent-{dasha}") == before
    assert (await _status(api, dasha, api.operator()))["erase_by"] == "2019-10-20"


async def test_the_position_token_names_the_commit_on_the_published_stream(api: Api) -> None:
    dasha = api.pupils["dasha"]
    stream = f"consent-{dasha}"
    submitted = await api.submit(dasha)
    assert submitted.status_code == 201
    # The submission also wrote the internal `consentref-` and `consentfile-` streams, later in
    # the same commit; the token is the published stream's, which a reader can wait for.
    [record] = await api.service.store.read_stream(stream)
    assert submitted.json()["position"] == record.position
    assert submitted.headers[POSITION_HEADER] == f"consent:{record.position}:{stream}"
    consent_id = submitted.json()["consent_id"]
    await api.client.post(f"/consent/v1/consents/{consent_id}/verify", headers=api.coordinator())
    body = {"request": {"reference": "17/2019", "received_on": "2019-09-19"}}
    withdrawn = await api.client.post(
        f"/consent/v1/consents/{consent_id}/withdraw", headers=api.registrar(), json=body
    )
    assert withdrawn.status_code == 200, withdrawn.text
    last = (await api.service.store.read_stream(stream))[-1]
    assert last.type == "ConsentWithdrawn"
    assert withdrawn.json()["position"] == last.position
    assert withdrawn.headers[POSITION_HEADER] == f"consent:{last.position}:{stream}"
    # A reader of the consent service's facts reaches it on that stream.
    assert await api.service.directory.wait_for("consent", last.position, 5.0, stream)
