"""Who may do what, route by route, for every role, on the caller's own participant and on
another's: the matrix of `application.access`, over HTTP. No unauthorised call answers 2xx; a
role with no access to a route gets 403 before anything is looked up; a scoped role asking about
a participant that is not theirs gets the 404 of one that does not exist."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import httpx
import pytest

from bilet.http import Role
from bilet_consent.testing import (
    OTHER_REGION,
    PDF,
    REGION,
    SCHOOL_3,
    SCHOOL_5,
    SPB_SCHOOL,
    move_pupil,
)

if TYPE_CHECKING:
    from services.consent.tests.conftest import Api

SIGNER = UUID("3f0c2a55-1111-4c9e-9a77-0a1b2c3d4e5f")  # the guardian's account, on the form
EVERYONE = tuple(Role)
OWN, OTHER = "own", "other"
Case = tuple[Role, str]

# (route) → the (role, scope) pairs that may use it on Dasha (СОШ № 3, Leningrad oblast).
ALLOWED: dict[str, set[Case]] = {
    "submit": {(Role.REGISTRAR, OWN)},
    "verify": {(Role.OPERATOR, OWN), (Role.OPERATOR, OTHER), (Role.COORDINATOR, OWN)},
    "reject": {(Role.OPERATOR, OWN), (Role.OPERATOR, OTHER), (Role.COORDINATOR, OWN)},
    "withdraw": {(Role.GUARDIAN, OWN), (Role.REGISTRAR, OWN)},
    "consent": {
        (Role.OPERATOR, OWN),
        (Role.OPERATOR, OTHER),
        (Role.COORDINATOR, OWN),
        (Role.REGISTRAR, OWN),
        (Role.GUARDIAN, OWN),
    },
    "document": {
        (Role.OPERATOR, OWN),
        (Role.OPERATOR, OTHER),
        (Role.COORDINATOR, OWN),
        (Role.REGISTRAR, OWN),
    },
    "status": {
        (Role.OPERATOR, OWN),
        (Role.OPERATOR, OTHER),
        (Role.COORDINATOR, OWN),
        (Role.REGISTRAR, OWN),
        (Role.GUARDIAN, OWN),
        (Role.NAVIGATOR, OWN),
        (Role.PUPIL, OWN),
    },
}
ROLES_OF: dict[str, set[Role]] = {
    route: {role for role, _ in allowed} for route, allowed in ALLOWED.items()
}
HIDDEN_AS = {"submit": "unknown_participant", "status": "unknown_participant"}


def refusal_of(role: Role) -> str:
    """The code of a role refused a route outright: an analyst's names the purpose their role is
    for (the pseudonymised export), everyone else's is `forbidden`."""
    return "outside_analytics_purpose" if role is Role.ANALYST else "forbidden"


def _caller(api: Api, role: Role, scope: str) -> dict[str, str]:
    """A token of `role` whose every scope claim names Dasha's (own) or someone else's (other):
    a role without access is refused even when its claims would match."""
    own = scope == OWN
    child = api.pupils["dasha"] if own else api.pupils["petya"]
    return api.token(
        role,
        subject=str(SIGNER) if own else f"someone-{uuid4().hex[:8]}",
        school=str(SCHOOL_3 if own else SCHOOL_5),
        region=str(REGION if own else OTHER_REGION),
        participant=str(child),
        children=[str(child)],
        venue=str(uuid4()),
    )


async def _signed(api: Api, *, verified: bool) -> UUID:
    dasha = api.pupils["dasha"]
    if verified:
        return await api.verified(dasha, **{"guardian.guardian_id": str(SIGNER)})
    return await api.submitted(dasha, **{"guardian.guardian_id": str(SIGNER)})


Call = Callable[[dict[str, str]], Awaitable[httpx.Response]]  # one caller's request
Route = Callable[["Api"], Call]  # a route's calls on one API


def _submit(api: Api) -> Call:
    async def call(headers: dict[str, str]) -> httpx.Response:
        return await api.submit(api.pupils["dasha"], headers=headers)

    return call


