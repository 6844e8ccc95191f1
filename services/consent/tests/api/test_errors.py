"""Every bad input is refused with problem+json, a stable code, and nothing changed."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import pytest

from bilet.http.problems import PROBLEM_JSON
from bilet_consent.testing import JPEG, OTHER_REGION, PDF, SCHOOL_5, pdf_document

if TYPE_CHECKING:
    from services.consent.tests.conftest import Api

MZ_EXECUTABLE = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200 + b"PE\x00\x00"
)


async def _nothing_changed(api: Api, participant_id: UUID) -> None:
    assert await api.service.store.stream_version(f"consent-{participant_id}") is None
    assert await api.service.documents.count(participant_id) == 0


def _problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """The problem document (checked for `code` unless it is empty)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert not code or body["code"] == code
    return body


@pytest.mark.parametrize(
    ("document", "code", "status"),
    [
        (MZ_EXECUTABLE, "unsupported_document_type", 415),  # an .exe named consent.pdf
        (b"<!DOCTYPE html><html><body>consent</body></html>", "unsupported_document_type", 415),
        (b"PK\x03\x04" + b"\x00" * 100, "unsupported_document_type", 415),  # ZIP (and .docx)
        (b"", "empty_document", 422),
        # A PDF, JPEG or PNG by its first bytes that does not decode (what decodes is rebuilt from
        # its pixels: tests/api/test_document_disarm.py).
        (b"%PDF-1.4 but never finished", "unsupported_document", 415),
        (b"\xff\xd8\xff" + MZ_EXECUTABLE, "unsupported_document", 415),
        (b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>", "unsupported_document", 415),
        (JPEG[:20], "unsupported_document", 415),  # cut short
        (  # no pages to rebuild (its script could never survive: test_document_disarm.py)
            pdf_document(
                b"<< /Type /Catalog /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >>"
            ),
            "unsupported_document",
            415,
        ),
    ],
)
async def test_documents_are_checked_by_content_not_name(
    api: Api, document: bytes, code: str, status: int
) -> None:
    dasha = api.pupils["dasha"]
    problem = _problem(
        await api.submit(dasha, document=document, filename="consent.pdf"), status, code
    )
    assert problem["detail"]  # what the school should do about it
    await _nothing_changed(api, dasha)


async def test_a_50_mb_upload_is_refused_before_it_is_read(api: Api) -> None:
    dasha = api.pupils["dasha"]
    _problem(await api.submit(dasha, document=PDF + b"\x00" * (50 << 20)), 413, "payload_too_large")
    await _nothing_changed(api, dasha)


async def test_a_document_just_over_the_limit_is_refused(api: Api) -> None:
    dasha = api.pupils["dasha"]
    limit = api.settings.consent_max_document_bytes
    big = b"%PDF-1.4\n" + b"0" * (limit) + b"\n%%EOF\n"
    _problem(await api.submit(dasha, document=big), 413, "document_too_large")
    await _nothing_changed(api, dasha)


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"guardian.passport": {"series": "41A5", "number": "731592", "issued_by": "ТП",
                                "issued_on": "2010-03-15"}}, 422, "invalid_guardian"),
        ({"guardian.passport": {"series": "4105", "number": "73159", "issued_by": "ТП",
                                "issued_on": "2010-03-15"}}, 422, "invalid_guardian"),
        ({"guardian.passport": {"series": "4105", "number": "731592", "issued_by": "ТП",
                                "issued_on": "2030-01-01"}}, 422, "invalid_guardian"),
        ({"guardian.last_name": "Robert'); DROP TABLE--"}, 422, "invalid_guardian"),
        ({"guardian.phone": "12345"}, 422, "invalid_guardian"),
        ({"guardian.email": "not-an-address"}, 422, "invalid_guardian"),
        ({"guardian.relationship": "custodian"}, 422, "authority_required"),
        ({"guardian.relationship": "uncle"}, 422, "invalid_request"),
        ({"purposes": ["online_diagnostics"]}, 422, "invalid_consent"),
        ({"purposes": ["programme_participation", "telepathy"]}, 422, "invalid_request"),
        ({"purposes": []}, 422, "invalid_request"),
        ({"signed_on": "2019-10-01"}, 422, "invalid_consent"),
        ({"signed_on": "2018-09-01", "valid_until": "2019-09-01"}, 422, "consent_expired"),
        ({"valid_until": "2025-09-01"}, 422, "invalid_consent"),
        ({"form_version": "first"}, 422, "invalid_request"),
        ({"extra": "field"}, 422, "invalid_request"),
        ({"guardian.last_name": "Соко\u0000лова"}, 400, "invalid_text"),
    ],
)  # fmt: skip
async def test_bad_forms_are_refused_with_a_stable_code(
    api: Api, overrides: dict[str, Any], status: int, code: str
) -> None:
    dasha = api.pupils["dasha"]
    _problem(await api.submit(dasha, **overrides), status, code)
    await _nothing_changed(api, dasha)


