"""The API explains itself (handbook rule 7): `/recommender/openapi.json` describes every
operation, every schema it names is defined, every refusal a description names is in the route's
`responses` with the status its code has, and the request constraints the server enforces are in
the schema."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bilet.http.openapi_checks import (
    answered_codes,
    check_refusals,
    undefined_schemas,
    undescribed_operations,
)
from bilet_recommender.api.problems import CODES
from bilet_recommender.domain.errors import DomainError

if TYPE_CHECKING:
    from services.recommender.tests.api.conftest import Api


KNOWN = answered_codes(DomainError)


async def _schema(api: Api) -> dict[str, Any]:
    response = await api.client.get("/recommender/openapi.json")
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    return schema


async def test_every_operation_has_a_description(api: Api) -> None:
    schema = await _schema(api)
    assert undescribed_operations(schema) == []
    assert undefined_schemas(schema) == set()


async def test_every_refusal_a_description_names_is_listed_with_its_status(api: Api) -> None:
    found = check_refusals(
        await _schema(api), prefix="/recommender/v1/", status_of=CODES.status, known=KNOWN
    )
    assert found.problems == []
    assert found.operations == 6
    assert found.codes == 23


def test_every_code_given_a_status_is_a_code_the_service_answers() -> None:
    assert set(CODES.status) <= KNOWN


async def test_the_request_constraints_are_in_the_schema(api: Api) -> None:
    components = (await _schema(api))["components"]["schemas"]
    register = components["RegisterOpportunityRequest"]
    assert register["additionalProperties"] is False
    properties = register["properties"]
    assert properties["environments"]["uniqueItems"] is True
    assert properties["environments"]["minItems"] == 1
    assert properties["title"]["maxLength"] == 300
    seats = properties["seats"]["anyOf"][0]
    assert (seats["minimum"], seats["maximum"]) == (0, 10000)
    assert properties["kind"]["$ref"].endswith("OpportunityKind")
    revise = components["OpportunityDetailsRequest"]
    assert revise["additionalProperties"] is False
