"""Who may do what, route by route, for every role, on a participant of the caller's own school,
of another school of the same region, and of another region: the matrix of `application.access`
over HTTP. No unauthorised call answers 2xx; a role with no access to a route gets 403 before
anything is looked up; a scoped role asking about a participant who is not theirs gets the 404 of
one that does not exist (`unknown_participant` / `unknown_attempt`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

import httpx
import pytest

from bilet.application import RequestContext
from bilet.contracts.vocabulary import Stage
from bilet.http import Role
from bilet.http.auth import Principal
from bilet_diagnostics.testing import OTHER_REGION, REGION, SCHOOL_3, SCHOOL_5, SPB_SCHOOL

if TYPE_CHECKING:
    from services.diagnostics.tests.conftest import Api

OWN, OTHER_SCHOOL, OTHER_REGION_ = "own", "other school", "other region"
SCOPES = (OWN, OTHER_SCHOOL, OTHER_REGION_)
PLACE = {
    OWN: (SCHOOL_3, REGION),
    OTHER_SCHOOL: (SCHOOL_5, REGION),
    OTHER_REGION_: (SPB_SCHOOL, OTHER_REGION),
}
Case = tuple[Role, str]
EVERY_SCOPE = set(SCOPES)

ALLOWED: dict[str, set[Case]] = {
    "start": {(Role.PUPIL, OWN), (Role.NAVIGATOR, OWN)},
    "attempt": {(Role.PUPIL, OWN), (Role.NAVIGATOR, OWN)},
    "answer": {(Role.PUPIL, OWN)},
    "complete": {(Role.PUPIL, OWN)},
    "results": {
        (Role.PUPIL, OWN),
        (Role.GUARDIAN, OWN),
        (Role.NAVIGATOR, OWN),
        (Role.COORDINATOR, OWN),
        (Role.COORDINATOR, OTHER_SCHOOL),
        *((Role.OPERATOR, scope) for scope in SCOPES),
    },
    "instruments": {(role, scope) for role in Role for scope in SCOPES},
}
ROLES_OF = {route: {role for role, _ in cases} for route, cases in ALLOWED.items()}
HIDDEN_AS = {
    "start": "unknown_participant",
    "results": "unknown_participant",
    "attempt": "unknown_attempt",
    "answer": "unknown_attempt",
    "complete": "unknown_attempt",
}


def _caller(api: Api, role: Role, own: UUID) -> dict[str, str]:
    """A token of `role` whose every scope claim names the own pupil, their school (СОШ № 3)
    and region: a role without access is refused even when its claims would match."""
    return api.token(
        role,
        school=str(SCHOOL_3),
        region=str(REGION),
        participant=str(own),
        children=[str(own)],
    )


async def _pupil_in(api: Api, scope: str) -> UUID:
    school, region = PLACE[scope]
    pupil = uuid4()
    api.facts.add_pupil(pupil, school, region)
    return pupil


async def _attempt_of(api: Api, pupil: UUID, *, answered: bool) -> UUID:
    ctx = RequestContext(Principal(f"pupil-{pupil}", Role.PUPIL, participant_id=str(pupil)))
    attempt_id, _ = await api.service.start(ctx, pupil, Stage.INTERESTS)
    if answered:
        view = await api.service.attempt_view(ctx, attempt_id)
        await api.service.save_answers(
            ctx, attempt_id, {item.item_id: item.choices[0].option_id for item in view.items}
        )
    return attempt_id


Call = Callable[["Api", dict[str, str], UUID], Awaitable[httpx.Response]]


async def _start(api: Api, headers: dict[str, str], target: UUID) -> httpx.Response:
    return await api.client.post(
        "/diagnostics/v1/attempts",
        headers=headers,
        json={"participant_id": str(target), "stage": "interests"},
    )


async def _attempt(api: Api, headers: dict[str, str], target: UUID) -> httpx.Response:
    attempt_id = await _attempt_of(api, target, answered=False)
    return await api.client.get(f"/diagnostics/v1/attempts/{attempt_id}", headers=headers)


async def _answer(api: Api, headers: dict[str, str], target: UUID) -> httpx.Response:
    attempt_id = await _attempt_of(api, target, answered=False)
    return await api.client.put(
        f"/diagnostics/v1/attempts/{attempt_id}/answers/ddo_01",
        headers=headers,
        json={"option_id": "a"},
    )


async def _complete(api: Api, headers: dict[str, str], target: UUID) -> httpx.Response:
    attempt_id = await _attempt_of(api, target, answered=True)
    return await api.client.post(f"/diagnostics/v1/attempts/{attempt_id}/complete", headers=headers)


async def _results(api: Api, headers: dict[str, str], target: UUID) -> httpx.Response:
    return await api.client.get(f"/diagnostics/v1/participants/{target}/results", headers=headers)


async def _instruments(api: Api, headers: dict[str, str], target: UUID) -> httpx.Response:
    return await api.client.get("/diagnostics/v1/instruments", headers=headers)


CALLS: dict[str, Call] = {
    "start": _start,
    "attempt": _attempt,
    "answer": _answer,
    "complete": _complete,
    "results": _results,
    "instruments": _instruments,
}


@pytest.mark.parametrize("route", list(CALLS))
async def test_every_role_on_every_scope(api: Api, route: str) -> None:
    unauthorised_2xx: list[Case] = []
    for role in Role:
        for scope in SCOPES:
            target = await _pupil_in(api, scope)
            own = target if scope == OWN else await _pupil_in(api, OWN)
            response = await CALLS[route](api, _caller(api, role, own), target)
            allowed = (role, scope) in ALLOWED[route]
            if allowed:
                assert response.status_code in (200, 201), (role, scope, response.text)
                continue
            if 200 <= response.status_code < 300:
                unauthorised_2xx.append((role, scope))
                continue
            body = response.json()
            if role not in ROLES_OF[route]:
                refusal = "outside_analytics_purpose" if role is Role.ANALYST else "forbidden"
                assert (response.status_code, body["code"]) == (403, refusal), (role, scope)
            else:
                assert (response.status_code, body["code"]) == (404, HIDDEN_AS[route]), (
                    role,
                    scope,
                    body,
                )
    assert unauthorised_2xx == []


async def test_without_a_token_nothing_answers(api: Api) -> None:
    for route, call in CALLS.items():
        response = await call(api, {}, await _pupil_in(api, OWN))
        assert response.status_code == 401, route
