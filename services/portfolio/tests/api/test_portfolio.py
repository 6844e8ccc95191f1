"""The portfolio through its API: what each role sees, the consent gate, ETags, read-your-writes,
the audit of personal-data reads."""

import json
from datetime import date
from typing import TYPE_CHECKING, Any
from uuid import UUID

from bilet.audit import AUDIT_CATEGORY
from bilet.contracts.vocabulary import Stage
from bilet.http import Role
from bilet.http.consistency import PositionToken

if TYPE_CHECKING:
    from services.portfolio.tests.conftest import Ids, Service

STAGES = (Stage.INTERESTS, Stage.SOFT_SKILLS, Stage.PROFESSIONS_KNOWLEDGE)


def token(result: Any, source: str) -> dict[str, str]:
    return {"BVB-Position": PositionToken(source, result.position, result.stream_id).encode()}


async def get(service: "Service", url: str, headers: dict[str, str]) -> Any:
    response = await service.client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    return response


async def full_portfolio(service: "Service", ids: "Ids") -> UUID:
    """A pupil of school 3 with a verified consent, three stages, a career event attended with
    feedback, a cancelled booking, and recommendations."""
    c = service.catalogue
    pid = await service.pupil_with_consent("dasha")
    event, other = ids.uid("career-event:1"), ids.uid("career-event:2")
    booking, dropped = ids.uid("booking:1"), ids.uid("booking:2")
    await service.append(
        c.instrument(),
        c.started(pid, ids.uid("attempt:1"), Stage.INTERESTS),
        c.completed(pid, ids.uid("attempt:1"), Stage.INTERESTS),
        c.started(pid, ids.uid("attempt:2"), Stage.SOFT_SKILLS),
        c.career_event(event),
        c.career_event(other),
        c.booked(event, booking, pid),
        c.booked(other, dropped, pid),
        c.booking_cancelled(other, dropped, pid),
        c.attended(event, booking, pid),
        await c.feedback(event, ids.uid("feedback:1"), booking, pid),
    )
    await service.append(c.recommendations(pid, ids.uid("recommendations:1")))
    await service.settle()
    return pid


async def test_the_pupil_sees_their_whole_portfolio(service: "Service", ids: "Ids") -> None:
    pid = await full_portfolio(service, ids)
    response = await get(
        service,
        f"/portfolio/v1/participants/{pid}",
        service.token(Role.PUPIL, participant=str(pid)),
    )
    body = response.json()
    assert body["open"] is True
    assert body["display_name"] == {
        "last_name": "Соколова",
        "first_name": "Дарья",
        "patronymic": "Андреевна",
        "erased": False,
    }
    assert body["school"]["name"] == "МОУ «СОШ № 3»"
    assert body["region"]["name"] == "Ленинградская область"
    assert body["consent"]["state"] == "verified"
    assert body["grade"] == 7
    assert [(s["stage"], s["status"]) for s in body["diagnostics"]] == [
        ("interests", "completed"),
        ("soft_skills", "started"),
    ]
    interests = body["diagnostics"][0]
    assert interests["instruments"] == [{"instrument": "klimov_ddo", "version": "1.0.0"}]
    assert interests["result"]["environments"]["leading"] == ["smart", "industrial"]
    assert interests["window"] == {"opens_on": "2019-10-11", "closes_on": "2019-10-31"}
    statuses = {b["status"] for b in body["career_events"]}
    assert statuses == {"attended", "cancelled"}
    attended = next(b for b in body["career_events"] if b["status"] == "attended")
    assert attended["career_event"]["title"] == "Мастер сельскохозяйственного производства"
    assert attended["feedback"][0]["comment"] == "Отлично справилась с заданием!"
    assert body["progress"] == {
        "stages_completed": 1,
        "stages_total": 3,
        "career_events_booked": 0,
        "career_events_attended": 1,
        "max_career_events": 3,
        "recommendations": True,
    }
    assert body["recommendations"][0]["study_plan"][0]["subject"] == "informatics"
    assert len(body["history"]) == body["version"] == 12  # events of this pupil
    assert body["history"][0]["event_type"] == "ParticipantRegistered"
    # The world's reference data: season rules, two regions, a window, three schools.
    assert response.headers["ETag"] == f'W/"{body["version"]}.7-self-verified"'
    reflected = dict(token.split(":")[:2] for token in response.headers["BVB-Position"].split(", "))
    assert set(reflected) >= {"identity", "consent", "diagnostics", "events", "recommender"}


