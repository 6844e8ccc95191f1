"""The authorisation matrix: every route × every role × own / other school / other region /
unrelated child / linked-only guardian, over open, closed, withdrawn and expired portfolios and an
id nobody has. Zero unauthorised 2xx, every authorised caller gets its answer, and "not yours" is
answered exactly as "does not exist"."""

from datetime import date
from typing import TYPE_CHECKING, Any

from bilet.http import Role

if TYPE_CHECKING:
    from services.portfolio.tests.conftest import Ids, Service


async def test_no_caller_gets_what_they_may_not_see(service: "Service", ids: "Ids") -> None:
    c = service.catalogue
    open_pupil = await service.pupil_with_consent("matrix")
    closed = ids.pupil("matrix-closed")
    withdrawn = await service.pupil_with_consent("matrix-withdrawn")
    expired = ids.pupil("matrix-expired")
    expired_consent = ids.uid("consent:matrix-expired")
    linked_guardian = ids.uid("guardian:matrix")
    await service.append(
        await c.registered(closed),
        c.withdrawn(withdrawn, ids.uid("consent:matrix-withdrawn")),
        await c.registered(expired),
        await c.submitted(expired, expired_consent, valid_until=date(2019, 10, 1)),
        c.verified(expired, expired_consent, valid_until=date(2019, 10, 1)),
        # A verified consent links a guardian: that grants no access without the token's claim.
        await c.guardian(open_pupil, linked_guardian, ids.uid("consent:matrix")),
    )
    await service.settle()
    service.app.state.update_streams.max_seconds = 0.05  # streams end, so answers complete
    nobody = ids.pupil("nobody-at-all")
    stranger = str(ids.pupil("stranger"))
    s3, s5, spb = str(ids.school_3), str(ids.school_5), str(ids.spb_school)
    lo, spb_region = str(ids.leningrad), str(ids.spb)
    gated = [str(closed), str(withdrawn), str(expired)]
    callers: dict[str, dict[str, Any]] = {
        "pupil-self": {"role": Role.PUPIL, "participant": str(open_pupil)},
        "pupil-other": {"role": Role.PUPIL, "participant": stranger},
        "pupil-closed-self": {"role": Role.PUPIL, "participant": str(closed)},
        "guardian-own": {"role": Role.GUARDIAN, "children": [str(open_pupil), *gated]},
        "guardian-unrelated": {"role": Role.GUARDIAN, "children": [stranger]},
        "guardian-linked-only": {"role": Role.GUARDIAN, "subject": str(linked_guardian)},
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
    # Who has a scope on each participant (may or may not pass the consent gate).
    scoped_open = {"pupil-self", "guardian-own", "coordinator-own", "operator", *school}
    scoped_gated = {"guardian-own", "coordinator-own", "operator", *school}
    participants: dict[str, tuple[set[str], set[str]]] = {
        # participant: (scoped callers, callers answered 2xx)
        str(open_pupil): (scoped_open, scoped_open),
        str(closed): ({*scoped_gated, "pupil-closed-self"}, school),
        str(withdrawn): (scoped_gated, school),
        str(expired): (scoped_gated, school),
    }
    routes: dict[str, set[str]] = {}
    for pid, (_, allowed) in participants.items():
        routes[f"/portfolio/v1/participants/{pid}"] = allowed
        routes[f"/portfolio/v1/participants/{pid}/updates"] = allowed
    routes[f"/portfolio/v1/participants/{nobody}"] = set()
    routes[f"/portfolio/v1/participants/{nobody}/updates"] = set()
    routes.update(
        {
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
            "/portfolio/v1/me/children": {
                "guardian-own",
                "guardian-unrelated",
                "guardian-linked-only",
            },
        }
    )
    answers: dict[tuple[str, str], tuple[int, str | None]] = {}
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
            code = None
            if not ok:
                assert response.status_code in (403, 404), (url, name, response.text)
                assert response.headers["content-type"] == "application/problem+json"
                code = response.json()["code"]
            answers[(url, name)] = (response.status_code, code)
    assert unauthorised == []
    assert refused_authorised == []

    # "Not yours" is answered as "does not exist"; "yours, but closed" says why.
    unknown_answers = {
        name: answers[(f"/portfolio/v1/participants/{nobody}", name)] for name in callers
    }
    assert unknown_answers["operator"] == (404, "unknown_participant")
    assert unknown_answers["pupil-other"] == (404, "unknown_participant")
    assert unknown_answers["organiser"] == (403, "forbidden")
    for pid, (scoped, allowed) in participants.items():
        for suffix in ("", "/updates"):
            for name in callers:
                answer = answers[(f"/portfolio/v1/participants/{pid}{suffix}", name)]
                if name not in scoped:
                    assert answer == unknown_answers[name], (pid, suffix, name, answer)
                elif name not in allowed:
                    assert answer == (403, "consent_required"), (pid, suffix, name, answer)

    # The school sees why the gated portfolios are closed.
    navigator = service.token(Role.NAVIGATOR, school=s3)
    for gated_pupil, state in ((withdrawn, "withdrawn"), (expired, "expired"), (closed, "none")):
        body = (
            await service.client.get(f"/portfolio/v1/participants/{gated_pupil}", headers=navigator)
        ).json()
        assert (body["open"], body["consent"]["state"]) == (False, state)

    # The guardians' lists are theirs: the unrelated and the linked-only hold none of these.
    for name in ("guardian-unrelated", "guardian-linked-only"):
        claims = {k: v for k, v in callers[name].items() if k != "role"}
        listed = await service.client.get(
            "/portfolio/v1/me/children", headers=service.token(Role.GUARDIAN, **claims)
        )
        assert listed.json()["items"] == [], name
    own = await service.client.get(
        "/portfolio/v1/me/children",
        headers=service.token(Role.GUARDIAN, children=[str(open_pupil), *gated]),
    )
    assert {(i["participant_id"], i["open"]) for i in own.json()["items"]} == {
        (str(open_pupil), True),
        *((pid, False) for pid in gated),
    }
