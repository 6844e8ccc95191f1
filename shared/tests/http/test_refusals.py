"""A service's refusals as problem+json: status and title by code from the service's own table,
details as extensions, and the documents OpenAPI names for them."""

from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter

from bilet.http import CurrentPrincipal, Role, ServiceDescription, create_service_app
from bilet.http.devkeys import ensure_development_keys
from bilet.http.problems import (
    PROBLEM_JSON,
    ProblemCodes,
    ProblemDocument,
    problem_responses,
    refusal_handler,
    refusal_problem,
)
from bilet.settings import PlatformSettings


class Refused(Exception):
    """A service's error base, as the services write theirs."""

    code: str = "rule_violated"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: Mapping[str, Any] = details


class UnknownThing(Refused):
    code = "unknown_thing"


class TooYoung(Refused):
    code = "too_young"


CODES = ProblemCodes(status={"unknown_thing": 404}, titles={"unknown_thing": "No such thing"})


class ThingProblem(ProblemDocument):
    """Problems of the thing service (`field`, `limit`)."""


router = APIRouter()


@router.get("/v1/things/{name}", responses=problem_responses(404, document=ThingProblem))
async def thing(name: str, principal: CurrentPrincipal) -> None:
    if name == "young":
        raise TooYoung("The pupil is too young.", field="birth_date", limit=None)
    raise UnknownThing("No thing of that name.")


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_service_app(
        ServiceDescription(name="things", title="Things", summary="Refusals for tests."),
        [router],
        settings=PlatformSettings(var_dir=tmp_path),
    )
    app.add_exception_handler(Refused, refusal_handler(Refused, CODES.problem_of))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def test_a_listed_code_has_its_status_and_title_and_others_are_422_titled_by_code() -> None:
    unknown = CODES.problem_of(UnknownThing("No thing of that name."))
    assert (unknown.status, unknown.code, unknown.title) == (404, "unknown_thing", "No such thing")
    assert unknown.detail == "No thing of that name."
    young = CODES.problem_of(TooYoung("The pupil is too young."))
    assert (young.status, young.code, young.title) == (422, "too_young", "Too young")


def test_details_that_are_set_and_extra_extensions_become_extensions() -> None:
    problem = CODES.problem_of(
        TooYoung("The pupil is too young.", field="birth_date", limit=None), existing="p-1"
    )
    assert problem.extensions == {"field": "birth_date", "existing": "p-1"}
    direct = refusal_problem(
        UnknownThing("Not yet."), 409, "Not yet visible", headers={"Retry-After": "1"}
    )
    assert (direct.status, direct.title, direct.headers) == (
        409,
        "Not yet visible",
        {"Retry-After": "1"},
    )


async def test_a_refusal_raised_by_a_route_is_answered_as_its_problem(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    token = ensure_development_keys(tmp_path).mint(Role.PUPIL)
    headers = {"Authorization": f"Bearer {token}"}
    unknown = await client.get("/things/v1/things/lamp", headers=headers)
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == PROBLEM_JSON
    assert unknown.json() == {
        "type": "about:blank",
        "title": "No such thing",
        "status": 404,
        "code": "unknown_thing",
        "detail": "No thing of that name.",
    }
    young = await client.get("/things/v1/things/young", headers=headers)
    assert young.status_code == 422
    assert young.json()["field"] == "birth_date"
    assert "limit" not in young.json()


async def test_openapi_documents_the_problems_of_every_route_with_the_services_document(
    client: httpx.AsyncClient,
) -> None:
    responses = problem_responses(409)
    assert sorted(responses) == [400, 401, 408, 409, 413, 422]
    openapi = (await client.get("/things/openapi.json")).json()
    documented = openapi["paths"]["/things/v1/things/{name}"]["get"]["responses"]
    assert {"400", "401", "404", "413", "422"} <= set(documented)
    schema = documented["404"]["content"][PROBLEM_JSON]["schema"]
    assert schema == {"$ref": "#/components/schemas/ThingProblem"}
    component = openapi["components"]["schemas"]["ThingProblem"]
    assert component["description"] == "Problems of the thing service (`field`, `limit`)."
    assert set(component["required"]) == {"type", "title", "status", "code"}
