"""A school's week, end to end through the HTTP APIs of the embedded platform (issue #18's
proof): the registrar imports a class, chases the pupils whose consent is missing, submits their
consents; the region's coordinator verifies or rejects them from the queue; the school sees the
rejection's reasons; the federal operator merges a second profile of one child (no consent is
submitted under it any more); a pupil leaves;
a guardian's link is removed; the navigator reads the consent *state* of the school's pupils,
never a document."""

import asyncio
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest

from bilet.http import Role
from bilet.http.consistency import POSITION_HEADER
from bilet.http.devkeys import ensure_development_keys
from bilet.http.testing import app_lifespan
from bilet.settings import PlatformSettings
from bilet_consent.testing import PDF, consent_form
from bilet_host.embedded import create_embedded_host
from bilet_identity import demo as identity_demo
from bilet_identity.domain.snils import generate

SCHOOL = identity_demo.SCHOOLS[0].school_id
OTHER_SCHOOL = identity_demo.SCHOOLS[1].school_id
REGION = identity_demo.REGION_ID
SURNAMES = ("Недельская", "Недельцева", "Недельникова", "Недельская")
FIRST_NAMES = ("Алиса", "Вера", "Галина", "Дарья")
GRADE = 8


@pytest.fixture
async def platform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("BVB_VAR_DIR", str(tmp_path / "var"))
    host = create_embedded_host()
    async with app_lifespan(host) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bilet") as client:
            yield client


def bearer(role: Role, **claims: object) -> dict[str, str]:
    signer = ensure_development_keys(PlatformSettings().var_dir)
    return {"Authorization": f"Bearer {signer.mint(role, **claims)}"}  # type: ignore[arg-type]


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """A bounded wait for a read model fed from another service's stream."""
    for _ in range(200):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not seen within 10 s: {what}")


def class_list(today: date) -> tuple[str, list[str]]:
    """Four pupils of grade 8, class «В», born in the band of their grade; and their СНИЛС."""
    rng = random.Random(18)
    born = date(today.year - GRADE - 7, 3, 14)
    snilses = [generate(rng).formatted for _ in SURNAMES]
    rows = ["Фамилия,Имя,Отчество,Дата рождения,СНИЛС,Класс,Буква"]
    for number, (surname, first, snils) in enumerate(
        zip(SURNAMES, FIRST_NAMES, snilses, strict=True)
    ):
        day = born + timedelta(days=number)
        rows.append(f"{surname},{first},Игоревна,{day.isoformat()},{snils},{GRADE},В")
    return "\n".join(rows) + "\n", snilses


def consent_files(participant_id: str, today: date) -> dict[str, Any]:
    form = consent_form(
        participant_id,  # type: ignore[arg-type]
        form_version=f"{today.year}-1",
        signed_on=(today - timedelta(days=2)).isoformat(),
        valid_until=date(today.year + 1, 8, 31).isoformat(),
    )
    return {
        "consent": (None, json.dumps(form), "application/json"),
        "document": ("consent.pdf", PDF, "application/pdf"),
    }


