"""`GET /diagnostics/v1/schools/{school_id}/progress` over HTTP: every role, own and other school
and region, refusals as problem+json, the audit of each answer, and the OpenAPI description.

The app is the kernel's service frame with the progress router, the facts of a real SQLite read
model fed from in-memory stores, and an in-memory audit log."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from bilet.audit import Access, InMemoryAuditLog
from bilet.contracts.vocabulary import Stage
from bilet.http import Role, ServiceDescription, create_service_app
from bilet.http.devkeys import DevelopmentSigner, ensure_development_keys
from bilet.http.openapi_checks import undefined_schemas, undescribed_operations
from bilet.settings import PlatformSettings
from bilet_diagnostics.api.routes.progress import router
from bilet_diagnostics.facts_testing import (
    OTHER_REGION,
    REGION,
    SCHOOL_3,
    SCHOOL_5,
    SPB_SCHOOL,
    completed,
    facts_on_sqlite,
    registered,
    rules,
    school,
    started,
)

SERVICE = ServiceDescription(name="diagnostics", title="Bilet Diagnostics", summary="Test app.")
PATH = "/diagnostics/v1/schools/{}/progress"


@dataclass
class Api:
    client: httpx.AsyncClient
    signer: DevelopmentSigner
    audit: InMemoryAuditLog
    pupils: tuple[UUID, UUID]

    def token(self, role: Role, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.signer.mint(role, **claims)}"}

    async def progress(
        self, headers: dict[str, str], school_id: object = SCHOOL_3, season: int = 2019
    ) -> httpx.Response:
        return await self.client.get(
            PATH.format(school_id), params={"season": season}, headers=headers
        )


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    settings = PlatformSettings(var_dir=tmp_path / "var")
    async with facts_on_sqlite(tmp_path) as history:
        anya, borya = uuid4(), uuid4()
        attempt = started(anya, Stage.INTERESTS)
        await history.given(
            rules(2019),
            school(SCHOOL_3),
            school(SCHOOL_5),
            school(SPB_SCHOOL, OTHER_REGION),
            registered(anya, grade=6),
            registered(borya, grade=6),
            attempt,
            completed(attempt),
        )
        app = create_service_app(SERVICE, [router], settings=settings)
        audit = InMemoryAuditLog()
        app.state.facts = history.facts
        app.state.audit_log = audit
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://diagnostics") as client:
            yield Api(client, ensure_development_keys(settings.var_dir), audit, (anya, borya))


def _problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


async def test_the_navigator_sees_counts_and_who_has_not_started(api: Api) -> None:
    anya, borya = api.pupils
    response = await api.progress(api.token(Role.NAVIGATOR, school=str(SCHOOL_3)))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "school_id": str(SCHOOL_3),
        "season": 2019,
        "stages": ["interests", "soft_skills", "professions_knowledge"],
        "grades": [
            {
                "grade": 6,
                "pupils": 2,
                "stages": [
                    {"stage": "interests", "started": 1, "completed": 1,
                     "not_started": [str(borya)]},
                    {"stage": "soft_skills", "started": 0, "completed": 0,
                     "not_started": sorted([str(anya), str(borya)])},
                    {"stage": "professions_knowledge", "started": 0, "completed": 0,
                     "not_started": sorted([str(anya), str(borya)])},
                ],
            }
        ],
    }  # fmt: skip


async def test_each_answer_is_audited_once_per_pupil_counted(api: Api) -> None:
    response = await api.progress(api.token(Role.REGISTRAR, school=str(SCHOOL_3), subject="r-1"))
    assert response.status_code == 200, response.text
    assert {(r.actor, r.access, r.subject, r.purpose, r.fields) for r in api.audit.records} == {
        ("r-1", Access.READ, str(pupil), "school_progress", ("diagnostics_progress",))
        for pupil in api.pupils
    }


@pytest.mark.parametrize(
    ("role", "claims"),
    [
        (Role.NAVIGATOR, {"school": str(SCHOOL_3)}),
        (Role.REGISTRAR, {"school": str(SCHOOL_3)}),
        (Role.COORDINATOR, {"region": str(REGION)}),
        (Role.OPERATOR, {}),
    ],
)
async def test_the_school_its_coordinator_and_the_operator_may_read(
    api: Api, role: Role, claims: dict[str, str]
) -> None:
    response = await api.progress(api.token(role, **claims))
    assert response.status_code == 200, response.text
    assert response.json()["grades"][0]["pupils"] == 2


@pytest.mark.parametrize(
    ("role", "claims"),
    [
        (Role.NAVIGATOR, {"school": str(SCHOOL_5)}),
        (Role.REGISTRAR, {"school": str(SCHOOL_5)}),
        (Role.NAVIGATOR, {}),
        (Role.COORDINATOR, {"region": str(OTHER_REGION)}),
        (Role.COORDINATOR, {}),
    ],
)
async def test_another_school_or_region_is_answered_as_unknown(
    api: Api, role: Role, claims: dict[str, str]
) -> None:
    _problem(await api.progress(api.token(role, **claims)), 404, "unknown_school")
    assert api.audit.records == []


async def test_a_school_nobody_registered_is_unknown_even_to_the_operator(api: Api) -> None:
    _problem(await api.progress(api.token(Role.OPERATOR), uuid4()), 404, "unknown_school")
    # A known school of another region is the operator's to read, with no pupils yet.
    response = await api.progress(api.token(Role.OPERATOR), SPB_SCHOOL)
    assert response.status_code == 200, response.text
    assert response.json()["grades"] == []


@pytest.mark.parametrize(
    "role",
    [Role.PUPIL, Role.GUARDIAN, Role.MENTOR, Role.ORGANISER, Role.SUPPORT, Role.ANALYST],
)
async def test_other_roles_are_refused_before_any_lookup(api: Api, role: Role) -> None:
    # The same refusal for a school that exists and one that does not: nothing is learnt.
    headers = api.token(role, school=str(SCHOOL_3), region=str(REGION))
    # An analyst learns why: the role is for the analytics export (ADR 0049).
    code = "outside_analytics_purpose" if role is Role.ANALYST else "forbidden"
    _problem(await api.progress(headers), 403, code)
    _problem(await api.progress(headers, uuid4()), 403, code)
    assert api.audit.records == []


async def test_a_request_without_a_token_is_unauthorised(api: Api) -> None:
    _problem(await api.client.get(PATH.format(SCHOOL_3), params={"season": 2019}), 401,
             "unauthorized")  # fmt: skip


@pytest.mark.parametrize(
    ("school_id", "season"),
    [(SCHOOL_3, None), (SCHOOL_3, 2017), (SCHOOL_3, 2101), (SCHOOL_3, "2019a"), ("school-3", 2019)],
)
async def test_a_malformed_request_is_refused(api: Api, school_id: object, season: object) -> None:
    headers = api.token(Role.NAVIGATOR, school=str(SCHOOL_3))
    params = {} if season is None else {"season": str(season)}
    response = await api.client.get(PATH.format(school_id), params=params, headers=headers)
    _problem(response, 422, "invalid_request")
    assert api.audit.records == []


async def test_the_operation_describes_itself(api: Api) -> None:
    spec = (await api.client.get("/diagnostics/openapi.json")).json()
    assert undescribed_operations(spec) == []
    assert undefined_schemas(spec) == set()
    operation = spec["paths"]["/diagnostics/v1/schools/{school_id}/progress"]["get"]
    assert operation["operationId"] == "school_progress"
    assert operation["tags"] == ["progress"]
    assert {"403", "404", "422"} <= set(operation["responses"])
    for code in ("forbidden", "unknown_school", "invalid_request"):
        assert f"`{code}`" in operation["description"]
    (season,) = [p for p in operation["parameters"] if p["name"] == "season"]
    assert season["required"] is True
    assert (season["schema"]["minimum"], season["schema"]["maximum"]) == (2018, 2100)
