"""A school's list (filters, sorts, cursor paging) and a guardian's children."""

import base64
import json
from typing import TYPE_CHECKING, Any

from bilet.contracts.vocabulary import Stage
from bilet.http import Role

if TYPE_CHECKING:
    from services.portfolio.tests.conftest import Ids, Service


async def listing(service: "Service", school: Any, headers: dict[str, str], **params: Any) -> Any:
    response = await service.client.get(
        f"/portfolio/v1/schools/{school}/participants", headers=headers, params=params
    )
    assert response.status_code == 200, response.text
    return response.json()


async def school_of_five(service: "Service", ids: "Ids") -> list[str]:
    """Five pupils of school 3 (grades 6–8, varied progress), one without consent, one in
    school 5."""
    c = service.catalogue
    pids = [await service.pupil_with_consent(f"p{n}", grade=6 + n % 3) for n in range(5)]
    await service.pupil_with_consent("elsewhere", school_id=ids.school_5)
    lonely = ids.pupil("lonely")
    await service.append(await c.registered(lonely, grade=8))
    first, second = pids[0], pids[1]
    event = ids.uid("career-event:list")
    await service.append(
        c.completed(first, ids.uid("attempt:a"), Stage.INTERESTS),
        c.completed(first, ids.uid("attempt:b"), Stage.SOFT_SKILLS),
        c.completed(first, ids.uid("attempt:c"), Stage.PROFESSIONS_KNOWLEDGE),
        c.career_event(event),
        c.booked(event, ids.uid("booking:a"), first),
        c.attended(event, ids.uid("booking:a"), first),
        c.booked(event, ids.uid("booking:b"), second),
    )
    await service.settle()
    return [str(p) for p in pids]


