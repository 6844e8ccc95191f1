"""`/identity/v1/grants` and `/identity/v1/accounts/{subject}/claims` over HTTP: who may issue,
revoke and list grants, what the identity provider is told, refusals as problem+json that change
nothing, and the audit trail of every grant and revocation (docs/adr/0052)."""

import json
from typing import Any
from uuid import uuid4

import pytest

from bilet.audit import AUDIT_CATEGORY
from bilet.http import Role
from bilet_identity.domain.grants import account_id_for, stream_id

GRANTS = "/identity/v1/grants"


def claims_url(subject: str) -> str:
    return f"/identity/v1/accounts/{subject}/claims"


async def grant_stream(api: Any, subject: str) -> list[Any]:
    return list(await api.service.store.read_stream(stream_id(account_id_for(subject))))


def coordinator(api: Any, world: Any) -> dict[str, str]:
    headers: dict[str, str] = api.token(
        Role.COORDINATOR, subject="coord-47", region=str(world.leningrad)
    )
    return headers


def provider(api: Any) -> dict[str, str]:
    headers: dict[str, str] = api.token(Role.IDENTITY_PROVIDER, subject="keycloak")
    return headers


async def test_the_operator_grants_a_coordinator_and_the_provider_is_told_the_region(
    api: Any, world: Any
) -> None:
    operator = api.token(Role.OPERATOR, subject="op-1")
    body = {"account": "coord-new", "role": "coordinator", "region_id": str(world.leningrad)}
    issued = await api.client.post(GRANTS, headers=operator, json=body)
    assert issued.status_code == 201, issued.text
    assert issued.headers["BVB-Position"]
    claims = await api.client.get(claims_url("coord-new"), headers=provider(api))
    assert claims.status_code == 200, claims.text
    assert claims.json() == {
        "role": "coordinator",
        "school": None,
        "region": str(world.leningrad),
        "venue": None,
        "participant": None,
        "children": [],
        "career_events": [],
    }


@pytest.mark.parametrize(
    "role", [r for r in Role if r is not Role.IDENTITY_PROVIDER], ids=lambda r: r.value
)
async def test_every_user_token_is_refused_the_claims_endpoint(
    api: Any, world: Any, role: Role
) -> None:
    await api.client.post(
        GRANTS,
        headers=coordinator(api, world),
        json={"account": "nav-1", "role": "navigator", "school_id": str(world.school_3)},
    )
    headers = api.token(
        role, subject="nav-1", school=str(world.school_3), region=str(world.leningrad)
    )
    refused = await api.client.get(claims_url("nav-1"), headers=headers)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    refusal = "outside_analytics_purpose" if role is Role.ANALYST else "forbidden"
    assert refused.json()["code"] == refusal  # an analyst is told the purpose (ADR 0049)


async def test_an_account_without_grant_or_link_has_no_claims(api: Any) -> None:
    response = await api.client.get(claims_url("nobody"), headers=provider(api))
    assert (response.status_code, response.json()["code"]) == (404, "no_claims")


@pytest.mark.parametrize("portal", ["pupil", "guardian"])
async def test_a_new_account_at_a_portal_gets_that_role_alone(api: Any, portal: str) -> None:
    url = f"{claims_url('new-sign-up')}?portal={portal}"
    response = await api.client.get(url, headers=provider(api))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "role": portal,
        "school": None,
        "region": None,
        "venue": None,
        "participant": None,
        "children": [],
        "career_events": [],
    }


async def test_a_portal_lends_no_other_role_and_no_token_to_a_user(api: Any) -> None:
    refused = await api.client.get(
        f"{claims_url('new-sign-up')}?portal=operator", headers=provider(api)
    )
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "invalid_request"
    as_pupil = api.token(Role.PUPIL, subject="new-sign-up")
    forbidden = await api.client.get(f"{claims_url('new-sign-up')}?portal=pupil", headers=as_pupil)
    assert (forbidden.status_code, forbidden.json()["code"]) == (403, "forbidden")


async def test_a_granted_account_keeps_its_role_at_a_portal(api: Any, world: Any) -> None:
    operator = api.token(Role.OPERATOR, subject="op-1")
    body = {"account": "coord-p", "role": "coordinator", "region_id": str(world.leningrad)}
    assert (await api.client.post(GRANTS, headers=operator, json=body)).status_code == 201
    claims = await api.client.get(f"{claims_url('coord-p')}?portal=pupil", headers=provider(api))
    assert claims.json()["role"] == "coordinator"


