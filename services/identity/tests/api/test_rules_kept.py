"""Rules that were too loose (issue #18, docs/adr/0041): a season inside one school year that is
never rewritten once it has begun; regions that are subjects of the Russian Federation in one of
its IANA time zones; a birth date that fits the grade; and no second profile made silently for a
child typed twice at one school under another СНИЛС."""

import random
from collections.abc import Awaitable, Callable
from datetime import date
from typing import TYPE_CHECKING, Any

import httpx

from bilet.http import Role
from bilet.http.devkeys import ensure_development_keys
from bilet.http.testing import app_lifespan
from bilet_identity.app import create_app
from bilet_identity.application.service import IdentityService
from bilet_identity.domain.snils import generate
from bilet_identity.settings import IdentitySettings

if TYPE_CHECKING:
    from services.identity.tests.conftest import Api, World

THIS_YEAR = date.today().year


def _rules(season: int, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "eligible_grades": {"lowest": 6, "highest": 11},
        "max_career_events": 3,
        "diagnostics_stages": ["interests"],
        "starts_on": f"{season}-09-01",
        "ends_on": f"{season + 1}-05-31",
    }
    body.update(changes)
    return body


async def _publish(api: "Api", season: int, body: dict[str, Any]) -> Any:
    return await api.client.put(
        f"/identity/v1/seasons/{season}/rules", headers=api.token(Role.OPERATOR), json=body
    )


async def test_a_season_across_two_school_years_is_refused(api: "Api") -> None:
    season = THIS_YEAR + 1
    refused = await _publish(api, season, _rules(season, ends_on=f"{season + 1}-09-30"))
    assert (refused.status_code, refused.json()["code"]) == (422, "invalid_season_rules")
    unknown = await api.client.get(f"/identity/v1/seasons/{season}/rules", headers=api.registrar())
    assert (unknown.status_code, unknown.json()["code"]) == (404, "season_not_found")


async def test_an_ended_season_is_history_and_a_coming_one_is_revised(api: "Api") -> None:
    closed = await _publish(api, 2019, _rules(2019, max_career_events=5))
    assert (closed.status_code, closed.json()["code"]) == (409, "season_closed")
    assert closed.json()["ended_on"] == "2020-05-31"
    # Publishing the rules in force again is nothing new, even after the season.
    same = _rules(2019, diagnostics_stages=["interests", "soft_skills", "professions_knowledge"])
    assert (await _publish(api, 2019, same)).status_code == 200
    coming = THIS_YEAR + 1
    assert (await _publish(api, coming, _rules(coming))).status_code == 200
    revised = await _publish(api, coming, _rules(coming, starts_on=f"{coming}-09-15"))
    assert revised.status_code == 200, revised.text
    assert revised.json()["rules_version"] == 2
    # A region's testing window set for the season stays inside it.
    operator = api.token(Role.OPERATOR)
    region = {"region_code": "47", "name": "Ленинградская область", "season": coming}
    region |= {"time_zone": "Europe/Moscow", "coordinator": "Центр"}
    admitted = await api.client.post("/identity/v1/regions", headers=operator, json=region)
    assert admitted.status_code == 201, admitted.text
    window = {"season": coming, "stages": ["interests"]}
    window |= {"opens_on": f"{coming}-10-01", "closes_on": f"{coming}-10-20"}
    url = f"/identity/v1/regions/{admitted.json()['region_id']}/diagnostics-windows"
    assert (await api.client.post(url, headers=operator, json=window)).status_code == 201
    shrunk = await _publish(api, coming, _rules(coming, starts_on=f"{coming}-10-05"))
    assert (shrunk.status_code, shrunk.json()["code"]) == (422, "invalid_season_rules")


async def test_a_region_is_a_subject_of_russia_in_one_of_its_time_zones(api: "Api") -> None:
    await _publish(api, THIS_YEAR + 1, _rules(THIS_YEAR + 1))
    operator = api.token(Role.OPERATOR)

    async def admit(code: str, zone: str) -> Any:
        body = {
            "region_code": code,
            "name": "Регион",
            "season": THIS_YEAR + 1,
            "time_zone": zone,
            "coordinator": "Координатор",
        }
        return await api.client.post("/identity/v1/regions", headers=operator, json=body)

    for code, zone in (("99", "Europe/Moscow"), ("80", "Europe/Moscow"), ("54", "Europe/London")):
        refused = await admit(code, zone)
        assert (refused.status_code, refused.json()["code"]) == (422, "invalid_request"), code
    admitted = await admit("54", "Asia/Novosibirsk")
    assert admitted.status_code == 201, admitted.text