async def test_names_and_comments_are_only_for_entitled_roles(
    service: "Service", ids: "Ids"
) -> None:
    pid = await full_portfolio(service, ids)
    url = f"/portfolio/v1/participants/{pid}"
    entitled = [
        service.token(Role.PUPIL, participant=str(pid)),
        service.token(Role.GUARDIAN, children=[str(pid)]),
        service.token(Role.NAVIGATOR, school=str(ids.school_3)),
        service.token(Role.COORDINATOR, region=str(ids.leningrad)),
    ]
    for headers in entitled:
        body = (await get(service, url, headers)).json()
        assert body["display_name"]["first_name"] == "Дарья"
        assert body["career_events"][0]["feedback"][0]["comment"] is not None
    operator = (await get(service, url, service.token(Role.OPERATOR))).json()
    assert operator["display_name"] is None
    assert all(f["comment"] is None for b in operator["career_events"] for f in b["feedback"])
    assert operator["diagnostics"]  # the portfolio itself, without names


async def test_the_read_model_holds_no_plaintext_name(service: "Service", ids: "Ids") -> None:
    await full_portfolio(service, ids)
    raw = (service.settings.var_dir / "portfolio-readmodel.sqlite3").read_bytes()
    for wal in service.settings.var_dir.glob("portfolio-readmodel.sqlite3-wal"):
        raw += wal.read_bytes()
    for plain in ("Соколова", "Дарья", "Отлично справилась", "112-233-445"):
        assert plain.encode() not in raw


async def test_every_read_of_personal_data_is_audited(service: "Service", ids: "Ids") -> None:
    pid = await full_portfolio(service, ids)
    navigator = service.token(Role.NAVIGATOR, school=str(ids.school_3), subject="navigator-1")
    first = await get(service, f"/portfolio/v1/participants/{pid}", navigator)
    # A 304 shows nothing, so it records nothing.
    unchanged = await service.client.get(
        f"/portfolio/v1/participants/{pid}",
        headers={**navigator, "If-None-Match": first.headers["ETag"]},
    )
    assert unchanged.status_code == 304
    await get(service, f"/portfolio/v1/schools/{ids.school_3}/participants", navigator)
    store = service.app.state.audit_store
    records = [
        json.loads(e.data)
        for e in await store.read_all(0, 1000)
        if e.stream_id.startswith(f"{AUDIT_CATEGORY}-")
    ]
    mine = [r for r in records if r["actor"] == "navigator-1"]
    assert [(r["purpose"], r["subject"]) for r in mine] == [
        ("portfolio_view", str(pid)),
        ("portfolio_school_list", str(pid)),
    ]
    assert mine[0]["fields"] == ["portfolio", "full_name", "mentor_comment"]
    assert "Дарья" not in json.dumps(records, ensure_ascii=False)


async def test_without_consent_only_the_school_sees_the_consent_state(
    service: "Service", ids: "Ids"
) -> None:
    c = service.catalogue
    pid = ids.pupil("no-consent")
    cid = ids.uid("consent:no-consent")
    result = await service.append(
        await c.registered(pid), await c.submitted(pid, cid), c.rejected(pid, cid)
    )
    await service.settle()
    url = f"/portfolio/v1/participants/{pid}"
    school = await service.client.get(
        url,
        headers={
            **service.token(Role.NAVIGATOR, school=str(ids.school_3)),
            **token(result, "consent"),
        },
    )
    assert school.status_code == 200, school.text
    body = school.json()
    assert body["open"] is False
    assert body["consent"]["state"] == "rejected"
    assert body["consent"]["rejection_reasons"] == ["unreadable_scan"]
    assert body["display_name"] is None
    assert body["diagnostics"] == []
    assert body["grade"] is None
    for headers in (
        service.token(Role.PUPIL, participant=str(pid)),
        service.token(Role.GUARDIAN, children=[str(pid)]),
        service.token(Role.COORDINATOR, region=str(ids.leningrad)),
        service.token(Role.OPERATOR),
    ):
        refused = await service.client.get(url, headers=headers)
        assert refused.status_code == 403
        assert refused.json()["code"] == "consent_required"
        assert refused.json()["consent_state"] == "rejected"