async def test_a_body_that_is_not_multipart_is_refused(api: Api) -> None:
    response = await api.client.post(
        "/consent/v1/consents", headers=api.registrar(), json={"participant_id": str(uuid4())}
    )
    _problem(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    "body",
    [
        b"no boundary here",
        b'--XyZ\r\nContent-Disposition: form-data; name="consent"\r\n\r\n{}',  # never ends
        b"--XyZ\r\nbroken header\r\n\r\nx\r\n--XyZ--",
    ],
)
async def test_malformed_multipart_is_refused(api: Api, body: bytes) -> None:
    response = await api.client.post(
        "/consent/v1/consents",
        headers={**api.registrar(), "content-type": "multipart/form-data; boundary=XyZ"},
        content=body,
    )
    _problem(response, 400, "invalid_multipart")


async def test_missing_parts_are_refused(api: Api) -> None:
    response = await api.client.post(
        "/consent/v1/consents",
        headers=api.registrar(),
        files={"document": ("consent.pdf", PDF, "application/pdf")},
    )
    _problem(response, 422, "invalid_request")


async def test_consent_field_that_is_not_json_is_refused(api: Api) -> None:
    response = await api.client.post(
        "/consent/v1/consents",
        headers=api.registrar(),
        files={"consent": (None, "{not json"), "document": ("c.pdf", PDF, "application/pdf")},
    )
    _problem(response, 422, "invalid_request")


async def test_a_registrar_submits_only_for_their_school(api: Api) -> None:
    dasha = api.pupils["dasha"]  # СОШ № 3
    # Another school's pupil is answered like no pupil at all: no oracle of who exists.
    other_school = _problem(await api.submit(dasha, headers=api.registrar(SCHOOL_5)), 404, "")
    nobody = _problem(await api.submit(uuid4(), headers=api.registrar(SCHOOL_5)), 404, "")
    assert other_school == nobody
    assert other_school["code"] == "unknown_participant"
    # A role that never submits is refused before anything is looked up.
    _problem(await api.submit(dasha, headers=api.coordinator()), 403, "forbidden")
    _problem(await api.submit(uuid4(), headers=api.coordinator()), 403, "forbidden")
    await _nothing_changed(api, dasha)


async def test_only_the_operator_or_the_region_coordinator_verifies(api: Api) -> None:
    dasha = api.pupils["dasha"]
    consent_id = await api.submitted(dasha)
    url = f"/consent/v1/consents/{consent_id}/verify"
    # Another region's coordinator: as if there were no such consent.
    _problem(
        await api.client.post(url, headers=api.coordinator(OTHER_REGION)), 404, "unknown_consent"
    )
    for headers in (api.registrar(), api.guardian(dasha)):
        _problem(await api.client.post(url, headers=headers), 403, "forbidden")
    assert (await api.status_of(dasha)) == "pending"


async def test_a_guardian_sees_and_withdraws_only_their_children(api: Api) -> None:
    dasha, petya = api.pupils["dasha"], api.pupils["petya"]
    consent_id = await api.verified(dasha)
    stranger = api.guardian(petya)
    for path, code in (
        (f"/consent/v1/consents/{consent_id}", "unknown_consent"),
        (f"/consent/v1/participants/{dasha}/status", "unknown_participant"),
    ):
        _problem(await api.client.get(path, headers=stranger), 404, code)
    # Documents: never a guardian's, whoever's child.
    for headers in (stranger, api.guardian(dasha)):
        document = await api.client.get(
            f"/consent/v1/consents/{consent_id}/document", headers=headers
        )
        _problem(document, 403, "forbidden")
    response = await api.client.post(
        f"/consent/v1/consents/{consent_id}/withdraw", headers=stranger, json={}
    )
    _problem(response, 404, "unknown_consent")
    assert (await api.status_of(dasha)) == "verified"


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("verify", None, 404, "unknown_consent"),
        ("reject", {"reasons": ["unreadable_scan"]}, 404, "unknown_consent"),
        ("withdraw", {}, 404, "unknown_consent"),
    ],
)
async def test_unknown_consents_are_404(
    api: Api, path: str, body: Any, status: int, code: str
) -> None:
    headers = api.guardian(api.pupils["dasha"]) if path == "withdraw" else api.operator()
    response = await api.client.post(
        f"/consent/v1/consents/{uuid4()}/{path}", headers=headers, json=body
    )
    _problem(response, status, code)