def _on_consent(method: str, suffix: str, body: Any = None, *, verified: bool = True) -> Route:
    """Calls on one of Dasha's consents. Callers share it until a call changes it (a POST that
    succeeds): a refused call changes nothing, so the next caller finds it as a new one would
    be (and if a refusal did change it, the allowed calls after it would fail). Signing a
    consent is most of this test's cost (ADR 0072): one per change, not one per caller."""

    def calls(api: Api) -> Call:
        consent_id: UUID | None = None

        async def call(headers: dict[str, str]) -> httpx.Response:
            nonlocal consent_id
            if consent_id is None:
                consent_id = await _signed(api, verified=verified)
            response = await api.client.request(
                method, f"/consent/v1/consents/{consent_id}{suffix}", headers=headers, json=body
            )
            if response.is_success and method != "GET":
                consent_id = None
            return response

        return call

    return calls


def _status(api: Api) -> Call:
    async def call(headers: dict[str, str]) -> httpx.Response:
        return await api.client.get(
            f"/consent/v1/participants/{api.pupils['dasha']}/status", headers=headers
        )

    return call


# Withdrawing health data only: it keeps the participant open for the next case.
WITHDRAW = {
    "purposes": ["health_data"],
    "request": {"reference": "17/2019", "received_on": "2019-09-19"},
}
CALLS: dict[str, Route] = {
    "submit": _submit,
    "verify": _on_consent("POST", "/verify", verified=False),
    "reject": _on_consent("POST", "/reject", {"reasons": ["unreadable_scan"]}, verified=False),
    "withdraw": _on_consent("POST", "/withdraw", WITHDRAW),
    "consent": _on_consent("GET", ""),
    "document": _on_consent("GET", "/document"),
    "status": _status,
}


@pytest.mark.parametrize("route", sorted(CALLS))
async def test_every_role_on_its_own_and_on_another_participant(api: Api, route: str) -> None:
    unauthorised_2xx: list[Case] = []
    call = CALLS[route](api)
    for role in EVERYONE:
        for scope in (OWN, OTHER):
            response = await call(_caller(api, role, scope))
            allowed = (role, scope) in ALLOWED[route]
            if allowed:
                assert response.is_success, (route, role, scope, response.text)
                continue
            if response.is_success:
                unauthorised_2xx.append((role, scope))
                continue
            body = response.json()
            if role not in ROLES_OF[route]:
                refused = (response.status_code, body["code"])
                assert refused == (403, refusal_of(role)), (route, role)
            else:
                expected = HIDDEN_AS.get(route, "unknown_consent")
                assert (response.status_code, body["code"]) == (404, expected), (route, role)
    assert unauthorised_2xx == []


async def test_roles_without_access_learn_nothing_of_who_exists(api: Api) -> None:
    """403 before any lookup: the same answer for a participant (or consent) that exists and
    for one that does not."""
    dasha = api.pupils["dasha"]
    consent_id = await _signed(api, verified=True)
    for role in (Role.ORGANISER, Role.MENTOR, Role.SUPPORT, Role.ANALYST, Role.PUPIL):
        headers = _caller(api, role, OWN)
        for path in (f"/consent/v1/consents/{consent_id}", f"/consent/v1/consents/{uuid4()}"):
            answer = await api.client.get(path, headers=headers)
            assert (answer.status_code, answer.json()["code"]) == (403, refusal_of(role))
        if role is not Role.PUPIL:
            for participant in (dasha, uuid4()):
                answer = await api.client.get(
                    f"/consent/v1/participants/{participant}/status", headers=headers
                )
                assert (answer.status_code, answer.json()["code"]) == (403, refusal_of(role))


async def test_a_scoped_caller_sees_not_theirs_as_does_not_exist(api: Api) -> None:
    consent_id = await _signed(api, verified=True)
    navigator = _caller(api, Role.NAVIGATOR, OTHER)
    answers = [
        (await api.client.get(f"/consent/v1/participants/{p}/status", headers=navigator)).json()
        for p in (api.pupils["dasha"], uuid4())
    ]
    assert answers[0] == answers[1]
    coordinator = _caller(api, Role.COORDINATOR, OTHER)
    answers = [
        (await api.client.get(f"/consent/v1/consents/{c}", headers=coordinator)).json()
        for c in (consent_id, uuid4())
    ]
    assert answers[0] == answers[1]