async def test_a_consent_without_the_portfolio_purpose_keeps_it_closed(
    service: "Service", ids: "Ids"
) -> None:
    from bilet.contracts.catalogue.consent import ConsentPurpose

    c = service.catalogue
    pid, cid = ids.pupil("no-portfolio"), ids.uid("consent:no-portfolio")
    purposes = (ConsentPurpose.PROGRAMME_PARTICIPATION,)
    result = await service.append(
        await c.registered(pid),
        await c.submitted(pid, cid, purposes=purposes),
        c.verified(pid, cid, purposes=purposes),
    )
    await service.settle()
    refused = await service.client.get(
        f"/portfolio/v1/participants/{pid}",
        headers={**service.token(Role.PUPIL, participant=str(pid)), **token(result, "consent")},
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "consent_required"


async def test_etag_and_if_none_match(service: "Service", ids: "Ids") -> None:
    pid = await service.pupil_with_consent("etag")
    url = f"/portfolio/v1/participants/{pid}"
    pupil = service.token(Role.PUPIL, participant=str(pid))
    first = await get(service, url, pupil)
    etag = first.headers["ETag"]
    again = await service.client.get(url, headers={**pupil, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.headers["ETag"] == etag
    assert again.content == b""
    # Another role's representation (no names) has another tag.
    operator = await service.client.get(
        url, headers={**service.token(Role.OPERATOR), "If-None-Match": etag}
    )
    assert operator.status_code == 200
    # A change makes the tag stale.
    result = await service.append(await service.catalogue.corrected(pid, grade=8))
    changed = await service.client.get(
        url, headers={**pupil, "If-None-Match": etag, **token(result, "identity")}
    )
    assert changed.status_code == 200
    assert changed.json()["grade"] == 8
    assert changed.headers["ETag"] != etag
    # If-None-Match never bypasses access (nor tells a stranger that the pupil exists).
    stranger = service.token(Role.PUPIL, participant=str(ids.pupil("someone-else")))
    refused = await service.client.get(url, headers={**stranger, "If-None-Match": "*"})
    assert refused.status_code == 404
    assert refused.json()["code"] == "unknown_participant"


async def test_a_token_is_waited_for_and_a_token_never_reached_says_so(
    service: "Service", ids: "Ids"
) -> None:
    pid = await service.pupil_with_consent("ryw")
    pupil = service.token(Role.PUPIL, participant=str(pid))
    result = await service.append(await service.catalogue.corrected(pid, grade=9))
    seen = await service.client.get(
        f"/portfolio/v1/participants/{pid}", headers={**pupil, **token(result, "identity")}
    )
    assert seen.status_code == 200
    assert seen.json()["grade"] == 9
    far = PositionToken("identity", result.position + 1000).encode()
    missing = await service.client.get(
        f"/portfolio/v1/participants/{pid}", headers={**pupil, "BVB-Position": far}
    )
    assert missing.status_code == 409
    problem = missing.json()
    assert problem["code"] == "not_yet_visible"
    assert problem["token"] == far
    assert problem["reached"] == result.position
    assert missing.headers["Retry-After"] == "1"
    for bad, code in (
        ("identity", "invalid_position_token"),
        ("unknown:5", "invalid_position_token"),
    ):
        answer = await service.client.get(
            f"/portfolio/v1/participants/{pid}", headers={**pupil, "BVB-Position": bad}
        )
        assert answer.status_code == 400
        assert answer.json()["code"] == code


async def test_an_erased_participant_is_gone(service: "Service", ids: "Ids") -> None:
    pid = await full_portfolio(service, ids)
    cid = ids.uid("consent:dasha")
    c = service.catalogue
    result = await service.append(c.withdrawn(pid, cid), c.erased(pid))
    answer = await service.client.get(
        f"/portfolio/v1/participants/{pid}",
        headers={**service.token(Role.PUPIL, participant=str(pid)), **token(result, "consent")},
    )
    assert answer.status_code == 410
    assert answer.json()["code"] == "participant_erased"
    listed = await get(
        service,
        f"/portfolio/v1/schools/{ids.school_3}/participants",
        service.token(Role.NAVIGATOR, school=str(ids.school_3)),
    )
    assert str(pid) not in {item["participant_id"] for item in listed.json()["items"]}


async def test_unknown_participant_and_invalid_ids(service: "Service", ids: "Ids") -> None:
    operator = service.token(Role.OPERATOR)
    unknown = await service.client.get(
        f"/portfolio/v1/participants/{ids.pupil('nobody')}", headers=operator
    )
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "unknown_participant"
    invalid = await service.client.get("/portfolio/v1/participants/not-a-uuid", headers=operator)
    assert invalid.status_code == 422
    assert invalid.json()["code"] == "invalid_request"
    anonymous = await service.client.get(f"/portfolio/v1/participants/{ids.pupil('nobody')}")
    assert anonymous.status_code == 401


async def test_a_withdrawal_alone_closes_the_portfolio_for_all_but_the_school(
    service: "Service", ids: "Ids"
) -> None:
    """A whole withdrawal closes the participant's portfolio, whichever consent it names: here
    the newer one, still pending, while the older one was in force. No erasure has happened."""
    c = service.catalogue
    pid = await service.pupil_with_consent("withdraws")
    newer = ids.uid("consent:withdraws:2")
    await service.append(await c.submitted(pid, newer))
    await service.settle()
    url = f"/portfolio/v1/participants/{pid}"
    pupil = service.token(Role.PUPIL, participant=str(pid))
    before = await get(service, url, pupil)
    assert before.json()["consent"]["newer_pending"] is True
    result = await service.append(c.withdrawn(pid, newer))
    for headers in (
        pupil,
        service.token(Role.GUARDIAN, children=[str(pid)]),
        service.token(Role.COORDINATOR, region=str(ids.leningrad)),
        service.token(Role.OPERATOR),
    ):
        refused = await service.client.get(url, headers={**headers, **token(result, "consent")})
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "consent_required"
        assert refused.json()["consent_state"] == "withdrawn"
    school = await get(service, url, service.token(Role.NAVIGATOR, school=str(ids.school_3)))
    body = school.json()
    assert body["open"] is False
    assert body["consent"]["state"] == "withdrawn"
    assert body["consent"]["erase_by"] == "2019-12-01"
    assert body["consent"]["newer_pending"] is False
    assert body["diagnostics"] == []
    assert body["display_name"] is None


async def test_the_etag_follows_what_the_body_shows(service: "Service", ids: "Ids") -> None:
    c = service.catalogue
    pid = await service.pupil_with_consent("etag-reference")
    url = f"/portfolio/v1/participants/{pid}"
    pupil = service.token(Role.PUPIL, participant=str(pid))
    first = await get(service, url, pupil)
    etag = first.headers["ETag"]

    async def after(*events: Any) -> Any:
        nonlocal etag
        await service.append(*events)
        await service.settle()
        response = await service.client.get(url, headers={**pupil, "If-None-Match": etag})
        assert response.status_code == 200, (events[-1].event_type, response.status_code)
        assert response.headers["ETag"] != etag
        etag = response.headers["ETag"]
        return response.json()

    renamed = c.school(ids.school_3)
    renamed = renamed.model_copy(update={"name": "МОУ «СОШ № 3 им. Пушкина»"})
    assert (await after(renamed))["school"]["name"] == "МОУ «СОШ № 3 им. Пушкина»"
    region = c.region().model_copy(update={"name": "Ленинградская обл."})
    assert (await after(region))["region"]["name"] == "Ленинградская обл."
    rules = c.season_rules(rules_version=2, stages=STAGES[:2])
    assert (await after(rules))["progress"]["stages_total"] == 2
    window = c.window().model_copy(update={"closes_on": date(2019, 11, 30)})
    started = c.started(pid, ids.uid("attempt:etag"), STAGES[0])
    body = await after(started, window)
    assert body["diagnostics"][0]["window"]["closes_on"] == "2019-11-30"
    # A career event that reaches the portfolio after the booking shows on it.
    event, booking = ids.uid("career-event:etag"), ids.uid("booking:etag")
    assert (await after(c.booked(event, booking, pid)))["career_events"][0]["career_event"] is None
    shown = await after(c.career_event(event))
    assert shown["career_events"][0]["career_event"]["title"]

    # Nothing changed for this pupil: the same tag, and 304.
    other = await service.pupil_with_consent("someone-else")
    await service.append(await c.corrected(other, grade=9), c.instrument())
    await service.settle()
    same = await service.client.get(url, headers={**pupil, "If-None-Match": etag})
    assert same.status_code == 304
    assert same.headers["ETag"] == etag

    # The name that becomes unreadable (the key destroyed, the erasure not yet recorded).
    await service.app.state.portfolio.cipher.erase(str(pid))
    erased = await service.client.get(url, headers={**pupil, "If-None-Match": etag})
    assert erased.status_code == 200
    assert erased.json()["display_name"]["erased"] is True
    assert erased.headers["ETag"] != etag
    assert erased.headers["ETag"].endswith('-erased"')
