"""The API explains itself (handbook rule 7): `/diagnostics/docs` describes every operation,
every schema it names is defined, and every refusal code a route gives is in its description.
The document is the one it was before the answer save became a direct route (ADR 0112)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from bilet.http.direct import direct_routes
from bilet.http.openapi_checks import (
    check_refusals,
    undefined_schemas,
    undescribed_operations,
)
from bilet_diagnostics.api.problems import CODES

if TYPE_CHECKING:
    from services.diagnostics.tests.conftest import Api


async def test_every_operation_has_a_description(api: Api) -> None:
    schema = (await api.client.get("/diagnostics/openapi.json")).json()
    assert undescribed_operations(schema) == []
    assert undefined_schemas(schema) == set()


async def test_every_refusal_a_description_names_is_listed_with_its_status(api: Api) -> None:
    schema = (await api.client.get("/diagnostics/openapi.json")).json()
    # The progress route answers an unknown school itself (a `Problem`, not a rule's refusal).
    answered = {**CODES.status, "unknown_school": 404}
    found = check_refusals(schema, prefix="/diagnostics/v1/", status_of=answered, sections=())
    assert found.problems == []
    assert found.codes >= 35


async def test_the_request_constraints_are_in_the_schema(api: Api) -> None:
    schema = (await api.client.get("/diagnostics/openapi.json")).json()
    answer = schema["paths"]["/diagnostics/v1/attempts/{attempt_id}/answers/{item_id}"]["put"]
    item_id = next(p for p in answer["parameters"] if p["name"] == "item_id")
    assert item_id["schema"]["pattern"]
    body = schema["components"]["schemas"]["SaveAnswerRequest"]
    assert body["properties"]["option_id"]["pattern"]
    assert body["additionalProperties"] is False
    assert CODES.status["attempt_in_progress"] == 409


# The document as `main` gave it before the answer save was called directly (docs/adr/0112),
# written with `json.dumps(app.openapi(), indent=1, sort_keys=True, ensure_ascii=False)`. An API
# change made on purpose writes it again the same way, in the commit that changes the API.
DOCUMENT = Path(__file__).with_name("openapi.json")


async def test_the_document_is_unchanged_by_the_direct_answer_save(api: Api) -> None:
    expected = json.loads(DOCUMENT.read_text(encoding="utf-8"))

    assert api.app.openapi() == expected


async def test_only_the_answer_save_is_called_directly(api: Api) -> None:
    # A parameter added to the save (or a model answered instead of a `Response`) would make it
    # FastAPI's again: seen here, not only slower (docs/adr/0112).
    assert direct_routes(api.app) == {
        "/v1/attempts": False,
        "/v1/attempts/{attempt_id}": False,
        "/v1/attempts/{attempt_id}/answers/{item_id}": True,
        "/v1/attempts/{attempt_id}/complete": False,
    }
