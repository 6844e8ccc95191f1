"""The unknown-query check is a middleware in front of the router (docs/adr/0073): it judges a
request by the route the router will choose, and only then — HEAD as GET, a router's own
dependencies' parameters taken, no route (404) or no such method (405) left to the router, the
media-type refusal first, nothing run on a refusal."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from bilet.http.problems import PROBLEM_JSON, problem_responses

from .conftest import ServeRouter

calls: list[str] = []


async def region_filter(region: Annotated[str | None, Query()] = None) -> str | None:
    calls.append("region_filter")
    return region


router = APIRouter(dependencies=[Depends(region_filter)])


@router.get("/v1/schools/{school_id}", responses=problem_responses())
async def school(school_id: str, grade: int | None = None) -> dict[str, object]:
    calls.append("school")
    return {"school_id": school_id, "grade": grade}


@router.post("/v1/schools", status_code=204, responses=problem_responses())
async def add_school(body: dict[str, str]) -> None:
    calls.append("add_school")


async def test_a_routers_own_dependencies_parameters_are_taken(serve_router: ServeRouter) -> None:
    calls.clear()
    async with serve_router(router, "things") as client:
        answer = await client.get("/things/v1/schools/s1?grade=7&region=77")
    assert answer.status_code == 200
    assert answer.json() == {"school_id": "s1", "grade": 7}
    assert calls == ["region_filter", "school"]


async def test_head_is_judged_as_get(serve_router: ServeRouter) -> None:
    calls.clear()
    async with serve_router(router, "things") as client:
        taken = await client.head("/things/v1/schools/s1?grade=7")
        refused = await client.head("/things/v1/schools/s1?grde=7")
    assert taken.status_code == 200
    assert refused.status_code == 400
    assert refused.headers["content-type"] == PROBLEM_JSON
    assert calls == ["region_filter", "school"]


async def test_no_route_and_no_such_method_are_the_routers_to_answer(
    serve_router: ServeRouter,
) -> None:
    calls.clear()
    async with serve_router(router, "things") as client:
        nowhere = await client.get("/things/v1/nowhere?x=1")
        wrong_method = await client.delete("/things/v1/schools/s1?x=1")
    assert nowhere.status_code == 404
    assert wrong_method.status_code == 405
    assert calls == []


async def test_the_media_type_is_refused_before_the_query(serve_router: ServeRouter) -> None:
    calls.clear()
    async with serve_router(router, "things") as client:
        answer = await client.post(
            "/things/v1/schools?dry_run=1", content=b"a=b", headers={"Content-Type": "text/plain"}
        )
        refused = await client.post("/things/v1/schools?dry_run=1", json={"name": "Школа"})
    assert answer.status_code == 415
    assert refused.status_code == 400
    assert refused.json()["code"] == "unknown_query_parameter"
    assert refused.json()["accepted"] == ["region"]
    assert calls == []
