"""The demo data of `make run`: the Leningrad oblast 2019 scenario, generated, loaded once."""

from collections import Counter
from datetime import date
from pathlib import Path

import httpx
import pytest

from bilet.contracts import decode
from bilet.contracts.catalogue.identity import DiagnosticsWindowScheduled
from bilet.http import Role
from bilet.http.devkeys import ensure_development_keys
from bilet.http.testing import app_lifespan
from bilet_identity import demo
from bilet_identity.access import demo_codes, demo_grants
from bilet_identity.app import create_app, create_embedded_app
from bilet_identity.domain.snils import Snils
from bilet_identity.settings import IdentitySettings


def test_the_generated_pupils_fit_the_scenario() -> None:
    school_3, school_5 = (demo.pupils(school) for school in demo.SCHOOLS)
    assert (len(school_3), len(school_5)) == (87, 50)
    everyone = school_3 + school_5
    assert {p.grade for _, p in everyone} == {6, 7, 8}
    assert len({p.snils for _, p in everyone}) == 137
    assert all(Snils.parse(p.snils).formatted == p.snils for _, p in everyone)
    with_needs = [p for _, p in everyone if p.accessibility_needs]
    assert 3 <= len(with_needs) <= 10
    assert all(p.has_health_limitations and p.health_limitation_kind for p in with_needs)
    for _, pupil in everyone:
        age_on_1_september = 2019 - pupil.birth_date.year - (pupil.birth_date.month >= 9)
        assert age_on_1_september == pupil.grade + 5, pupil
    assert demo.pupils(demo.SCHOOLS[0]) == school_3  # a fixed seed: the same every time
    names = Counter((p.last_name, p.first_name, p.middle_name) for _, p in everyone)
    assert max(names.values()) == 1


async def test_loaded_once_and_served(tmp_path: Path) -> None:
    settings = IdentitySettings(var_dir=tmp_path, identity_demo_data=True)
    for loaded_before in (False, True):
        app = create_app(settings)
        async with app_lifespan(app) as manager:
            service = app.state.identity
            assert await demo.load_demo_data(service) == 0  # already there
            signer = ensure_development_keys(tmp_path)
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
                scopes = dict(demo_grants.token_scopes())
                registrar = {
                    "Authorization": "Bearer "
                    + signer.mint(Role.REGISTRAR, **scopes[Role.REGISTRAR])  # type: ignore[arg-type]
                }
                regions = (await client.get("/identity/v1/regions", headers=registrar)).json()
                assert [(r["name"], r["coordinator"]) for r in regions] == [
                    (demo.REGION_NAME, demo.COORDINATOR)
                ]
                assert regions[0]["diagnostics_windows"][0]["opens_on"] == "2019-10-11"
                assert regions[0]["diagnostics_windows"][0]["closes_on"] == "2019-10-31"
                rules = await client.get("/identity/v1/seasons/2019/rules", headers=registrar)
                assert rules.json()["max_career_events"] == 3
                pupil = await client.get(
                    f"/identity/v1/participants/{demo.FIRST_PUPIL}", headers=registrar
                )
                assert pupil.status_code == 200
                assert pupil.json()["school_id"] == str(demo.SCHOOLS[0].school_id)
            participants = await service.store.read_all(limit=10_000, categories=["participant"])
            registered = [e for e in participants if e.type == "ParticipantRegistered"]
            assert len(registered) == 137, loaded_before
            # Testing is open today: the printed pupil is enrolled in today's season, once.
            enrolled = [e for e in participants if e.type == "ParticipantEnrolledInSeason"]
            assert [e.stream_id for e in enrolled] == [f"participant-{demo.FIRST_PUPIL}"]


def test_the_embedded_host_builds_the_app_that_loads_the_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BVB_VAR_DIR", str(tmp_path))
    from bilet_host.embedded import load_services

    [identity] = load_services(("identity",))
    assert identity.app.title == create_embedded_app().title == "Bilet Identity"