async def test_bad_reject_and_withdraw_bodies(api: Api) -> None:
    dasha = api.pupils["dasha"]
    consent_id = await api.submitted(dasha)
    base = f"/consent/v1/consents/{consent_id}"
    bodies: tuple[dict[str, Any], ...] = ({"reasons": []}, {"reasons": ["looked_funny"]}, {})
    for body in bodies:
        _problem(
            await api.client.post(f"{base}/reject", headers=api.operator(), json=body),
            422,
            "invalid_request",
        )
    bad_request = {"request": {"reference": "<script>", "received_on": "2019-09-19"}}
    _problem(
        await api.client.post(f"{base}/withdraw", headers=api.registrar(), json=bad_request),
        422,
        "invalid_consent",
    )
    _problem(
        await api.client.post(
            f"{base}/withdraw", headers=api.guardian(dasha), json={"purposes": ["telepathy"]}
        ),
        422,
        "invalid_request",
    )
    assert (await api.status_of(dasha)) == "pending"


async def test_a_bad_position_token_is_400(api: Api) -> None:
    response = await api.client.get(
        f"/consent/v1/participants/{api.pupils['dasha']}/status",
        headers={**api.registrar(), "BVB-Position": "not a token"},
    )
    _problem(response, 400, "invalid_position_token")


async def test_no_token_is_401(api: Api) -> None:
    response = await api.client.get(f"/consent/v1/participants/{api.pupils['dasha']}/status")
    _problem(response, 401, "unauthorized")
    assert json.loads(response.text)["status"] == 401


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        ({"reference": "Иванова И.И. заявл", "received_on": "2019-09-19"}, "request.reference"),
        ({"reference": "ИВАНОВА", "received_on": "2019-09-19"}, "request.reference"),
        # The pupil's own СНИЛС, and "SURNAME-I.O.-birth date": both outlive the destruction.
        ({"reference": "112-233-445-95", "received_on": "2019-09-19"}, "request.reference"),
        ({"reference": "11223344595", "received_on": "2019-09-19"}, "request.reference"),
        ({"reference": "ИВАНОВ-И.О.-01.02.2010", "received_on": "2019-09-19"}, "request.reference"),
        ({"reference": "01/02/2010", "received_on": "2019-09-19"}, "request.reference"),
        ({"reference": "1" * 21, "received_on": "2019-09-19"}, "request.reference"),
        ({"reference": "17/2019", "received_on": "2019-09-21"}, "request.received_on"),
    ],
)
async def test_a_written_request_is_a_number_and_a_past_date(
    api: Api, request_: dict[str, str], field: str
) -> None:
    dasha = api.pupils["dasha"]
    consent_id = await api.verified(dasha)
    streams = (f"consent-{dasha}", f"consentfile-{dasha}")
    before = [await api.service.store.stream_version(s) for s in streams]
    response = await api.client.post(
        f"/consent/v1/consents/{consent_id}/withdraw",
        headers=api.registrar(),
        json={"request": request_},
    )
    assert _problem(response, 422, "invalid_consent")["field"] == field
    assert [await api.service.store.stream_version(s) for s in streams] == before
    assert (await api.status_of(dasha)) == "verified"


async def test_the_schema_states_what_a_request_reference_may_be(api: Api) -> None:
    schema = (await api.client.get("/consent/openapi.json")).json()
    reference = schema["components"]["schemas"]["WrittenRequestModel"]["properties"]["reference"]
    assert reference["maxLength"] == 20
    pattern = re.compile(reference["pattern"])
    for good in ("№ 15/2026", "ВХ-1234", "01-15/123"):
        assert pattern.fullmatch(good)
    for bad in ("112-233-445-95", "ИВАНОВ-ИИ-1", "ВХ-125.1", "1-2-3-4-5"):
        assert not pattern.fullmatch(bad)
    withdraw = schema["paths"]["/consent/v1/consents/{consent_id}/withdraw"]["post"]
    assert "422" in withdraw["responses"]
