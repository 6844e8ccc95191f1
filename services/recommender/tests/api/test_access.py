"""Who may do what, route by route, for every role, on a participant (or opportunity, or
region) of the caller's own school and region, of another school of the same region, and of
another region: the matrix of `application.access` over HTTP. No unauthorised call answers 2xx;
an authorised one does."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

import httpx

from bilet.http import Role
from services.recommender.tests.api.conftest import opportunity_body

if TYPE_CHECKING:
    from services.recommender.tests.api.conftest import Api

OWN, OTHER_SCHOOL, OTHER_REGION_ = "own", "other school", "other region"
SCOPES = (OWN, OTHER_SCHOOL, OTHER_REGION_)
PUPIL_OF = {OWN: "dasha", OTHER_SCHOOL: "sasha", OTHER_REGION_: "kolya"}

ALLOWED: dict[str, set[tuple[Role, str]]] = {
    "recommendations": {
        (Role.PUPIL, OWN),
        (Role.GUARDIAN, OWN),
        (Role.NAVIGATOR, OWN),
        (Role.COORDINATOR, OWN),
        (Role.COORDINATOR, OTHER_SCHOOL),
    },
    "register": {(Role.COORDINATOR, OWN), (Role.COORDINATOR, OTHER_SCHOOL)},
    "revise": {(Role.COORDINATOR, OWN), (Role.COORDINATOR, OTHER_SCHOOL)},
    "withdraw": {(Role.COORDINATOR, OWN), (Role.COORDINATOR, OTHER_SCHOOL)},
    "opportunities": {
        (Role.COORDINATOR, OWN),
        (Role.COORDINATOR, OTHER_SCHOOL),
        *((Role.ORGANISER, scope) for scope in SCOPES),
    },
    "insights": {(Role.COORDINATOR, OWN), (Role.COORDINATOR, OTHER_SCHOOL)},
}


def _caller(api: Api, role: Role) -> dict[str, str]:
    """A token of `role` whose every scope claim names dasha, her school and region: a role
    without access is refused even when its claims would match."""
    return api.token(
        role,
        school=str(api.SCHOOL_3),
        region=str(api.REGION),
        participant=str(api.pupils["dasha"]),
        children=[str(api.pupils["dasha"])],
        venue=str(api.SCHOOL_3),
    )


async def _opportunity_in(api: Api, region: UUID) -> str:
    response = await api.client.post(
        "/recommender/v1/opportunities",
        headers=api.coordinator(region),
        json=opportunity_body(region_id=str(region)),
    )
    assert response.status_code == 201, response.text
    opportunity_id: str = response.json()["opportunity_id"]
    return opportunity_id


async def _call(
    api: Api, route: str, scope: str, headers: dict[str, str], targets: dict[UUID, str]
) -> httpx.Response:
    region = api.OTHER_REGION if scope == OTHER_REGION_ else api.REGION
    revision = opportunity_body()
    del revision["region_id"]
    match route:
        case "recommendations":
            return await api.client.get(api.recommendations_of(PUPIL_OF[scope]), headers=headers)
        case "register":
            body = opportunity_body(region_id=str(region))
            return await api.client.post(
                "/recommender/v1/opportunities", headers=headers, json=body
            )
        case "revise":
            path = f"/recommender/v1/opportunities/{targets[region]}"
            return await api.client.put(path, headers=headers, json=revision)
        case "withdraw":
            path = f"/recommender/v1/opportunities/{targets[region]}/withdrawal"
            return await api.client.post(path, headers=headers)
        case "opportunities":
            path = f"/recommender/v1/regions/{region}/opportunities"
            return await api.client.get(path, headers=headers)
        case "insights":
            return await api.client.get(
                f"/recommender/v1/regions/{region}/insights", headers=headers
            )
    raise AssertionError(route)


async def test_no_unauthorised_call_succeeds_and_every_authorised_one_does(api: Api) -> None:
    targets = {
        api.REGION: await _opportunity_in(api, api.REGION),
        api.OTHER_REGION: await _opportunity_in(api, api.OTHER_REGION),
    }
    wrong: list[str] = []
    calls = 0
    for route, allowed in ALLOWED.items():
        for role in Role:
            for scope in SCOPES:
                response = await _call(api, route, scope, _caller(api, role), targets)
                calls += 1
                succeeded = 200 <= response.status_code < 300
                if succeeded != ((role, scope) in allowed):
                    wrong.append(f"{route} {role.value} {scope}: {response.status_code}")
                if not succeeded:
                    assert response.status_code in (403, 404), response.text
                    assert response.headers["content-type"].startswith("application/problem+json")
    assert wrong == []
    assert calls == len(ALLOWED) * len(Role) * len(SCOPES)