@pytest.mark.parametrize(
    ("role", "claims", "body", "status", "code"),
    [
        # A coordinator grants only schools of their own region.
        (
            "coordinator",
            {"region": "spb"},
            {"role": "navigator", "school_id": "school_3"},
            403,
            "grant_not_allowed",
        ),
        # Only the operator grants coordinators.
        (
            "coordinator",
            {"region": "leningrad"},
            {"role": "coordinator", "region_id": "leningrad"},
            403,
            "grant_not_allowed",
        ),
        # A navigator grants nothing.
        (
            "navigator",
            {"school": "school_3"},
            {"role": "navigator", "school_id": "school_3"},
            403,
            "forbidden",
        ),
        (
            "registrar",
            {"school": "school_3"},
            {"role": "registrar", "school_id": "school_3"},
            403,
            "forbidden",
        ),
        # The scope must fit the role, and name what exists.
        (
            "coordinator",
            {"region": "leningrad"},
            {"role": "navigator", "venue_id": "venue"},
            422,
            "invalid_grant",
        ),
        (
            "coordinator",
            {"region": "leningrad"},
            {"role": "registrar", "school_id": "unregistered_school"},
            404,
            "school_not_found",
        ),
        (
            "operator",
            {},
            {"role": "coordinator", "region_id": "not_admitted"},
            404,
            "unknown_region",
        ),
        (
            "coordinator",
            {"region": "leningrad"},
            {"role": "organiser", "venue_id": "venue", "ends_at": "2001-01-01T00:00:00Z"},
            422,
            "invalid_grant",
        ),
        # The request itself: a naive time, an unknown role.
        (
            "coordinator",
            {"region": "leningrad"},
            {"role": "organiser", "venue_id": "venue", "ends_at": "2099-01-01T00:00:00"},
            422,
            "invalid_request",
        ),
        ("operator", {}, {"role": "operator"}, 422, "invalid_request"),
    ],
)
async def test_a_refused_grant_is_a_problem_and_records_nothing(
    api: Any,
    world: Any,
    role: str,
    claims: dict[str, str],
    body: dict[str, str],
    status: int,
    code: str,
) -> None:
    ids = {
        "spb": str(world.spb),
        "leningrad": str(world.leningrad),
        "school_3": str(world.school_3),
        "unregistered_school": str(world.unregistered_school),
        "not_admitted": str(world.not_admitted),
        "venue": str(uuid4()),
    }
    token_claims = {name: ids[value] for name, value in claims.items()}
    request = {"account": "acc-x", **{k: ids.get(v, v) for k, v in body.items()}}
    headers = api.token(Role(role), subject=f"{role}-1", **token_claims)
    before = await api.service.store.head_position()
    refused = await api.client.post(GRANTS, headers=headers, json=request)
    assert (refused.status_code, refused.json()["code"]) == (status, code), refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert await api.service.store.head_position() == before
    assert await grant_stream(api, "acc-x") == []


async def test_a_second_role_for_one_account_is_a_conflict(api: Any, world: Any) -> None:
    headers = coordinator(api, world)
    first = {"account": "acc-2", "role": "navigator", "school_id": str(world.school_3)}
    assert (await api.client.post(GRANTS, headers=headers, json=first)).status_code == 201
    again = await api.client.post(GRANTS, headers=headers, json=first)
    assert (again.status_code, again.json()["code"]) == (409, "grant_exists")
    other = {"account": "acc-2", "role": "registrar", "school_id": str(world.school_5)}
    conflict = await api.client.post(GRANTS, headers=headers, json=other)
    assert (conflict.status_code, conflict.json()["code"]) == (409, "conflicting_grant")
    assert len(await grant_stream(api, "acc-2")) == 1


