"""The participant's life through the API: registration, what each role sees, corrections,
guardians, moves, enrolments, and the read-your-writes token on every command."""

import json
import sqlite3
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import httpx

from bilet.audit import AUDIT_CATEGORY
from bilet.http import Role
from bilet.http.consistency import parse_position_tokens
from bilet_identity.domain.internal import INTERNAL_CATEGORIES

if TYPE_CHECKING:
    from services.identity.tests.conftest import Api, World


async def register(api: "Api", world: "World", **changes: Any) -> dict[str, Any]:
    response = await api.client.post(
        "/identity/v1/participants",
        headers=api.registrar(),
        json=world.pupil(
            health_limitations={"has_limitations": True, "kind": "musculoskeletal"},
            accessibility_needs=["step_free_access"],
            **changes,
        ),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert response.headers["BVB-Position"] == (
        f"identity:{body['position']}:participant-{body['participant_id']}"
    )
    assert response.headers["Location"].endswith(body["participant_id"])
    # The token's position is the published stream's own last event (the commit also wrote
    # internal reservation streams, which no relay publishes and no reader will ever reach).
    stream = f"participant-{body['participant_id']}"
    (last,) = await api.service.store.read_stream(stream, backwards=True, limit=1)
    assert last.position == body["position"]
    return body


async def test_regions_schools_and_seasons_are_listed_to_every_role(
    api: "Api", world: "World"
) -> None:
    pupil = api.token(Role.PUPIL, participant=str(uuid4()))
    regions = (await api.client.get("/identity/v1/regions", headers=pupil)).json()
    assert [r["region_code"] for r in regions] == ["47", "78"]
    assert regions[0]["seasons"] == [2019]
    assert (await api.client.get("/identity/v1/regions?season=2020", headers=pupil)).json() == []
    schools = (
        await api.client.get(f"/identity/v1/regions/{world.leningrad}/schools", headers=pupil)
    ).json()
    assert {s["name"] for s in schools} == {"МОУ «СОШ № 3»", "МБОУ «СОШ № 5»"}
    seasons = (await api.client.get("/identity/v1/seasons", headers=pupil)).json()
    assert seasons[0]["eligible_grades"] == {"lowest": 6, "highest": 11}


async def test_a_registered_pupil_is_shown_to_each_role_as_entitled(
    api: "Api", world: "World"
) -> None:
    registered = await register(api, world)
    pid = registered["participant_id"]
    url = f"/identity/v1/participants/{pid}"
    # Health data is shown only under a consent that covers it (docs/adr/0019).
    consented = {"BVB-Position": await api.consent_verified(pid)}

    async def seen(headers: dict[str, str]) -> dict[str, Any]:
        response = await api.client.get(url, headers=headers | consented)
        assert response.status_code == 200, response.text
        assert response.headers["ETag"] == '"0"'
        body: dict[str, Any] = response.json()
        return body

    full = await seen(api.registrar())
    assert full["personal"] == {
        "last_name": "Соколова",
        "first_name": "Дарья",
        "middle_name": "Андреевна",
        "birth_date": "2007-04-12",
        "snils": "112-233-445 95",
        "citizenship": "RU",
        "home_schooled": False,
        "health_limitations": {"has_limitations": True, "kind": "musculoskeletal"},
        "accessibility_needs": ["step_free_access"],
        "health_erased": False,
        "health_withheld": None,
    }
    assert (full["school_id"], full["season"], full["grade"]) == (str(world.school_3), 2019, 7)
    assert full["position"] >= registered["position"]
    for headers in (
        api.token(Role.PUPIL, participant=pid),
        api.token(Role.GUARDIAN, children=[pid]),
    ):
        assert (await seen(headers))["personal"] == full["personal"]
    for headers in (
        api.token(Role.OPERATOR),
        api.token(Role.NAVIGATOR, school=str(world.school_3)),
        api.token(Role.COORDINATOR, region=str(world.leningrad)),
    ):
        shown = await seen(headers)
        assert shown["personal"]["snils"] == "112-233-445 95"
        assert shown["personal"]["health_limitations"] is None  # special category: not theirs
        assert shown["personal"]["accessibility_needs"] is None
        assert shown["personal"]["health_withheld"] == "not_needed_by_role"
    support = await seen(api.token(Role.SUPPORT))
    assert support["personal"] is None
    assert support["guardians"] is None
    assert "accessibility_needs" not in support  # health data (docs/adr/0017)
    for headers in (
        api.registrar(world.school_5),
        api.token(Role.NAVIGATOR, school=str(world.school_5)),
        api.token(Role.COORDINATOR, region=str(world.spb)),
        api.token(Role.PUPIL, participant=str(uuid4())),
        api.token(Role.GUARDIAN, children=[str(uuid4())]),
    ):
        # Not theirs is answered as unknown: a stranger learns nothing of the child's existence.
        refused = await api.client.get(url, headers=headers)
        assert (refused.status_code, refused.json()["code"]) == (404, "unknown_participant")
        unknown = await api.client.get(f"/identity/v1/participants/{uuid4()}", headers=headers)
        assert unknown.json() == refused.json()


async def test_corrections_seal_anew_and_move_the_reservation(api: "Api", world: "World") -> None:
    pid = (await register(api, world))["participant_id"]
    url = f"/identity/v1/participants/{pid}"
    corrected = await api.client.patch(
        url,
        headers={**api.registrar(), "If-Match": '"0"'},
        json={"reason": "document_changed", "last_name": "Громова", "snils": "141-008-407 99"},
    )
    assert corrected.status_code == 200, corrected.text
    assert corrected.headers["ETag"] == '"1"'
    assert corrected.json()["version"] == 1
    shown = (await api.client.get(url, headers=api.registrar())).json()
    assert (shown["personal"]["last_name"], shown["personal"]["snils"]) == (
        "Громова",
        "141-008-407 99",
    )
    assert shown["personal"]["middle_name"] == "Андреевна"
    # The old СНИЛС is free again; the new one is this participant's.
    other = await api.client.post(
        "/identity/v1/participants",
        headers=api.registrar(),
        json=world.pupil(first_name="Мария", birth_date="2008-02-02"),
    )
    assert other.status_code == 201, other.text
    again = await api.client.post(
        "/identity/v1/participants",
        headers=api.registrar(),
        json=world.pupil(last_name="Громова", snils="14100840799"),
    )
    assert again.json()["code"] == "duplicate_participant"
    assert again.json()["existing_participant_id"] == pid
    # Repeating the same correction changes nothing.
    same = await api.client.patch(url, headers=api.registrar(), json={"last_name": "Громова"})
    assert same.json()["version"] == 1


async def test_guardians_moves_and_enrolments(api: "Api", world: "World") -> None:
    pid = (await register(api, world))["participant_id"]
    base = f"/identity/v1/participants/{pid}"
    guardian = str(uuid4())
    linked = await api.client.post(
        f"{base}/guardians",
        headers=api.registrar(),
        json={"guardian_id": guardian, "relationship": "parent"},
    )
    # A link recorded is a creation: 201, `Location` the participant, its id and version.
    assert linked.status_code == 201, linked.text
    assert linked.headers["Location"] == f"/identity/v1/participants/{pid}"
    assert (linked.json()["participant_id"], linked.json()["version"]) == (pid, 0)
    assert position_of(linked) == linked.json()["position"]
    again = await api.client.post(
        f"{base}/guardians",
        headers=api.registrar(),
        json={"guardian_id": guardian, "relationship": "parent"},
    )
    assert again.status_code == 200, again.text  # nothing new recorded
    # The school's link is a claim, shown, never a grant: the account it names reads nothing
    # without the identity provider's `children` claim.
    by_link_only = api.token(Role.GUARDIAN, subject=guardian)
    assert (await api.client.get(base, headers=by_link_only)).status_code == 404
    by_claim = api.token(Role.GUARDIAN, subject=guardian, children=[pid])
    shown = (await api.client.get(base, headers=by_claim)).json()
    assert shown["guardians"] == [{"guardian_id": guardian, "relationship": "parent"}]
    assert shown["personal"]["last_name"] == "Соколова"

    moved = await api.client.post(
        f"{base}/moves",
        headers=api.registrar(),
        json={"to_school_id": str(world.spb_school), "grade": 8},
    )
    assert moved.status_code == 200, moved.text
    assert (await api.client.get(base, headers=api.registrar())).status_code == 404
    spb = api.registrar(world.spb_school)
    shown = (await api.client.get(base, headers=spb)).json()
    assert (shown["school_id"], shown["region_id"], shown["grade"]) == (
        str(world.spb_school),
        str(world.spb),
        8,
    )
    operator = api.token(Role.OPERATOR)
    rules = {
        "eligible_grades": {"lowest": 6, "highest": 11},
        "max_career_events": 3,
        "diagnostics_stages": ["interests", "soft_skills", "professions_knowledge"],
        "starts_on": "2020-09-01",
        "ends_on": "2021-05-31",
    }
    published = await api.client.put(
        "/identity/v1/seasons/2020/rules", headers=operator, json=rules
    )
    assert published.json()["rules_version"] == 1
    not_yet = await api.client.post(
        f"{base}/enrolments", headers=spb, json={"season": 2020, "grade": 9}
    )
    assert not_yet.json()["reasons"] == ["region_not_admitted"]
    for code in ("78", "47"):
        await api.client.post(
            "/identity/v1/regions",
            headers=operator,
            json={
                "region_code": code,
                "name": "Регион",
                "season": 2020,
                "time_zone": "Europe/Moscow",
                "coordinator": "Центр",
            },
        )
    enrolled = await api.client.post(
        f"{base}/enrolments", headers=spb, json={"season": 2020, "grade": 9}
    )
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.headers["Location"] == base
    assert (enrolled.json()["participant_id"], enrolled.json()["version"]) == (pid, 2)
    shown = (await api.client.get(base, headers=spb)).json()
    assert [(e["season"], e["grade"]) for e in shown["enrolments"]] == [(2019, 8), (2020, 9)]


async def test_admin_commands_return_read_your_writes_tokens(api: "Api", world: "World") -> None:
    coordinator = api.token(Role.COORDINATOR, region=str(world.leningrad))
    created = await api.client.post(
        f"/identity/v1/regions/{world.leningrad}/schools",
        headers=coordinator,
        json={"name": "МОУ «Оредежская СОШ»", "municipality": "Лужский муниципальный район"},
    )
    assert created.status_code == 201, created.text
    position = position_of(created)
    assert position == created.json()["position"] > 0
    schools = (
        await api.client.get(f"/identity/v1/regions/{world.leningrad}/schools", headers=coordinator)
    ).json()
    assert created.json()["school_id"] in {s["school_id"] for s in schools}
    window = await api.client.post(
        f"/identity/v1/regions/{world.leningrad}/diagnostics-windows",
        headers=coordinator,
        json={
            "season": 2019,
            "stages": ["interests", "soft_skills", "professions_knowledge"],
            "opens_on": "2019-10-11",
            "closes_on": "2019-10-31",
        },
    )
    assert position_of(window) > position
    region = (await api.client.get("/identity/v1/regions", headers=coordinator)).json()[0]
    assert region["diagnostics_windows"][0]["opens_on"] == "2019-10-11"


async def test_personal_data_is_sealed_in_the_store_and_every_access_is_audited(
    api: "Api", world: "World"
) -> None:
    pid = (await register(api, world))["participant_id"]
    consented = {"BVB-Position": await api.consent_verified(pid)}
    url = f"/identity/v1/participants/{pid}"
    await api.client.get(url, headers=api.registrar() | consented)
    await api.client.get(url, headers=api.token(Role.SUPPORT) | consented)
    await api.client.get(url, headers=api.token(Role.OPERATOR) | consented)
    store = api.service.store
    records = await store.read_all(limit=10_000)
    raw = b"".join(r.data + r.metadata for r in records)
    for secret in ("Соколова", "Андреевна", "112-233-445", "11223344595", "2007-04-12"):
        assert secret.encode() not in raw
    database = sqlite3.connect(api.var_dir / "identity.sqlite3")
    dump = "\n".join(database.iterdump())
    database.close()
    assert "Соколова" not in dump
    assert "11223344595" not in dump
    categories = {r.category for r in records}
    assert {"reservation", "profile", "participant", AUDIT_CATEGORY} <= categories
    assert {
        "reservation",
        "profile",
        AUDIT_CATEGORY,
        "secret",
        "grant",
        "bindingcode",
        "account",
    } == INTERNAL_CATEGORIES
    audits = [r for r in records if r.category == AUDIT_CATEGORY]
    trail = [json.loads(a.data) for a in audits]
    assert [(t["access"], t["purpose"], t["subject"]) for t in trail] == [
        ("write", "register_participant", pid),
        ("read", "participant_view", pid),
        ("read", "participant_health_view", pid),
        ("read", "participant_view", pid),
    ]  # support saw no personal data: nothing to audit; the operator no health data
    assert "snils" in trail[1]["fields"]
    assert "health_limitations" not in trail[1]["fields"]
    assert set(trail[2]["fields"]) == {"health_limitations", "accessibility_needs"}
    assert "health_limitations" not in trail[3]["fields"]
    assert UUID(pid)


def position_of(response: httpx.Response) -> int:
    """The position in a command's read-your-writes token (`identity:<position>[:<stream>]`)."""
    (token,) = parse_position_tokens(response.headers["BVB-Position"])
    assert token.source == "identity"
    return token.position