def test_a_token_per_role_scoped_to_the_demo() -> None:
    scopes = dict(demo_grants.token_scopes())
    assert set(scopes) == set(Role) - {Role.IDENTITY_PROVIDER}
    school, region = str(demo.SCHOOLS[0].school_id), str(demo.REGION_ID)
    assert scopes[Role.REGISTRAR] == scopes[Role.NAVIGATOR] == {"school": school, "region": region}
    assert scopes[Role.COORDINATOR] == {"region": str(demo.REGION_ID)}
    assert scopes[Role.GUARDIAN] == {"children": [str(demo.FIRST_PUPIL)]}


async def test_testing_is_open_today_beside_the_2019_history(tmp_path: Path) -> None:
    settings = IdentitySettings(var_dir=tmp_path)
    app = create_app(settings)
    async with app_lifespan(app):
        service = app.state.identity
        await demo.load_demo_data(service, today=date(2026, 12, 6))
        await demo.load_demo_data(service, today=date(2026, 12, 9))  # a later start moves it
        windows = [
            e
            for e in await service.store.read_all(limit=10_000, categories=["region"])
            if e.type == "DiagnosticsWindowScheduled"
        ]
        latest = decode(windows[-1])
        assert isinstance(latest, DiagnosticsWindowScheduled)
        assert (latest.season, latest.opens_on, latest.closes_on) == (
            2026,
            date(2026, 12, 2),
            date(2026, 12, 30),
        )
        assert len(windows) == 3  # 2019's, then today's twice


async def test_the_printed_tokens_carry_what_the_claims_endpoint_says_of_the_demo_grants(
    tmp_path: Path,
) -> None:
    settings = IdentitySettings(var_dir=tmp_path, identity_demo_data=True)
    app = create_app(settings)
    async with app_lifespan(app) as manager:
        signer = ensure_development_keys(tmp_path)
        provider = {"Authorization": "Bearer " + signer.mint(Role.IDENTITY_PROVIDER)}
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
            granted = {r.value for r in Role} & {g.role.value for g in demo_grants.DEMO_GRANTS}
            assert granted == {"coordinator", "registrar", "navigator", "organiser", "mentor"}
            for role, subject, claims in demo_grants.demo_claims():
                if role.value not in granted:
                    continue
                answer = await client.get(
                    f"/identity/v1/accounts/{subject}/claims", headers=provider
                )
                assert answer.status_code == 200, (role, answer.text)
                body = answer.json()
                assert body["role"] == role.value
                printed = demo_grants.scopes_of(claims)
                served = {k: body[k] for k in ("school", "region", "venue") if body[k]}
                assert served == printed, role


async def test_the_demo_binding_code_binds_a_new_pupils_account_once(tmp_path: Path) -> None:
    settings = IdentitySettings(var_dir=tmp_path, identity_demo_data=True)
    app = create_app(settings)
    async with app_lifespan(app) as manager:
        signer = ensure_development_keys(tmp_path)
        subject = demo_codes.NEW_PUPIL_SUBJECT
        new_pupil = {"Authorization": "Bearer " + signer.mint(Role.PUPIL, subject=subject)}
        provider = {"Authorization": "Bearer " + signer.mint(Role.IDENTITY_PROVIDER)}
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
            claims_url = f"/identity/v1/accounts/{subject}/claims?portal=pupil"
            before = await client.get(claims_url, headers=provider)
            assert before.json()["participant"] is None
            body = {"code": demo_codes.DEMO_PUPIL_CODE}
            redeemed = await client.post(
                "/identity/v1/binding-codes/redemption", headers=new_pupil, json=body
            )
            assert redeemed.status_code == 200, redeemed.text
            assert redeemed.json()["participant_id"] == str(demo_codes.DEMO_CODE_PUPIL)
            after = await client.get(claims_url, headers=provider)
            assert after.json()["participant"] == str(demo_codes.DEMO_CODE_PUPIL)
    # A restart leaves the used code used (it is not issued afresh).
    async with app_lifespan(create_app(settings)) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
            other = {"Authorization": "Bearer " + signer.mint(Role.PUPIL, subject="someone")}
            again = await client.post(
                "/identity/v1/binding-codes/redemption", headers=other, json=body
            )
            assert (again.status_code, again.json()["code"]) == (409, "binding_code_used")
