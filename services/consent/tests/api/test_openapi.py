"""The API explains itself (handbook rule 7): `/consent/docs` describes every operation, and every
schema it names is defined."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bilet.http.openapi_checks import undefined_schemas, undescribed_operations

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