async def test_a_guardian_sees_the_details_of_the_consents_they_signed_only(api: Api) -> None:
    dasha = api.pupils["dasha"]
    signed = await _signed(api, verified=True)
    by_other_parent = await api.submitted(dasha, **{"guardian.guardian_id": str(uuid4())})
    signer = api.guardian(dasha, subject=str(SIGNER))
    mine = await api.client.get(f"/consent/v1/consents/{signed}", headers=signer)
    assert mine.status_code == 200
    assert mine.json()["guardian"]["passport"]["number"] == "****92"  # masked for parties
    theirs = await api.client.get(f"/consent/v1/consents/{by_other_parent}", headers=signer)
    assert (theirs.status_code, theirs.json()["code"]) == (403, "forbidden")
    # The guardian id on a form is no access grant: without the child in the token's
    # `children`, the signer sees nothing.
    no_child = api.guardian(api.pupils["petya"], subject=str(SIGNER))
    for path in (f"/consent/v1/consents/{signed}", f"/consent/v1/participants/{dasha}/status"):
        assert (await api.client.get(path, headers=no_child)).status_code == 404
    # Their children's status, whoever signed.
    other_parent = api.guardian(dasha)
    status = await api.client.get(f"/consent/v1/participants/{dasha}/status", headers=other_parent)
    assert status.status_code == 200


async def test_a_moved_pupils_document_is_for_the_current_school_only(api: Api) -> None:
    dasha = api.pupils["dasha"]
    consent_id = await _signed(api, verified=True)
    url = f"/consent/v1/consents/{consent_id}/document"
    old_school = api.registrar(SCHOOL_3)
    stored = (await api.client.get(url, headers=old_school)).content  # the copy (ADR 0015)
    assert stored[:5] == b"%PDF-"
    moved = await move_pupil(api.settings, dasha, SPB_SCHOOL, OTHER_REGION)
    assert await api.service.directory.wait_for("identity", moved, 10.0, f"participant-{dasha}")
    # The school that uploaded the scan (the guardian's passport in it) no longer has the pupil:
    # it gets the 404 of a stranger, as it does for the consent itself; the new school has it.
    for path in (url, f"/consent/v1/consents/{consent_id}"):
        refused = await api.client.get(path, headers=old_school)
        assert (refused.status_code, refused.json()["code"]) == (404, "unknown_consent")
        assert stored not in refused.content
    assert (await api.client.get(url, headers=api.registrar(SPB_SCHOOL))).content == stored
    # The old region's coordinator goes with the old school; the new region's takes over.
    assert (await api.client.get(url, headers=api.coordinator(REGION))).status_code == 404
    assert (await api.client.get(url, headers=api.coordinator(OTHER_REGION))).content == stored


@pytest.mark.parametrize(
    ("role", "own_school", "own_pupil"),
    [
        (Role.NAVIGATOR, True, False),  # the pupil's own school's navigator
        (Role.PUPIL, False, True),  # the pupil themself
        (Role.SUPPORT, True, True),
        (Role.ANALYST, True, True),
        (Role.ORGANISER, True, True),
        (Role.MENTOR, True, True),
        (Role.GUARDIAN, False, True),
    ],
)
async def test_documents_are_never_shown_to_these_roles(
    api: Api, role: Role, own_school: bool, own_pupil: bool
) -> None:
    dasha = api.pupils["dasha"]
    consent_id = await _signed(api, verified=True)
    headers = api.token(
        role,
        subject=str(SIGNER),
        school=str(SCHOOL_3 if own_school else SCHOOL_5),
        participant=str(dasha if own_pupil else uuid4()),
        children=[str(dasha)],
    )
    response = await api.client.get(f"/consent/v1/consents/{consent_id}/document", headers=headers)
    assert (response.status_code, response.json()["code"]) == (403, refusal_of(role))
    assert PDF not in response.content
