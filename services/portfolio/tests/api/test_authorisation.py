"""The authorisation matrix: every route × every role × own / other school / other region /
unrelated child. Zero unauthorised 2xx, and every authorised caller gets its answer."""

from typing import TYPE_CHECKING, Any

from bilet.http import Role

if TYPE_CHECKING:
    from services.portfolio.tests.conftest import Ids, Service


async def test_no_caller_gets_what_they_may_not_see(service: "Service", ids: "Ids") -> None:
    open_pupil = await service.pupil_with_consent("matrix")
    closed = ids.pupil("matrix-closed")
    await service.append(await service.catalogue.registered(closed))
    await service.settle()
    service.app.state.update_streams.max_seconds = 0.05  # streams end, so answers complete
    stranger = str(ids.pupil("stranger"))
    s3, s5, spb = str(ids.school_3), str(ids.school_5), str(ids.spb_school)
    lo, spb_region = str(ids.leningrad), str(ids.spb)
    callers: dict[str, dict[str, Any]] = {
        "pupil-self": {"role": Role.PUPIL, "participant": str(open_pupil)},
        "pupil-other": {"role": Role.PUPIL, "participant": stranger},
        "pupil-closed-self": {"role": Role.PUPIL, "participant": str(closed)},
        "guardian-own": {"role": Role.GUARDIAN, "children": [str(open_pupil), str(closed)]},
        "guardian-unrelated": {"role": Role.GUARDIAN, "children": [stranger]},
        "navigator-own": {"role": Role.NAVIGATOR, "school": s3},
        "navigator-other-school": {"role": Role.NAVIGATOR, "school": s5},
        "navigator-other-region": {"role": Role.NAVIGATOR, "school": spb},
        "registrar-own": {"role": Role.REGISTRAR, "school": s3},
        "registrar-other-school": {"role": Role.REGISTRAR, "school": s5},
        "coordinator-own": {"role": Role.COORDINATOR, "region": lo},
        "coordinator-other": {"role": Role.COORDINATOR, "region": spb_region},
        "operator": {"role": Role.OPERATOR},
        # Roles with no access here, even with tempting scopes.
        "organiser": {"role": Role.ORGANISER, "school": s3, "region": lo, "venue": "v"},
        "mentor": {"role": Role.MENTOR, "school": s3, "region": lo},
        "support": {"role": Role.SUPPORT, "school": s3, "region": lo},
        "analyst": {"role": Role.ANALYST, "school": s3, "region": lo},
        "organiser-as-pupil": {"role": Role.ORGANISER, "participant": str(open_pupil)},
        "mentor-with-children": {"role": Role.MENTOR, "children": [str(open_pupil)]},
    }
    school = {"navigator-own", "registrar-own"}
    entitled_open = {"pupil-self", "guardian-own", "coordinator-own", "operator", *school}
    routes: dict[str, set[str]] = {
        f"/portfolio/v1/participants/{open_pupil}": entitled_open,
        f"/portfolio/v1/participants/{open_pupil}/updates": entitled_open,
        # Without a verified consent: the school alone.
        f"/portfolio/v1/participants/{closed}": school,
        f"/portfolio/v1/participants/{closed}/updates": school,
        f"/portfolio/v1/schools/{s3}/participants": {"coordinator-own", "operator", *school},
        f"/portfolio/v1/schools/{s5}/participants": {
            "coordinator-own",
            "operator",
            "navigator-other-school",
            "registrar-other-school",
        },
        f"/portfolio/v1/schools/{spb}/participants": {
            "operator",
            "navigator-other-region",
            "coordinator-other",
        },
        "/portfolio/v1/me/children": {"guardian-own", "guardian-unrelated"},
    }
    unauthorised: list[tuple[str, str, int]] = []
    refused_authorised: list[tuple[str, str, int]] = []
    for url, allowed in routes.items():
        for name, claims in callers.items():
            role = claims["role"]
            scopes = {k: v for k, v in claims.items() if k != "role"}
            response = await service.client.get(url, headers=service.token(role, **scopes))
            ok = 200 <= response.status_code < 300
            if ok and name not in allowed:
                unauthorised.append((url, name, response.status_code))
            if name in allowed and response.status_code != 200:
                refused_authorised.append((url, name, response.status_code))
            if not ok:
                assert response.status_code in (403, 404), (url, name, response.text)
                assert response.headers["content-type"] == "application/problem+json"
    assert unauthorised == []
    assert refused_authorised == []
    # The unrelated guardian's list is theirs: it holds none of these pupils.
    unrelated = await service.client.get(
        "/portfolio/v1/me/children", headers=service.token(Role.GUARDIAN, children=[stranger])
    )
    assert unrelated.json()["items"] == []
