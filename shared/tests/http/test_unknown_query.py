"""A query parameter an operation does not take is refused with 400 `unknown_query_parameter`
and changes nothing; the parameters it takes (its own, its dependencies', by alias) pass; the
OpenAPI document says so on every operation's 400."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from bilet.http import Role
from bilet.http.devkeys import DevelopmentSigner
from bilet.http.problems import PROBLEM_JSON, problem_responses
from bilet.http.query import UNKNOWN_QUERY_REFUSED

from .conftest import ServeRouter

router = APIRouter()
calls: list[str] = []


async def paging(cursor: str | None = None, limit: int = 10) -> tuple[str | None, int]:
    return cursor, limit


@router.get("/v1/schools", responses=problem_responses())
async def schools(
    page: Annotated[tuple[str | None, int], Depends(paging)],
    school_class: Annotated[str | None, Query(alias="class")] = None,
) -> dict[str, object]:
    calls.append("schools")
    return {"page": list(page), "class": school_class}


@router.post("/v1/schools", status_code=204, responses=problem_responses())
async def add_school() -> None:
    calls.append("add_school")


async def test_the_parameters_an_operation_takes_pass(serve_router: ServeRouter) -> None:
    async with serve_router(router, "things") as client:
        answer = await client.get("/things/v1/schools?class=7А&cursor=c&limit=3")
    assert answer.status_code == 200
    assert answer.json() == {"page": ["c", 3], "class": "7А"}


async def test_an_unknown_parameter_is_refused_and_changes_nothing(
    serve_router: ServeRouter,
) -> None:
    calls.clear()
    async with serve_router(router, "things") as client:
        misspelt = await client.get("/things/v1/schools?clas=7А&limit=3")
        empty_name = await client.get("/things/v1/schools?=false")
        on_a_command = await client.post("/things/v1/schools?dry_run=1")
        on_the_frame = await client.get("/things/healthz?verbose=1")
    for answer in (misspelt, empty_name, on_a_command, on_the_frame):
        assert answer.status_code == 400
        assert answer.headers["content-type"] == PROBLEM_JSON
        assert answer.json()["code"] == "unknown_query_parameter"
    assert misspelt.json()["unknown"] == ["clas"]
    assert misspelt.json()["accepted"] == ["class", "cursor", "limit"]
    assert empty_name.json()["unknown"] == [""]
    assert on_a_command.json()["accepted"] == []
    assert calls == []


async def test_a_hostile_query_is_echoed_bounded(serve_router: ServeRouter) -> None:
    query = "&".join(f"{'x' * 200}{n}=1" for n in range(50))
    async with serve_router(router, "things") as client:
        answer = await client.get(f"/things/v1/schools?{query}")
    assert answer.status_code == 400
    unknown = answer.json()["unknown"]
    assert len(unknown) == 5
    assert all(len(name) == 64 for name in unknown)


async def test_openapi_says_so_on_every_operations_400(
    serve_router: ServeRouter, signer: DevelopmentSigner
) -> None:
    async with serve_router(router, "things") as client:
        token = signer.mint(Role.PUPIL)
        listed = await client.get(
            "/things/v1/schools", headers={"Authorization": f"Bearer {token}"}
        )
        openapi = (await client.get("/things/openapi.json")).json()
    assert listed.status_code == 200
    operations = [operation for item in openapi["paths"].values() for operation in item.values()]
    described = [
        operation["responses"]["400"]["description"]
        for operation in operations
        if "400" in operation["responses"]
    ]
    assert described
    assert all(description.count(UNKNOWN_QUERY_REFUSED) == 1 for description in described)