async def test_a_schools_week(platform: httpx.AsyncClient) -> None:
    today = date.today()
    registrar = bearer(Role.REGISTRAR, school=str(SCHOOL))
    navigator = bearer(Role.NAVIGATOR, school=str(SCHOOL))
    coordinator = bearer(Role.COORDINATOR, region=str(REGION))
    operator = bearer(Role.OPERATOR)
    pupils_url = f"/identity/v1/schools/{SCHOOL}/pupils"

    # Monday: the registrar imports the class list; every row is registered.
    body, snilses = class_list(today)
    imported = await platform.post(
        "/identity/v1/participants/import",
        headers={**registrar, "content-type": "text/csv"},
        content=body.encode(),
    )
    rows = ok(imported)["rows"]
    assert [row["status"] for row in rows] == ["registered"] * 4, rows
    ids = [row["participant_id"] for row in rows]
    import_position = imported.headers[POSITION_HEADER]

    # The pupils to chase, by name in identity (a surname search), by state in consent.
    async def chased() -> list[dict[str, Any]]:
        page = await platform.get(
            pupils_url,
            headers=registrar,
            params={"surname": "недел", "consent": ["missing", "pending"]},
        )
        return list(ok(page)["pupils"])

    missing = await chased()
    assert {p["participant_id"] for p in missing} == set(ids)
    assert {(p["last_name"], p["class_letter"]) for p in missing} == {
        (surname, "В") for surname in SURNAMES
    }
    states = await platform.get(
        "/consent/v1/participants",
        headers={**registrar, POSITION_HEADER: import_position},
        params={"school": str(SCHOOL), "state": "none", "limit": "200"},
    )
    assert set(ids) <= {item["participant_id"] for item in ok(states)["items"]}

    # Tuesday: the school submits the consents of three of them.
    submitted: dict[str, str] = {}
    submissions: list[str] = []
    for participant_id in ids[:3]:
        answer = await platform.post(
            "/consent/v1/consents",
            headers={**registrar, POSITION_HEADER: import_position},
            files=consent_files(participant_id, today),
        )
        submitted[participant_id] = ok(answer, 201)["consent_id"]
        assert answer.headers["Location"].endswith(submitted[participant_id])
        submissions.append(answer.headers[POSITION_HEADER])

    # Wednesday: the coordinator works through the queue, oldest first.
    queue = ok(
        await platform.get(
            "/consent/v1/consents",
            headers={**coordinator, POSITION_HEADER: ",".join(submissions)},
            params={"status": "pending", "school": str(SCHOOL), "limit": "200"},
        )
    )["items"]
    ours = [item for item in queue if item["participant_id"] in submitted]
    assert [item["consent_id"] for item in ours] == [submitted[pid] for pid in ids[:3]]
    decided: list[str] = []
    for item, verdict in zip(ours, ("verify", "verify", "reject"), strict=True):
        consent_url = f"/consent/v1/consents/{item['consent_id']}"
        etag = (await platform.get(consent_url, headers=coordinator)).headers["ETag"]
        reasons = {"reasons": ["signature_missing"]} if verdict == "reject" else None
        answer = await platform.post(
            f"{consent_url}/{verdict}", headers={**coordinator, "If-Match": etag}, json=reasons
        )
        ok(answer)
        decided.append(answer.headers[POSITION_HEADER])
        # The ETag read before the decision is stale now: 412, nothing changes.
        stale = await platform.post(
            f"{consent_url}/{verdict}", headers={**coordinator, "If-Match": etag}, json=reasons
        )
        assert (stale.status_code, stale.json()["code"]) == (412, "stale_version")

    # The school sees its rejected consent with the reason, and chases only that pupil now.
    rejected = ok(
        await platform.get(
            "/consent/v1/consents",
            headers={**registrar, POSITION_HEADER: ",".join(decided)},
            params={"status": "rejected"},
        )
    )["items"]
    assert [
        (r["participant_id"], r["rejection_reasons"])
        for r in rejected
        if r["participant_id"] in ids
    ] == [(ids[2], ["signature_missing"])]

    async def chase_list_settled() -> bool:
        return {p["participant_id"] for p in await chased()} == {ids[3]}

    await eventually(chase_list_settled, "identity's list shows the verified pupils as such")

    # Thursday: the child of ids[0], moved to the other school, was registered there anew under
    # a mistyped СНИЛС; the right СНИЛС with the name spelt otherwise asks for a review.
    other_registrar = bearer(Role.REGISTRAR, school=str(OTHER_SCHOOL))
    born = date(today.year - GRADE - 7, 3, 14)
    pupil = {
        "last_name": SURNAMES[0],
        "first_name": FIRST_NAMES[0],
        "middle_name": "Игоревна",
        "birth_date": born.isoformat(),
        "grade": GRADE,
    }
    mistyped = generate(random.Random(1818)).formatted
    second = await platform.post(
        "/identity/v1/participants", headers=other_registrar, json={**pupil, "snils": mistyped}
    )
    duplicate = ok(second, 201)["participant_id"]
    clash = await platform.post(
        "/identity/v1/participants",
        headers=other_registrar,
        json={**pupil, "first_name": "Алисия", "snils": snilses[0]},
    )
    assert (clash.status_code, clash.json()["code"]) == (409, "duplicate_needs_review")
    reviews: list[dict[str, Any]] = (
        await platform.get("/identity/v1/duplicate-reviews", headers=operator)
    ).json()
    [review] = [r for r in reviews if r["participant_id"] == ids[0]]
    resolved = await platform.post(
        f"/identity/v1/duplicate-reviews/{review['review_id']}/resolution",
        headers=operator,
        json={"outcome": "same_child", "duplicate_participant_id": duplicate},
    )
    ok(resolved)
    # The other school cannot submit a consent under the closed profile: the kept one is named.
    closed = await platform.post(
        "/consent/v1/consents",
        headers={**other_registrar, POSITION_HEADER: resolved.headers[POSITION_HEADER]},
        files=consent_files(duplicate, today),
    )
    assert closed.status_code == 409, (closed.text, resolved.headers)
    assert closed.json()["code"] == "participant_merged"
    assert closed.json()["kept_participant_id"] == ids[0]
    merged = ok(await platform.get(f"/identity/v1/participants/{duplicate}", headers=operator))
    assert merged["merged_into"] == ids[0]
    other_list = ok(
        await platform.get(f"/identity/v1/schools/{OTHER_SCHOOL}/pupils", headers=other_registrar)
    )
    assert duplicate not in {p["participant_id"] for p in other_list["pupils"]}

    # Friday: the pupil still without a consent leaves the school; the lists drop them.
    left = await platform.post(
        f"/identity/v1/participants/{ids[3]}/departure",
        headers=registrar,
        json={"reason": "left_school"},
    )
    left_position = ok(left)["position"]
    assert await chased() == []
    listed = ok(await platform.get(pupils_url, headers=registrar, params={"surname": "недел"}))
    assert {p["participant_id"] for p in listed["pupils"]} == set(ids[:3])
    assert listed["total"] == 3
    after_departure = await platform.get(
        "/consent/v1/participants",
        headers={**navigator, POSITION_HEADER: left.headers[POSITION_HEADER]},
        params={"state": "none", "limit": "200"},
    )
    assert ids[3] not in {item["participant_id"] for item in ok(after_departure)["items"]}
    assert left_position > 0

    # A guardian's account linked by mistake is removed.
    guardian = str(uuid4())
    participant_url = f"/identity/v1/participants/{ids[1]}"
    ok(
        await platform.post(
            f"{participant_url}/guardians",
            headers=registrar,
            json={"guardian_id": guardian, "relationship": "parent"},
        ),
        201,
    )
    ok(await platform.delete(f"{participant_url}/guardians/{guardian}", headers=registrar))
    shown = ok(await platform.get(participant_url, headers=registrar))
    assert guardian not in {g["guardian_id"] for g in shown["guardians"] or []}

    # The navigator reads the state of the school's pupils' consents, never a document.
    states_now = ok(
        await platform.get(
            "/consent/v1/participants",
            headers={**navigator, POSITION_HEADER: ",".join(decided)},
            params={"limit": "200"},
        )
    )["items"]
    by_id = {item["participant_id"]: item["state"] for item in states_now}
    assert [by_id.get(pid) for pid in ids] == ["verified", "verified", "rejected", None]
    document = await platform.get(
        f"/consent/v1/consents/{submitted[ids[0]]}/document", headers=navigator
    )
    assert document.status_code == 403, document.text
