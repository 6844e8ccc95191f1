"""The verification queue (`GET /consent/v1/consents`) and the consent state of a school's
participants (`GET /consent/v1/participants`): who sees which part, the order, the paging, the
agreement of a listed state with the single status, and the refusals."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import pytest

from bilet.http import Role
from bilet.http.consistency import POSITION_HEADER
from bilet_consent.application.participants import IDENTITY
from bilet_consent.testing import (
    OTHER_REGION,
    REGION,
    SCHOOL_3,
    SCHOOL_5,
    SPB_SCHOOL,
    move_pupil,
    pupil_left,
    pupil_merged,
    register_pupils,
)

if TYPE_CHECKING:
    from services.consent.tests.conftest import Api

QUEUE = "/consent/v1/consents"
STATES = "/consent/v1/participants"


async def _submitted(api: Api, participant_id: UUID, school: UUID) -> tuple[UUID, str]:
    """A consent submitted by the pupil's school, and the answer's position token."""
    response = await api.submit(participant_id, headers=api.registrar(school))
    assert response.status_code == 201, response.text
    return UUID(response.json()["consent_id"]), response.headers[POSITION_HEADER]


async def _listed(
    api: Api, path: str, headers: dict[str, str], token: str | None = None, **params: Any
) -> dict[str, Any]:
    if token is not None:
        headers = {**headers, POSITION_HEADER: token}
    response = await api.client.get(path, headers=headers, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _ids(page: dict[str, Any]) -> list[str]:
    return [item["consent_id"] for item in page["items"]]


async def test_a_verifier_pages_the_queue_oldest_first_within_their_scope(api: Api) -> None:
    dasha, _ = await _submitted(api, api.pupils["dasha"], SCHOOL_3)
    petya, _ = await _submitted(api, api.pupils["petya"], SCHOOL_5)
    spb, token = await _submitted(api, api.pupils["spb"], SPB_SCHOOL)

    everyone = await _listed(api, QUEUE, api.operator(), token)
    assert _ids(everyone) == [str(dasha), str(petya), str(spb)]
    first = everyone["items"][0]
    assert first["school_id"] == str(SCHOOL_3)
    assert first["region_id"] == str(REGION)
    assert first["submitted_by"] == str(SCHOOL_3)
    assert first["status"] == "pending"
    times = [item["submitted_at"] for item in everyone["items"]]
    assert times == sorted(times)
    assert everyone["next_cursor"] is None

    region = await _listed(api, QUEUE, api.coordinator(), token)
    assert _ids(region) == [str(dasha), str(petya)]
    assert _ids(await _listed(api, QUEUE, api.operator(), region=str(OTHER_REGION))) == [str(spb)]
    assert _ids(await _listed(api, QUEUE, api.coordinator(), school=str(SCHOOL_5))) == [str(petya)]

    # One by one, with the cursor: the same consents, in the same order, then the end.
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        page = await _listed(api, QUEUE, api.operator(), **params)
        seen += _ids(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == _ids(everyone)

    verified = await api.client.post(f"{QUEUE}/{dasha}/verify", headers=api.coordinator())
    after = verified.headers[POSITION_HEADER]
    assert _ids(await _listed(api, QUEUE, api.coordinator(), after)) == [str(petya)]
    done = await _listed(api, QUEUE, api.operator(), after, status="verified")
    assert _ids(done) == [str(dasha)]


async def test_a_school_sees_its_own_pending_and_rejected_consents_with_the_reasons(
    api: Api,
) -> None:
    dasha = api.pupils["dasha"]
    first, _ = await _submitted(api, dasha, SCHOOL_3)
    await _submitted(api, api.pupils["petya"], SCHOOL_5)
    rejected = await api.client.post(
        f"{QUEUE}/{first}/reject",
        headers=api.operator(),
        json={"reasons": ["unreadable_scan", "signature_missing"]},
    )
    token = rejected.headers[POSITION_HEADER]
    for school in (api.registrar(), api.token(Role.NAVIGATOR, school=str(SCHOOL_3))):
        assert (await _listed(api, QUEUE, school, token))["items"] == []  # nothing pending
        page = await _listed(api, QUEUE, school, token, status="rejected")
        assert _ids(page) == [str(first)]
        item = page["items"][0]
        assert item["rejection_reasons"] == ["unreadable_scan", "signature_missing"]
        assert item["resubmitted"] is False

    second, token = await _submitted(api, dasha, SCHOOL_3)
    page = await _listed(api, QUEUE, api.registrar(), token, status="rejected")
    assert page["items"][0]["resubmitted"] is True
    assert _ids(await _listed(api, QUEUE, api.registrar(), token)) == [str(second)]


@pytest.mark.parametrize(
    ("role", "claims", "code"),
    [
        (Role.GUARDIAN, {}, "forbidden"),
        (Role.PUPIL, {}, "forbidden"),
        (Role.ORGANISER, {}, "forbidden"),
        (Role.MENTOR, {}, "forbidden"),
        (Role.SUPPORT, {}, "forbidden"),
        (Role.ANALYST, {}, "outside_analytics_purpose"),
    ],
)
async def test_other_roles_are_refused_the_lists(
    api: Api, role: Role, claims: dict[str, Any], code: str
) -> None:
    headers = api.token(
        role,
        school=str(SCHOOL_3),
        region=str(REGION),
        participant=str(api.pupils["dasha"]),
        children=[str(api.pupils["dasha"])],
        venue=str(uuid4()),
    )
    for path in (QUEUE, STATES):
        response = await api.client.get(path, headers=headers)
        assert (response.status_code, response.json()["code"]) == (403, code), path


@pytest.mark.parametrize("path", [QUEUE, STATES])
async def test_a_scoped_caller_cannot_list_another_school_or_region(api: Api, path: str) -> None:
    refusals = [
        (api.registrar(), {"school": str(SCHOOL_5)}),
        (api.token(Role.NAVIGATOR, school=str(SCHOOL_3)), {"school": str(SCHOOL_5)}),
        (api.coordinator(), {"region": str(OTHER_REGION)}),
        (api.token(Role.NAVIGATOR), {}),  # a navigator without a school
    ]
    for headers, params in refusals:
        response = await api.client.get(path, headers=headers, params=params)
        assert (response.status_code, response.json()["code"]) == (403, "forbidden"), params


@pytest.mark.parametrize(
    ("path", "cursor"),
    [
        (QUEUE, "garbage"),
        (QUEUE, f"12_{uuid4()}x"),
        (QUEUE, str(uuid4())),
        (QUEUE, f"123456789012345678_{uuid4()}"),
        (STATES, "1_" + str(uuid4())),
        (STATES, str(uuid4()).upper()),
    ],
    # Fixed ids: xdist workers must collect the same names, which random cursors would not give.
    ids=[
        "queue-garbage",
        "queue-junk-after-id",
        "queue-id-alone",
        "queue-position-too-big",
        "states-queue-form",
        "states-upper-case",
    ],
)
async def test_a_cursor_no_page_gave_is_400_invalid_cursor(
    api: Api, path: str, cursor: str
) -> None:
    response = await api.client.get(path, headers=api.operator(), params={"cursor": cursor})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_cursor"


async def test_malformed_filters_are_422(api: Api) -> None:
    malformed: list[tuple[str, dict[str, str | int]]] = [
        (QUEUE, {"status": "lost"}),
        (QUEUE, {"limit": 0}),
        (QUEUE, {"limit": 201}),
        (QUEUE, {"school": "3"}),
        (STATES, {"state": "lost"}),
        (STATES, {"region": "x"}),
    ]
    for path, params in malformed:
        response = await api.client.get(path, headers=api.operator(), params=params)
        assert (response.status_code, response.json()["code"]) == (422, "invalid_request")


async def test_a_school_reads_the_consent_state_of_each_of_its_pupils(api: Api) -> None:
    """Every state a participant can be in, listed for the school as the single status tells
    it; the navigator sees the same; the `state` filter finds those to chase."""
    pupils = {name: uuid4() for name in ("none", "pending", "rejected", "withdrawn")}
    position = await register_pupils(
        api.settings, [(pupil, SCHOOL_3, REGION) for pupil in pupils.values()]
    )
    assert await api.service.directory.wait_for(IDENTITY, position, 5.0)
    pupils["verified"] = api.pupils["dasha"]
    await api.verified(pupils["verified"])
    await api.submitted(pupils["pending"])
    rejected = await api.submitted(pupils["rejected"])
    await api.client.post(
        f"{QUEUE}/{rejected}/reject", headers=api.operator(), json={"reasons": ["outdated_form"]}
    )
    withdrawn = await api.verified(pupils["withdrawn"])
    answer = await api.client.post(
        f"{QUEUE}/{withdrawn}/withdraw", headers=api.guardian(pupils["withdrawn"])
    )
    assert answer.status_code == 200, answer.text
    token = answer.headers[POSITION_HEADER]

    listed = await _listed(api, STATES, api.registrar(), token)
    by_id = {item["participant_id"]: item for item in listed["items"]}
    assert set(by_id) == {str(p) for p in pupils.values()}  # not Petya: another school
    assert [item["participant_id"] for item in listed["items"]] == sorted(by_id)
    for expected, participant_id in pupils.items():
        single = await api.client.get(
            f"/consent/v1/participants/{participant_id}/status", headers=api.registrar()
        )
        status = single.json()
        del status["position"]
        assert by_id[str(participant_id)] == {**status, "school_id": str(SCHOOL_3)}
        assert status["state"] == expected

    navigator = api.token(Role.NAVIGATOR, school=str(SCHOOL_3))
    assert await _listed(api, STATES, navigator, token) == listed
    chase = await _listed(api, STATES, navigator, token, state=["none", "pending", "rejected"])
    assert {item["participant_id"] for item in chase["items"]} == {
        str(pupils[name]) for name in ("none", "pending", "rejected")
    }
    one_by_one: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = await _listed(api, STATES, navigator, **params)
        one_by_one += [item["participant_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert one_by_one == sorted(by_id)


async def test_a_pupil_who_left_is_no_schools_to_chase_until_a_move_brings_them_back(
    api: Api,
) -> None:
    """docs/adr/0050: identity's `ParticipantLeftProgramme` takes the pupil off the list of
    consent states (of every state); a move to a school lists them there again."""
    staying, leaving = uuid4(), uuid4()
    position = await register_pupils(
        api.settings, [(pupil, SCHOOL_3, REGION) for pupil in (staying, leaving)]
    )
    assert await api.service.directory.wait_for(IDENTITY, position, 5.0)
    await api.submitted(leaving)
    before = await _listed(api, STATES, api.registrar())
    assert {str(staying), str(leaving)} <= {item["participant_id"] for item in before["items"]}

    left = await pupil_left(api.settings, leaving, SCHOOL_3)
    assert await api.service.directory.wait_for(IDENTITY, left, 5.0)
    after = await _listed(api, STATES, api.registrar())
    listed = {item["participant_id"] for item in after["items"]}
    assert str(staying) in listed
    assert str(leaving) not in listed
    chase = await _listed(api, STATES, api.operator(), state=["none", "pending"])
    assert str(leaving) not in {item["participant_id"] for item in chase["items"]}

    moved = await move_pupil(api.settings, leaving, SPB_SCHOOL, OTHER_REGION)
    assert await api.service.directory.wait_for(IDENTITY, moved, 5.0)
    there = await _listed(api, STATES, api.registrar(SPB_SCHOOL))
    states = {item["participant_id"]: item["state"] for item in there["items"]}
    assert states[str(leaving)] == "pending"


async def test_no_consent_is_submitted_under_a_profile_merged_into_another(api: Api) -> None:
    """docs/adr/0043: identity's `ParticipantMerged` closes the second profile here too; the
    refusal names the kept profile and records nothing."""
    duplicate, kept = uuid4(), uuid4()
    position = await register_pupils(
        api.settings, [(pupil, SCHOOL_3, REGION) for pupil in (duplicate, kept)]
    )
    merged = await pupil_merged(api.settings, duplicate, kept)
    assert await api.service.directory.wait_for(IDENTITY, max(position, merged), 5.0)
    refused = await api.submit(duplicate)
    assert (refused.status_code, refused.json()["code"]) == (409, "participant_merged")
    assert refused.json()["kept_participant_id"] == str(kept)
    assert await api.status_of(duplicate) == "none"
    assert (await api.submit(kept)).status_code == 201


async def test_an_expired_consent_is_listed_as_the_status_tells_it(api: Api) -> None:
    dasha = api.pupils["dasha"]
    consent_id = await api.verified(dasha, valid_until="2019-10-01")
    api.clock.advance(days=20)
    single = (
        await api.client.get(f"/consent/v1/participants/{dasha}/status", headers=api.operator())
    ).json()
    listed = await _listed(api, STATES, api.operator(), school=str(SCHOOL_3))
    (item,) = listed["items"]
    assert single["state"] == item["state"] == "expired"
    assert item["consent_id"] == str(consent_id)
    assert item["erase_by"] == single["erase_by"]
    assert item["purposes"] == single["purposes"] == []