async def test_grants_and_revocations_are_audited(api: Any, world: Any) -> None:
    headers = coordinator(api, world)
    body = {"account": "acc-3", "role": "organiser", "venue_id": str(uuid4())}
    grant_id = (await api.client.post(GRANTS, headers=headers, json=body)).json()["grant_id"]
    revoked = await api.client.post(f"{GRANTS}/{grant_id}/revocation", headers=headers)
    assert revoked.status_code == 200, revoked.text
    records = await api.service.store.read_all(categories=[AUDIT_CATEGORY], limit=10_000)
    trail = [json.loads(r.data) for r in records]
    purposes = [(t["actor"], t["subject"], t["purpose"]) for t in trail]
    assert ("coord-47", "acc-3", "issue_grant") in purposes
    assert ("coord-47", "acc-3", "revoke_grant") in purposes


async def test_revocation_by_others_is_refused_and_an_unknown_grant_is_unknown(
    api: Any, world: Any
) -> None:
    body = {"account": "acc-4", "role": "navigator", "school_id": str(world.school_3)}
    issued = await api.client.post(GRANTS, headers=coordinator(api, world), json=body)
    grant_id = issued.json()["grant_id"]
    foreign = api.token(Role.COORDINATOR, subject="coord-78", region=str(world.spb))
    refused = await api.client.post(f"{GRANTS}/{grant_id}/revocation", headers=foreign)
    assert (refused.status_code, refused.json()["code"]) == (403, "grant_not_allowed")
    unknown = await api.client.post(f"{GRANTS}/{uuid4()}/revocation", headers=foreign)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_grant")
    assert len(await grant_stream(api, "acc-4")) == 1


async def test_lists_show_each_caller_what_they_may_see(api: Any, world: Any) -> None:
    luga = coordinator(api, world)
    venue = str(uuid4())
    for body in (
        {"account": "nav-5", "role": "navigator", "school_id": str(world.school_3)},
        {"account": "org-5", "role": "organiser", "venue_id": venue},
    ):
        assert (await api.client.post(GRANTS, headers=luga, json=body)).status_code == 201
    spb = api.token(Role.COORDINATOR, subject="coord-78", region=str(world.spb))
    other = {"account": "nav-78", "role": "navigator", "school_id": str(world.spb_school)}
    assert (await api.client.post(GRANTS, headers=spb, json=other)).status_code == 201

    region = await api.client.get(GRANTS, headers=luga, params={"region_id": str(world.leningrad)})
    assert {g["account"] for g in region.json()} == {"nav-5", "org-5"}
    school = await api.client.get(GRANTS, headers=luga, params={"school_id": str(world.school_3)})
    assert [g["account"] for g in school.json()] == ["nav-5"]
    assert (await api.client.get(GRANTS, headers=spb, params={"account": "nav-5"})).json() == []
    operator = api.token(Role.OPERATOR, subject="op-1")
    everyone = await api.client.get(GRANTS, headers=operator, params={"account": "nav-78"})
    assert [g["school_id"] for g in everyone.json()] == [str(world.spb_school)]
    own = api.token(Role.NAVIGATOR, subject="nav-5", school=str(world.school_3))
    mine = await api.client.get(GRANTS, headers=own, params={"account": "nav-5"})
    assert [g["role"] for g in mine.json()] == ["navigator"]
    theirs = await api.client.get(GRANTS, headers=own, params={"account": "org-5"})
    assert (theirs.status_code, theirs.json()["code"]) == (403, "forbidden")
    nothing = await api.client.get(GRANTS, headers=operator)
    assert (nothing.status_code, nothing.json()["code"]) == (400, "invalid_query")


async def test_an_organiser_names_mentors_and_the_provider_lists_their_career_events(
    api: Any, world: Any
) -> None:
    venue = str(uuid4())
    body = {"account": "org-6", "role": "organiser", "venue_id": venue}
    assert (
        await api.client.post(GRANTS, headers=coordinator(api, world), json=body)
    ).status_code == 201
    organiser = api.token(Role.ORGANISER, subject="org-6", venue=venue)
    events = sorted(str(uuid4()) for _ in range(2))
    mentor = str(uuid4())
    for career_event in events:
        body = {"account": mentor, "role": "mentor", "career_event_id": career_event}
        assert (await api.client.post(GRANTS, headers=organiser, json=body)).status_code == 201
    claims = (await api.client.get(claims_url(mentor), headers=provider(api))).json()
    assert (claims["role"], claims["venue"], claims["career_events"]) == ("mentor", venue, events)
