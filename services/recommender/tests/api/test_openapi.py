"""The API explains itself (handbook rule 7): `/recommender/openapi.json` describes every
operation, every schema it names is defined, every refusal a description names is in the route's
`responses` with the status its code has, and the request constraints the server enforces are in
the schema."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from bilet.http.openapi_checks import undefined_schemas, undescribed_operations
from bilet_recommender.api.problems import CODES
from bilet_recommender.domain.errors import DomainError

if TYPE_CHECKING:
    from services.recommender.tests.api.conftest import Api


def _codes(error: type[DomainError]) -> set[str]:
    return {error.code}.union(*(_codes(sub) for sub in error.__subclasses__()))


KNOWN = _codes(DomainError) | {"invalid_request", "invalid_position_token", "not_yet_visible"}


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
    schema = await _schema(api)
    operations = [
        operation
        for path, item in schema["paths"].items()
        if path.startswith("/recommender/v1/")
        for method, operation in item.items()
        if method != "head"
    ]
    assert len(operations) == 6
    checked = 0
    for operation in operations:
        description = operation["description"]
        assert "**Who:**" in description
        assert "**Refusals:**" in description
        named = {int(s) for s in re.findall(r"\b(4\d\d) `", description)}
        listed = {int(s) for s in operation["responses"] if s.startswith("4")}
        assert named <= listed, (operation["operationId"], named - listed)
        refusals = description.split("**Refusals:**")[1]
        for chunk in re.sub(r"\([^)]*\)", "", refusals).split(";"):
            status, *_ = chunk.split()
            for code in re.findall(r"`([a-z_]+)`", chunk):
                assert code in KNOWN, code
                assert CODES.status.get(code, 422) == int(status), (code, status)
                checked += 1
    assert checked == 23


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