async def test_a_birth_date_that_does_not_fit_the_grade_is_refused_clearly(
    api: "Api", world: "World"
) -> None:
    refused = await api.client.post(
        "/identity/v1/participants",
        headers=api.registrar(),
        json=world.pupil(birth_date="2012-04-12", grade=7),
    )
    assert refused.status_code == 422
    problem = refused.json()
    assert problem["code"] == "birth_date_implausible_for_grade"
    assert (problem["field"], problem["grade"]) == ("birth_date", 7)
    assert (problem["born_from"], problem["born_to"]) == ("2003-09-02", "2008-09-01")
    registered = await api.client.post(
        "/identity/v1/participants", headers=api.registrar(), json=world.pupil()
    )
    assert registered.status_code == 201
    pid = registered.json()["participant_id"]
    regraded = await api.client.patch(
        f"/identity/v1/participants/{pid}", headers=api.registrar(), json={"grade": 11}
    )
    assert (regraded.status_code, regraded.json()["code"]) == (
        422,
        "birth_date_implausible_for_grade",
    )


async def test_a_wider_band_is_a_setting(
    make_settings: Callable[..., IdentitySettings],
    seed_world: Callable[[IdentityService], Awaitable[None]],
    world: "World",
) -> None:
    settings = make_settings(identity_grade_age_years_older=6)
    app = create_app(settings)
    async with app_lifespan(app) as manager:
        await seed_world(app.state.identity)
        signer = ensure_development_keys(settings.var_dir)
        headers = {
            "Authorization": f"Bearer {signer.mint(Role.REGISTRAR, school=str(world.school_3))}"
        }
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
            # 19 in grade 7 on 1 September 2019: four years older than usual, in a band of six.
            late = world.pupil(birth_date="2000-04-12", grade=7)
            response = await client.post("/identity/v1/participants", headers=headers, json=late)
    assert response.status_code == 201, response.text


async def test_the_same_child_under_another_snils_at_one_school_is_a_review_not_a_profile(
    api: "Api", world: "World"
) -> None:
    first = await api.client.post(
        "/identity/v1/participants", headers=api.registrar(), json=world.pupil()
    )
    assert first.status_code == 201
    existing = first.json()["participant_id"]
    other_snils = generate(random.Random(41)).formatted
    # Case and «ё» do not tell two children apart.
    again = world.pupil(snils=other_snils, last_name="СОКОЛОВА")
    refused = await api.client.post(
        "/identity/v1/participants", headers=api.registrar(), json=again
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "duplicate_needs_review"
    assert refused.json()["existing_participant_id"] == existing
    reviews = await api.client.get(
        "/identity/v1/duplicate-reviews", headers=api.token(Role.OPERATOR)
    )
    assert [r["participant_id"] for r in reviews.json()] == [existing]
    assert reviews.json()[0]["requested_by_school_id"] == str(world.school_3)
    # Another school's pupil of the same name and birthday is another child.
    elsewhere = await api.client.post(
        "/identity/v1/participants", headers=api.registrar(world.school_5), json=again
    )
    assert elsewhere.status_code == 201, elsewhere.text


async def test_a_class_list_with_one_child_twice_under_two_snils_registers_one(
    api: "Api",
) -> None:
    rng = random.Random(42)
    rows = [
        f"Соколова,Дарья,Андреевна,12.04.2007,{generate(rng).formatted},7",
        f"Соколова,Дарья,Андреевна,12.04.2007,{generate(rng).formatted},7",
    ]
    content = "\n".join(["last_name,first_name,middle_name,birth_date,snils,grade", *rows])
    response = await api.client.post(
        "/identity/v1/participants/import",
        headers=api.registrar() | {"Content-Type": "text/csv"},
        content=content.encode(),
    )
    assert response.status_code == 200, response.text
    first, second = response.json()["rows"]
    assert first["status"] == "registered"
    assert (second["status"], second["code"]) == ("rejected", "duplicate_needs_review")
    assert second["existing_participant_id"] == first["participant_id"]
