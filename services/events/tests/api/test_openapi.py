"""The API explains itself (handbook rule 7): `/events/docs` describes every operation, every
schema it names is defined, every refusal status a description names is in the route's
`responses`, and the request constraints the server enforces are in the schema."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bilet.http.openapi_checks import (
    answered_codes,
    check_refusals,
    undefined_schemas,
    undescribed_operations,
)
from bilet_events.api.problems import CODES
from bilet_events.domain.errors import DomainError

if TYPE_CHECKING:
    from services.events.tests.api.conftest import Api


# The codes of the service's refusals (every class is imported with the app the fixture starts),
# of the frame (validation, position tokens) and of the catalogue's cursor.
KNOWN = answered_codes(DomainError, "invalid_cursor")


async def _schema(api: Api) -> dict[str, Any]:
    response = await api.client.get("/events/openapi.json")
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    return schema


async def test_every_operation_has_a_description(api: Api) -> None:
    schema = await _schema(api)
    assert undescribed_operations(schema) == []
    assert undefined_schemas(schema) == set()


async def test_every_refusal_a_description_names_is_listed_with_its_status(api: Api) -> None:
    found = check_refusals(
        await _schema(api), prefix="/events/v1/", status_of=CODES.status, known=KNOWN
    )
    assert found.problems == []
    assert found.operations == 10
    assert found.codes > 60


def test_every_code_given_a_status_is_a_code_the_service_answers() -> None:
    assert set(CODES.status) <= KNOWN


async def test_the_request_constraints_are_in_the_schema(api: Api) -> None:
    components = (await _schema(api))["components"]["schemas"]
    publish = components["PublishCareerEventRequest"]
    assert publish["additionalProperties"] is False
    sessions = publish["properties"]["sessions"]
    assert (sessions["minItems"], sessions["maxItems"]) == (1, 50)
    assert publish["properties"]["environments"]["uniqueItems"] is True
    assert components["SessionRequest"]["properties"]["capacity"]["maximum"] == 1000
    attendance = components["AttendanceRequest"]["properties"]["records"]
    assert (attendance["minItems"], attendance["maxItems"]) == (1, 1000)
    comment = components["FeedbackRequest"]["properties"]["comment"]
    assert any(option.get("maxLength") == 1000 for option in comment["anyOf"])
