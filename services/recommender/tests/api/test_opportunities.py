"""Coordinators register, revise and withdraw courses and clubs; coordinators and organisers read
a region's opportunities (career events beside them). A refusal changes nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import uuid4

import pytest

from bilet.http import Role
from services.recommender.tests.api.conftest import opportunity_body

if TYPE_CHECKING:
    from services.recommender.tests.api.conftest import Api

OPPORTUNITIES = "/recommender/v1/opportunities"


def listing(api: Api) -> str:
    return f"/recommender/v1/regions/{api.REGION}/opportunities"


async def registered(api: Api, **overrides: Any) -> dict[str, Any]:
    response = await api.client.post(
        OPPORTUNITIES, headers=api.coordinator(), json=opportunity_body(**overrides)
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    body["token"] = response.headers["BVB-Position"]
    return body


async def listed(api: Api, token: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = await api.client.get(
        listing(api), headers={**(headers or api.coordinator()), "BVB-Position": token}
    )
    assert response.status_code == 200, response.text
    return {item["opportunity_id"]: item for item in response.json()["items"]}


async def test_a_registered_club_is_listed_beside_the_career_events(api: Api) -> None:
    club = await registered(api)
    assert club["token"].startswith(f"recommender:{club['position']}:opportunity-")
    for headers in (api.coordinator(), api.organiser()):
        items = await listed(api, club["token"], headers)
        shown = items[club["opportunity_id"]]
        assert shown["kind"] == "club"
        assert shown["title"] == "Кружок робототехники"
        assert shown["eligible_grades"] == {"lowest": 6, "highest": 11}
        assert shown["seats"] == 20
        career_event = items[str(api.seeded.career_event.career_event_id)]
        assert career_event["kind"] == "career_event"


async def test_a_registered_programme_is_listed_as_a_programme(api: Api) -> None:
    programme = await registered(
        api, kind="programme", title="Программа профильной смены «Инженерные каникулы»"
    )
    items = await listed(api, programme["token"], api.organiser())
    shown = items[programme["opportunity_id"]]
    assert (shown["kind"], shown["title"]) == (
        "programme",
        "Программа профильной смены «Инженерные каникулы»",
    )


async def test_revised_then_withdrawn(api: Api) -> None:
    club = await registered(api)
    path = f"{OPPORTUNITIES}/{club['opportunity_id']}"
    revision = opportunity_body(seats=0)
    del revision["region_id"]
    revised = await api.client.put(path, headers=api.coordinator(), json=revision)
    assert revised.status_code == 200, revised.text
    items = await listed(api, revised.headers["BVB-Position"])
    assert items[club["opportunity_id"]]["seats"] == 0

    withdrawn = await api.client.post(f"{path}/withdrawal", headers=api.coordinator())
    assert withdrawn.status_code == 200, withdrawn.text
    assert club["opportunity_id"] not in await listed(api, withdrawn.headers["BVB-Position"])
    again = await api.client.post(f"{path}/withdrawal", headers=api.coordinator())
    assert again.status_code == 200, "a second withdrawal records nothing"
    before = await api.store_length()
    late = await api.client.put(path, headers=api.coordinator(), json=revision)
    assert late.status_code == 409
    assert late.json()["code"] == "opportunity_withdrawn"
    assert await api.store_length() == before


async def test_the_same_id_registers_once(api: Api) -> None:
    opportunity_id = str(uuid4())
    await registered(api, opportunity_id=opportunity_id)
    before = await api.store_length()
    again = await api.client.post(
        OPPORTUNITIES,
        headers=api.coordinator(),
        json=opportunity_body(opportunity_id=opportunity_id),
    )
    assert again.status_code == 409
    assert again.json()["code"] == "opportunity_exists"
    assert await api.store_length() == before


@pytest.mark.parametrize(
    "overrides",
    [
        {"kind": "career_event"},
        {"ends_on": "2026-01-01"},
        {"eligible_grades": {"lowest": 9, "highest": 7}},
        {"environments": []},
        {"environments": ["smart", "smart"]},
        {"seats": -1},
        {"title": ""},
        {"unexpected": "field"},
        {"accommodates": ["wings"]},
    ],
)
async def test_an_invalid_opportunity_is_refused_and_changes_nothing(
    api: Api, overrides: dict[str, Any]
) -> None:
    before = await api.store_length()
    response = await api.client.post(
        OPPORTUNITIES, headers=api.coordinator(), json=opportunity_body(**overrides)
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_request"
    assert await api.store_length() == before


async def test_only_the_regions_coordinator_manages_its_opportunities(api: Api) -> None:
    club = await registered(api)
    path = f"{OPPORTUNITIES}/{club['opportunity_id']}"
    revision = opportunity_body()
    del revision["region_id"]
    before = await api.store_length()
    other = api.coordinator(api.OTHER_REGION)
    foreign = await api.client.post(OPPORTUNITIES, headers=other, json=opportunity_body())
    assert foreign.status_code == 403
    assert foreign.json()["code"] == "forbidden"
    for response in (
        await api.client.put(path, headers=other, json=revision),
        await api.client.post(f"{path}/withdrawal", headers=other),
        await api.client.put(
            f"{OPPORTUNITIES}/{uuid4()}", headers=api.coordinator(), json=revision
        ),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["code"] == "unknown_opportunity"
    for role in (Role.PUPIL, Role.NAVIGATOR, Role.ORGANISER, Role.OPERATOR):
        headers = api.token(role, region=str(api.REGION))
        refused = await api.client.post(OPPORTUNITIES, headers=headers, json=opportunity_body())
        assert refused.status_code == 403
        assert (await api.client.put(path, headers=headers, json=revision)).status_code == 403
    assert await api.store_length() == before


async def test_a_region_is_read_by_its_coordinator_and_organisers_only(api: Api) -> None:
    other = await api.client.get(listing(api), headers=api.coordinator(api.OTHER_REGION))
    assert other.status_code == 403
    for role in (Role.PUPIL, Role.GUARDIAN, Role.NAVIGATOR, Role.MENTOR, Role.ANALYST):
        refused = await api.client.get(listing(api), headers=api.token(role))
        assert refused.status_code == 403
        # An analyst learns why: the role is for the analytics export (ADR 0049).
        analyst = role is Role.ANALYST
        assert refused.json()["code"] == ("outside_analytics_purpose" if analyst else "forbidden")


async def test_an_invalid_revision_is_refused_and_changes_nothing(api: Api) -> None:
    club = await registered(api)
    path = f"{OPPORTUNITIES}/{club['opportunity_id']}"
    before = await api.store_length()
    for body in (
        opportunity_body(),  # a revision does not restate the region
        {**opportunity_body(kind="course"), "region_id": None},
        {"title": "Кружок"},
    ):
        response = await api.client.put(path, headers=api.coordinator(), json=body)
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "invalid_request"
    assert await api.store_length() == before
