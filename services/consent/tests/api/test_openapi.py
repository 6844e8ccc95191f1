"""The API explains itself (handbook rule 7): `/consent/docs` describes every operation, and every
schema it names is defined."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bilet.http.openapi_checks import (
    check_refusals,
    undefined_schemas,
    undescribed_operations,
)
from bilet_consent.api.problems import CODES

if TYPE_CHECKING:
    from services.consent.tests.conftest import Api


async def test_every_operation_has_a_description(api: Api) -> None:
    schema = (await api.client.get("/consent/openapi.json")).json()
    assert undescribed_operations(schema) == []


async def test_every_schema_the_document_names_is_defined(api: Api) -> None:
    schema = (await api.client.get("/consent/openapi.json")).json()
    assert undefined_schemas(schema) == set()
    submit = schema["paths"]["/consent/v1/consents"]["post"]["requestBody"]["content"]
    consent_part = submit["multipart/form-data"]["schema"]["properties"]["consent"]
    assert consent_part["$ref"] == "#/components/schemas/SubmitConsentForm"
    form = schema["components"]["schemas"]["SubmitConsentForm"]
    assert set(form["required"]) >= {"participant_id", "purposes", "guardian"}


async def test_every_refusal_an_operation_names_is_in_its_responses(api: Api) -> None:
    """Each `NNN `code`` of an operation's **Refusals** has NNN in its `responses`, with the
    status the service answers that code with."""
    schema = (await api.client.get("/consent/openapi.json")).json()
    found = check_refusals(schema, prefix="/consent/v1/", status_of=CODES.status, sections=())
    assert found.problems == []
    assert found.codes >= 76


async def test_the_lists_state_every_constraint_they_enforce(api: Api) -> None:
    schema = (await api.client.get("/consent/openapi.json")).json()
    for path in ("/consent/v1/consents", "/consent/v1/participants"):
        parameters = {p["name"]: p for p in schema["paths"][path]["get"]["parameters"]}
        cursor = parameters["cursor"]["schema"]  # string or absent: the pattern is a string's
        assert cursor["pattern"].startswith("^")
        assert cursor["maxLength"] == 54
        limit = parameters["limit"]["schema"]
        assert (limit["minimum"], limit["maximum"]) == (1, 200)
        assert "400" in schema["paths"][path]["get"]["responses"]
    status = schema["paths"]["/consent/v1/consents"]["get"]["parameters"]
    assert any(p["name"] == "status" and "$ref" in str(p["schema"]) for p in status)
    for command in ("verify", "reject", "withdraw"):
        operation = schema["paths"][f"/consent/v1/consents/{{consent_id}}/{command}"]["post"]
        assert "412" in operation["responses"]
        if_match = next(p for p in operation["parameters"] if p["name"] == "if-match")
        assert if_match["in"] == "header"
    withdraw = schema["paths"]["/consent/v1/consents/{consent_id}/withdraw"]["post"]
    assert withdraw["requestBody"].get("required", False) is False
