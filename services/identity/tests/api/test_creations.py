"""Every creation answers 201 with a `Location` a client can follow, and every command answers
the resource's id and version (issue #18, "An API that does not surprise")."""

from typing import TYPE_CHECKING, Any
from uuid import uuid4

import httpx

from bilet.http import Role

if TYPE_CHECKING:
    from services.identity.tests.conftest import Api, World


async def _created(api: "Api", response: httpx.Response, id_field: str) -> dict[str, Any]:
    """The body of a 201 whose `Location` names the created resource, readable with GET."""
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    location = response.headers["Location"]
    assert location.endswith(body[id_field])
    assert isinstance(body["version"], int)
    followed = await api.client.get(location, headers=api.token(Role.OPERATOR))
    assert followed.status_code == 200, followed.text
    assert followed.json()[id_field] == body[id_field]
    return body


async def test_a_region_and_a_school_are_created_where_location_says(
    api: "Api", world: "World"
) -> None:
    operator = api.token(Role.OPERATOR)
    admitted = await api.client.post(
        "/identity/v1/regions",
        headers=operator,
        json={
            "region_code": "54",
            "name": "Новосибирская область",
            "season": 2019,
            "time_zone": "Asia/Novosibirsk",
            "coordinator": "Центр",
        },
    )
    region = await _created(api, admitted, "region_id")
    assert region["version"] == 0
    coordinator = api.token(Role.COORDINATOR, region=region["region_id"])
    registered = await api.client.post(
        f"/identity/v1/regions/{region['region_id']}/schools",
        headers=coordinator,
        json={"name": "Лицей № 1", "municipality": "Новосибирск"},
    )
    school = await _created(api, registered, "school_id")
    assert school["version"] == 0


async def test_a_testing_window_set_is_a_creation_and_set_again_is_not(
    api: "Api", world: "World"
) -> None:
    url = f"/identity/v1/regions/{world.leningrad}/diagnostics-windows"
    window = {
        "season": 2019,
        "stages": ["interests"],
        "opens_on": "2019-10-11",
        "closes_on": "2019-10-31",
    }
    operator = api.token(Role.OPERATOR)
    first = await api.client.post(url, headers=operator, json=window)
    body = await _created(api, first, "region_id")
    assert body["version"] == 1  # admitted (0), then this window
    again = await api.client.post(url, headers=operator, json=window)
    assert again.status_code == 200, again.text
    assert "Location" not in again.headers
    assert (again.json()["region_id"], again.json()["version"]) == (str(world.leningrad), 1)


async def test_unknown_region_and_school_are_404(api: "Api") -> None:
    headers = api.token(Role.OPERATOR)
    region = await api.client.get(f"/identity/v1/regions/{uuid4()}", headers=headers)
    assert (region.status_code, region.json()["code"]) == (404, "unknown_region")
    school = await api.client.get(f"/identity/v1/schools/{uuid4()}", headers=headers)
    assert (school.status_code, school.json()["code"]) == (404, "school_not_found")