async def test_the_navigator_pages_through_their_school(service: "Service", ids: "Ids") -> None:
    pids = await school_of_five(service, ids)
    navigator = service.token(Role.NAVIGATOR, school=str(ids.school_3))
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = await listing(service, ids.school_3, navigator, **params)
        seen += [item["participant_id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    lonely = str(ids.pupil("lonely"))
    assert sorted(seen) == sorted([*pids, lonely])
    assert seen == sorted(seen)
    assert pages == 3
    everyone = await listing(service, ids.school_3, navigator)
    by_id = {item["participant_id"]: item for item in everyone["items"]}
    assert by_id[lonely]["open"] is False
    assert by_id[lonely]["consent"]["state"] == "none"
    assert by_id[lonely]["display_name"] is None
    assert by_id[lonely]["progress"] is None
    assert by_id[pids[0]]["display_name"]["first_name"] == "Дарья"
    assert by_id[pids[0]]["progress"]["stages_completed"] == 3


async def test_filters_and_sorts(service: "Service", ids: "Ids") -> None:
    pids = await school_of_five(service, ids)
    navigator = service.token(Role.NAVIGATOR, school=str(ids.school_3))

    async def found(**params: Any) -> list[str]:
        body = await listing(service, ids.school_3, navigator, **params)
        return [item["participant_id"] for item in body["items"]]

    assert set(await found(grade=6)) == {pids[0], pids[3]}
    assert await found(consent="none") == [str(ids.pupil("lonely"))]
    assert set(await found(consent="verified")) == set(pids)
    assert set(await found(progress="no_career_event")) == set(pids) - {pids[0]}
    assert await found(progress="career_event_attended") == [pids[0]]
    assert await found(progress="career_event_booked") == [pids[1]]
    assert await found(progress="diagnostics_complete") == [pids[0]]
    assert set(await found(progress="no_diagnostics")) == set(pids) - {pids[0]}
    assert await found(progress="recommendations_issued") == []
    grades = [
        item["grade"]
        for item in (await listing(service, ids.school_3, navigator, sort="-grade"))["items"]
    ]
    assert grades == sorted(grades, reverse=True)
    ranked = await found(sort="-progress", limit=1)
    assert ranked == [pids[0]]
    # Paging a sorted list: every pupil once, in order.
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"sort": "-grade", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = await listing(service, ids.school_3, navigator, **params)
        seen += [item["participant_id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 6


async def test_a_cursor_is_bound_to_its_query(service: "Service", ids: "Ids") -> None:
    await school_of_five(service, ids)
    navigator = service.token(Role.NAVIGATOR, school=str(ids.school_3))
    body = await listing(service, ids.school_3, navigator, limit=2)
    cursor = body["next_cursor"]
    for params in (
        {"cursor": cursor, "sort": "-grade"},
        {"cursor": cursor, "grade": 7},
        {"cursor": "not-a-cursor"},
        {"cursor": cursor[:-3] + "abc"},
    ):
        refused = await service.client.get(
            f"/portfolio/v1/schools/{ids.school_3}/participants", headers=navigator, params=params
        )
        assert refused.status_code == 400, params
        assert refused.json()["code"] == "invalid_cursor"


async def test_the_coordinator_sees_their_region_only(service: "Service", ids: "Ids") -> None:
    await school_of_five(service, ids)
    coordinator = service.token(Role.COORDINATOR, region=str(ids.leningrad))
    body = await listing(service, ids.school_5, coordinator)
    assert len(body["items"]) == 1
    other = service.token(Role.COORDINATOR, region=str(ids.spb))
    refused = await service.client.get(
        f"/portfolio/v1/schools/{ids.school_3}/participants", headers=other
    )
    assert refused.status_code == 403
    unknown = await service.client.get(
        f"/portfolio/v1/schools/{ids.uid('school:none')}/participants",
        headers=service.token(Role.OPERATOR),
    )
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "unknown_school"


async def test_a_guardian_sees_the_children_their_token_names(
    service: "Service", ids: "Ids"
) -> None:
    """Only the identity provider's `children` claim counts: a `GuardianLinked` naming the
    token's subject (its guardian id comes from a form a registrar uploaded) grants nothing."""
    c = service.catalogue
    claimed = await service.pupil_with_consent("claimed")
    linked = await service.pupil_with_consent("linked")
    await service.pupil_with_consent("not-mine")
    guardian = ids.uid("guardian:linked")
    await service.append(await c.guardian(linked, guardian, ids.uid("consent:linked")))
    await service.settle()
    headers = service.token(Role.GUARDIAN, subject=str(guardian), children=[str(claimed)])
    response = await service.client.get("/portfolio/v1/me/children", headers=headers)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [item["participant_id"] for item in items] == [str(claimed)]
    assert items[0]["display_name"]["first_name"] == "Дарья"
    mine = await service.client.get(f"/portfolio/v1/participants/{claimed}", headers=headers)
    assert mine.status_code == 200
    assert mine.headers["ETag"].endswith('-guardian-verified"')
    not_mine = await service.client.get(f"/portfolio/v1/participants/{linked}", headers=headers)
    assert not_mine.status_code == 404
    assert not_mine.json()["code"] == "unknown_participant"
    # The link is shown on the child's portfolio, to those who see it.
    shown = await service.client.get(
        f"/portfolio/v1/participants/{linked}", headers=service.token(Role.OPERATOR)
    )
    assert shown.json()["guardians"] == [
        {"guardian_id": str(guardian), "relationship": "parent", "linked_at": ANY_TIME}
    ]
    for role in (Role.PUPIL, Role.NAVIGATOR, Role.OPERATOR):
        refused = await service.client.get("/portfolio/v1/me/children", headers=service.token(role))
        assert refused.status_code == 403


class _AnyTime:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and other.startswith("20")

    def __hash__(self) -> int:
        return 0


ANY_TIME: Any = _AnyTime()


async def closed_pupil_with_progress(service: "Service", ids: "Ids") -> str:
    """A pupil of school 3 without consent who completed every stage and attended a career
    event: more progress than anyone, none of it visible."""
    c = service.catalogue
    closed = ids.pupil("closed-achiever")
    event = ids.uid("career-event:closed")
    await service.append(
        await c.registered(closed, grade=9),
        c.completed(closed, ids.uid("attempt:x1"), Stage.INTERESTS),
        c.completed(closed, ids.uid("attempt:x2"), Stage.SOFT_SKILLS),
        c.completed(closed, ids.uid("attempt:x3"), Stage.PROFESSIONS_KNOWLEDGE),
        c.career_event(event),
        c.booked(event, ids.uid("booking:x"), closed),
        c.attended(event, ids.uid("booking:x"), closed),
    )
    await service.settle()
    return str(closed)


def _unpadded(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def cursor_payload(cursor: str) -> Any:
    """What a cursor carries (it is signed, not secret: it holds nothing the page did not)."""
    return json.loads(_unpadded(cursor.partition(".")[0]))


def forged(cursor: str, **changes: Any) -> str:
    """`cursor` with its payload changed and its signature (if any) kept."""
    payload, dot, signature = cursor.partition(".")
    altered = json.dumps({**json.loads(_unpadded(payload)), **changes}).encode()
    return base64.urlsafe_b64encode(altered).decode().rstrip("=") + dot + signature


async def test_a_forged_truncated_or_foreign_cursor_is_400_invalid_cursor(
    service: "Service", ids: "Ids"
) -> None:
    await school_of_five(service, ids)
    await service.pupil_with_consent("elsewhere-2", school_id=ids.school_5)
    navigator = service.token(Role.NAVIGATOR, school=str(ids.school_3))
    coordinator = service.token(Role.COORDINATOR, region=str(ids.leningrad))
    by_grade = (await listing(service, ids.school_3, navigator, limit=2, sort="grade"))[
        "next_cursor"
    ]
    by_update = (await listing(service, ids.school_3, navigator, limit=2, sort="updated_at"))[
        "next_cursor"
    ]
    of_school_5 = (await listing(service, ids.school_5, coordinator, limit=1))["next_cursor"]
    attempts: list[tuple[str, dict[str, Any], str]] = [
        (by_grade, {"sort": "grade"}, forged(by_grade, v=10**30)),  # beyond any integer column
        (by_grade, {"sort": "grade"}, forged(by_grade, v=6)),  # plausible, but not ours
        (by_grade, {"sort": "grade"}, forged(by_grade, id="x\u0000y")),
        (by_update, {"sort": "updated_at"}, forged(by_update, v="\u0000")),
        (by_update, {"sort": "updated_at"}, forged(by_update, v="9" * 100)),
        (by_grade, {"sort": "grade"}, by_grade[: len(by_grade) // 2]),
        (by_grade, {"sort": "grade"}, by_grade[:-4]),
        (by_grade, {"sort": "grade"}, by_grade + "A"),
        (of_school_5, {}, of_school_5),  # another school's list
    ]
    for original, params, cursor in attempts:
        assert original is not None
        refused = await service.client.get(
            f"/portfolio/v1/schools/{ids.school_3}/participants",
            headers=coordinator,
            params={**params, "limit": 2, "cursor": cursor},
        )
        assert refused.status_code == 400, (cursor_payload(original), refused.text)
        assert refused.json()["code"] == "invalid_cursor"
    # The genuine cursors still page on.
    for cursor, params in ((by_grade, {"sort": "grade"}), (by_update, {"sort": "updated_at"})):
        await listing(service, ids.school_3, navigator, limit=2, cursor=cursor, **params)


async def test_closed_portfolios_sort_as_having_no_progress(service: "Service", ids: "Ids") -> None:
    pids = await school_of_five(service, ids)
    closed = await closed_pupil_with_progress(service, ids)
    lonely = str(ids.pupil("lonely"))
    navigator = service.token(Role.NAVIGATOR, school=str(ids.school_3))
    for sort in ("progress", "-progress", "updated_at", "-updated_at"):
        seen: list[str] = []
        cursors: list[Any] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"sort": sort, "limit": 1}
            if cursor:
                params["cursor"] = cursor
            body = await listing(service, ids.school_3, navigator, **params)
            seen += [item["participant_id"] for item in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
            cursors.append(cursor_payload(cursor))
        # Every pupil once; the closed ones last, in id order, whatever the direction.
        assert sorted(seen) == sorted([*pids, closed, lonely]), sort
        assert seen[-2:] == sorted([closed, lonely]), sort
        assert set(seen[:-2]) == set(pids), sort
        # A cursor after a closed row carries nothing of its portfolio.
        after_closed = [c for c in cursors if c["id"] in (closed, lonely)]
        assert after_closed, sort
        assert all(c["v"] is None for c in after_closed), sort
    ranked = await listing(service, ids.school_3, navigator, sort="-progress", limit=1)
    assert [item["participant_id"] for item in ranked["items"]] == [pids[0]]
    assert cursor_payload(ranked["next_cursor"])["v"] == 4  # pids[0]: 3 stages + 1 attended


async def test_the_registrar_sees_consent_states_only(service: "Service", ids: "Ids") -> None:
    pids = await school_of_five(service, ids)
    registrar = service.token(Role.REGISTRAR, school=str(ids.school_3))
    body = await listing(service, ids.school_3, registrar, sort="-progress")
    items = body["items"]
    assert len(items) == 6
    assert all(item["progress"] is None and item["display_name"] is None for item in items)
    assert all(item["updated_at"] is None for item in items)
    by_id = {item["participant_id"]: item for item in items}
    assert by_id[pids[0]]["open"] is True
    assert by_id[pids[0]]["consent"]["state"] == "verified"
    # Sorted by nothing it may see: participant ids, and no progress to filter by.
    assert [item["participant_id"] for item in items] == sorted(by_id)
    assert await listing(service, ids.school_3, registrar, progress="diagnostics_complete") == {
        "school_id": str(ids.school_3),
        "items": [],
        "next_cursor": None,
        "total": 0,
    }
    portfolio = await service.client.get(f"/portfolio/v1/participants/{pids[0]}", headers=registrar)
    assert portfolio.status_code == 200
    shown = portfolio.json()
    assert shown["open"] is True
    assert shown["consent"]["state"] == "verified"
    assert shown["display_name"] is None
    assert shown["progress"] is None
    assert shown["diagnostics"] == shown["career_events"] == shown["history"] == []
    assert portfolio.headers["ETag"].endswith('-registrar-verified"')


async def test_consent_states_are_named_as_the_consent_service_names_them(
    service: "Service", ids: "Ids"
) -> None:
    c = service.catalogue
    waiting = ids.pupil("waiting")
    await service.append(
        await c.registered(waiting), await c.submitted(waiting, ids.uid("consent:waiting"))
    )
    await service.settle()
    navigator = service.token(Role.NAVIGATOR, school=str(ids.school_3))
    body = await listing(service, ids.school_3, navigator, consent="pending")
    assert [item["participant_id"] for item in body["items"]] == [str(waiting)]
    assert body["items"][0]["consent"]["state"] == "pending"
    old_name = await service.client.get(
        f"/portfolio/v1/schools/{ids.school_3}/participants",
        headers=navigator,
        params={"consent": "submitted"},
    )
    assert old_name.status_code == 422
    assert old_name.json()["code"] == "invalid_request"
