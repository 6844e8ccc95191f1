"""Headers a route reads itself (`bilet.http.headers`) say and refuse what FastAPI's header
parameters say and refuse: the same parameters in the document, the same 422 for an over-long
value, the same values read. Each case asks a route declaring FastAPI parameters and one reading
the headers itself, in the same app."""

from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Header, Request

from bilet.http.auth import CurrentPrincipal, Role
from bilet.http.consistency import position_header, position_parameter
from bilet.http.devkeys import DevelopmentSigner
from bilet.http.headers import HeaderParameter, documented, read_headers

from .conftest import ServeRouter

SOURCES = ("identity", "consent")
DESCRIPTION = "The positions to wait for."
POSITION = position_parameter(DESCRIPTION, SOURCES)
IF_NONE_MATCH = HeaderParameter("if-none-match", max_length=20)

router = APIRouter()


@router.get("/v1/declared")
async def declared(
    _: CurrentPrincipal,
    position: Annotated[str | None, position_header(DESCRIPTION, SOURCES)] = None,
    if_none_match: Annotated[str | None, Header(max_length=20)] = None,
) -> dict[str, Any]:
    """FastAPI's header parameters."""
    return {"position": position, "if_none_match": if_none_match}


@router.get("/v1/read", openapi_extra=documented(POSITION, IF_NONE_MATCH))
async def read(_: CurrentPrincipal, request: Request) -> dict[str, Any]:
    """The same headers, read by the route."""
    position, if_none_match = read_headers(request.headers, POSITION, IF_NONE_MATCH)
    return {"position": position, "if_none_match": if_none_match}


@pytest.fixture
async def client(
    serve_router: ServeRouter, signer: DevelopmentSigner
) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_router(router, "probe") as client:
        client.headers["Authorization"] = f"Bearer {signer.mint(Role.PUPIL, subject='p')}"
        yield client


async def test_the_document_states_the_headers_as_fastapi_does(
    client: httpx.AsyncClient,
) -> None:
    paths = (await client.get("/probe/openapi.json")).json()["paths"]

    declared = paths["/probe/v1/declared"]["get"]["parameters"]
    read = paths["/probe/v1/read"]["get"]["parameters"]

    assert [p["name"] for p in read] == ["BVB-Position", "if-none-match"]
    assert read == declared


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"BVB-Position": "identity:12", "If-None-Match": 'W/"a"'},
        {"bvb-position": "", "IF-NONE-MATCH": "*"},
        {"If-None-Match": "x" * 20},
    ],
)
async def test_the_values_read_are_fastapis(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    declared = await client.get("/probe/v1/declared", headers=headers)
    read = await client.get("/probe/v1/read", headers=headers)

    assert declared.status_code == read.status_code == 200
    assert read.json() == declared.json()


@pytest.mark.parametrize(
    "headers",
    [
        {"If-None-Match": "x" * 21},
        {"BVB-Position": "x" * 2001},
        {"BVB-Position": "x" * 2001, "If-None-Match": "x" * 21},
    ],
)
async def test_an_over_long_value_is_fastapis_422(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    declared = await client.get("/probe/v1/declared", headers=headers)
    read = await client.get("/probe/v1/read", headers=headers)

    assert declared.status_code == read.status_code == 422
    assert read.json()["code"] == "invalid_request"
    assert read.json() == declared.json()


async def test_a_repeated_header_is_read_as_fastapi_reads_it(client: httpx.AsyncClient) -> None:
    repeated = [("if-none-match", '"a"'), ("if-none-match", '"b"')]

    declared = await client.get("/probe/v1/declared", headers=repeated)
    read = await client.get("/probe/v1/read", headers=repeated)

    assert read.json() == declared.json()
    assert read.json()["if_none_match"] == '"a"'
