"""Partings in a school's week (issue #18, docs/adr/0050): a pupil leaves the school or the
programme (the school's list drops them, `ParticipantLeftProgramme` is published, a move is
their return), and a guardian's account is unlinked (the participant's `guardians` drop it).
Refusals change nothing."""

from typing import TYPE_CHECKING, Any
from uuid import uuid4

import httpx

from bilet.contracts.catalogue.identity import ParticipantLeftProgramme
from bilet.http import Role

if TYPE_CHECKING:
    from services.identity.tests.conftest import Api, World

PROBLEM = "application/problem+json"


def _refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == code, response.json()


async def _registered(api: "Api", world: "World") -> str:
    response = await api.client.post(
        "/identity/v1/participants", headers=api.registrar(), json=world.pupil()
    )
    assert response.status_code == 201, response.text
    pid: str = response.json()["participant_id"]
    return pid


async def _pupils(api: "Api", school: Any, headers: dict[str, str]) -> list[str]:
    response = await api.client.get(f"/identity/v1/schools/{school}/pupils", headers=headers)
    assert response.status_code == 200, response.text
    return [pupil["participant_id"] for pupil in response.json()["pupils"]]


async def _departures(api: "Api") -> list[ParticipantLeftProgramme]:
    records = await api.service.store.read_all(
        limit=1000, event_types=(ParticipantLeftProgramme.event_type,)
    )
    return [ParticipantLeftProgramme.model_validate_json(r.data) for r in records]


async def test_a_pupil_who_leaves_drops_off_the_schools_list_until_a_move_brings_them_back(
    api: "Api", world: "World"
) -> None:
    pid = await _registered(api, world)
    base = f"/identity/v1/participants/{pid}"
    assert pid in await _pupils(api, world.school_3, api.registrar())

    left = await api.client.post(
        f"{base}/departure", headers=api.registrar(), json={"reason": "left_school"}
    )
    assert left.status_code == 200, left.text
    assert left.json()["participant_id"] == pid
    assert left.json()["version"] == 1
    assert pid not in await _pupils(api, world.school_3, api.registrar())
    shown = await api.shown(pid, api.registrar())
    assert shown["left"] == "left_school"
    [event] = await _departures(api)
    assert (str(event.participant_id), event.school_id, event.reason) == (
        pid,
        world.school_3,
        "left_school",
    )

    # Leaving twice is refused and records nothing.
    again = await api.client.post(
        f"{base}/departure", headers=api.registrar(), json={"reason": "left_programme"}
    )
    _refused(again, 409, "participant_left")
    assert len(await _departures(api)) == 1

    # A move to a school of the programme is their return: the new school lists them.
    moved = await api.client.post(
        f"{base}/moves", headers=api.registrar(), json={"to_school_id": str(world.spb_school)}
    )
    assert moved.status_code == 200, moved.text
    spb = api.registrar(world.spb_school)
    assert pid in await _pupils(api, world.spb_school, spb)
    assert (await api.shown(pid, spb))["left"] is None


async def test_leaving_is_refused_to_other_roles_other_schools_and_bad_reasons(
    api: "Api", world: "World"
) -> None:
    pid = await _registered(api, world)
    url = f"/identity/v1/participants/{pid}/departure"
    body = {"reason": "left_programme"}
    navigator = api.token(Role.NAVIGATOR, school=str(world.school_3))
    _refused(await api.client.post(url, headers=navigator, json=body), 403, "forbidden")
    other = api.registrar(world.spb_school)
    _refused(await api.client.post(url, headers=other, json=body), 404, "unknown_participant")
    bad = await api.client.post(url, headers=api.registrar(), json={"reason": "expelled"})
    _refused(bad, 422, "invalid_request")
    unknown = f"/identity/v1/participants/{uuid4()}/departure"
    _refused(
        await api.client.post(unknown, headers=api.registrar(), json=body),
        404,
        "unknown_participant",
    )
    assert await _departures(api) == []
    assert pid in await _pupils(api, world.school_3, api.registrar())


async def test_a_guardians_link_is_removed_by_the_registrar_once(
    api: "Api", world: "World"
) -> None:
    pid = await _registered(api, world)
    base = f"/identity/v1/participants/{pid}/guardians"
    kept, removed = str(uuid4()), str(uuid4())
    for guardian in (kept, removed):
        linked = await api.client.post(
            base, headers=api.registrar(), json={"guardian_id": guardian, "relationship": "parent"}
        )
        assert linked.status_code == 201, linked.text

    navigator = api.token(Role.NAVIGATOR, school=str(world.school_3))
    refused = await api.client.delete(f"{base}/{removed}", headers=navigator)
    _refused(refused, 403, "forbidden")
    other_school = await api.client.delete(
        f"{base}/{removed}", headers=api.registrar(world.spb_school)
    )
    _refused(other_school, 404, "unknown_participant")

    unlinked = await api.client.delete(f"{base}/{removed}", headers=api.registrar())
    assert unlinked.status_code == 200, unlinked.text
    assert unlinked.json()["participant_id"] == pid
    shown = await api.shown(pid, api.registrar())
    assert shown["guardians"] == [{"guardian_id": kept, "relationship": "parent"}]

    twice = await api.client.delete(f"{base}/{removed}", headers=api.registrar())
    _refused(twice, 404, "guardian_not_linked")
    never = await api.client.delete(f"{base}/{uuid4()}", headers=api.registrar())
    _refused(never, 404, "guardian_not_linked")
    assert (await api.shown(pid, api.registrar()))["guardians"] == shown["guardians"]
