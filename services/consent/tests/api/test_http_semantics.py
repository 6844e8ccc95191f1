"""HTTP semantics of the consent API (issue #18): 201 with `Location` on creation, a withdrawal
needs no body, command answers carry the consent id and the version (`ETag`), a stale
`If-Match` is 412 and changes nothing, and the document downloads under a proper file name and
type."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import unquote

import pytest

from bilet_consent.testing import JPEG, PDF, PNG

if TYPE_CHECKING:
    from services.consent.tests.conftest import Api


async def test_a_submission_is_201_with_the_location_of_the_new_consent(api: Api) -> None:
    response = await api.submit(api.pupils["dasha"])
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/consent/v1/consents/{body['consent_id']}"
    assert body["version"] is not None
    assert response.headers["etag"] == f'"{body["version"]}"'
    created = await api.client.get(response.headers["location"], headers=api.operator())
    assert created.status_code == 200
    assert created.json()["consent_id"] == body["consent_id"]
    assert created.headers["etag"] == f'"{body["version"]}"'


async def test_a_guardian_withdraws_with_no_body_at_all(api: Api) -> None:
    dasha = api.pupils["dasha"]
    consent_id = await api.verified(dasha)
    response = await api.client.post(
        f"/consent/v1/consents/{consent_id}/withdraw", headers=api.guardian(dasha)
    )
    assert response.status_code == 200, response.text
    assert "content-type" not in response.request.headers
    assert response.json()["consent_id"] == str(consent_id)
    assert await api.status_of(dasha) == "withdrawn"


async def test_command_answers_carry_the_consent_id_and_the_version_read_back(api: Api) -> None:
    consent_id = await api.submitted(api.pupils["dasha"])
    url = f"/consent/v1/consents/{consent_id}"
    verified = await api.client.post(f"{url}/verify", headers=api.coordinator())
    assert verified.status_code == 200
    answer = verified.json()
    assert answer["consent_id"] == str(consent_id)
    assert answer["participant_id"] == str(api.pupils["dasha"])
    read = await api.client.get(url, headers=api.operator())
    assert read.json()["version"] == answer["version"]
    assert read.headers["etag"] == verified.headers["etag"] == f'"{answer["version"]}"'


@pytest.mark.parametrize("command", ["verify", "reject", "withdraw"])
async def test_a_stale_if_match_is_412_and_changes_nothing(api: Api, command: str) -> None:
    dasha = api.pupils["dasha"]
    consent_id = await api.submitted(dasha)
    url = f"/consent/v1/consents/{consent_id}"
    seen = (await api.client.get(url, headers=api.operator())).headers["etag"]
    # Someone else acts meanwhile: a second consent of the same participant.
    await api.submitted(dasha)
    headers, body = {
        "verify": (api.coordinator(), None),
        "reject": (api.coordinator(), {"reasons": ["unreadable_scan"]}),
        "withdraw": (api.guardian(dasha), None),
    }[command]
    before = (await api.client.get(url, headers=api.operator())).json()
    stale = await api.client.post(
        f"{url}/{command}", headers={**headers, "If-Match": seen}, json=body
    )
    assert stale.status_code == 412, stale.text
    assert stale.headers["content-type"] == "application/problem+json"
    assert stale.json()["code"] == "stale_version"
    assert (await api.client.get(url, headers=api.operator())).json() == before

    current = (await api.client.get(url, headers=api.operator())).headers["etag"]
    accepted = await api.client.post(
        f"{url}/{command}", headers={**headers, "If-Match": current}, json=body
    )
    assert accepted.status_code == 200, accepted.text


async def test_a_malformed_if_match_is_422(api: Api) -> None:
    consent_id = await api.submitted(api.pupils["dasha"])
    response = await api.client.post(
        f"/consent/v1/consents/{consent_id}/verify",
        headers={**api.coordinator(), "If-Match": "yesterday"},
    )
    assert (response.status_code, response.json()["code"]) == (422, "invalid_request")


@pytest.mark.parametrize(
    ("content", "media_type", "extension"),
    [(PDF, "application/pdf", "pdf"), (PNG, "image/png", "png"), (JPEG, "image/jpeg", "jpg")],
)
async def test_the_document_downloads_with_a_file_name_and_its_type(
    api: Api, content: bytes, media_type: str, extension: str
) -> None:
    consent_id = await api.submitted(api.pupils["dasha"], document=content)
    response = await api.client.get(
        f"/consent/v1/consents/{consent_id}/document", headers=api.operator()
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    plain = re.search(r'filename="([^"]+)"', disposition)
    assert plain is not None
    assert plain.group(1) == f"consent-{consent_id}.{extension}"
    encoded = re.search(r"filename\*=UTF-8''([^;\s]+)", disposition)
    assert encoded is not None
    assert unquote(encoded.group(1)) == f"согласие-{consent_id}.{extension}"
    assert disposition.isascii()  # a header value: the Russian name only percent-encoded
