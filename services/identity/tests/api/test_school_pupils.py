"""A school's pupils for its registrar and navigators (issue #18, docs/adr/0041): cursor-paged by
grade, searchable by the first letters of a surname through a blind index (no plaintext of the
name kept for it: not in the store, not in the events), with each pupil's consent state — the
pupils whose consent is missing or pending shown by name to their school, which must chase them."""

import random
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import pytest

from bilet.contracts import SealedValue
from bilet.contracts.catalogue.consent import (
    ConsentRejected,
    ConsentSubmitted,
    Purpose,
    RejectionReason,
    Relationship,
)
from bilet.contracts.examples import sealed
from bilet.http import Role
from bilet_identity.domain.snils import generate

if TYPE_CHECKING:
    from services.identity.tests.conftest import Api, World

PUPILS = (
    ("Иванова", "Анна", 7),
    ("Иванов", "Пётр", 8),
    ("Ёлкина", "Мария", 7),
    ("Петров", "Иван", 7),
    ("Иваненко", "Олег", 9),
)


def _submitted(participant_id: UUID, consent_id: UUID, school_id: UUID) -> ConsentSubmitted:
    return ConsentSubmitted(
        participant_id=participant_id,
        consent_id=consent_id,
        school_id=school_id,
        document_id=uuid4(),
        form_version="2019-1",
        purposes=tuple(Purpose),
        signed_on=date.today(),
        valid_until=date.today() + timedelta(days=365),
        guardian_id=uuid4(),
        relationship=Relationship.PARENT,
        guardian_full_name=SealedValue.model_validate(sealed("guardian_full_name")),
        guardian_passport=SealedValue.model_validate(sealed("guardian_passport")),
    )


async def _register_class(api: "Api", world: "World") -> dict[str, str]:
    """The five pupils of school 3 and one of school 5; their ids by surname."""
    rng = random.Random(18)
    ids: dict[str, str] = {}
    for last_name, first_name, grade in PUPILS:
        body = world.pupil(
            last_name=last_name,
            first_name=first_name,
            grade=grade,
            birth_date=f"{2014 - grade}-04-12",  # 12 in grade 7 on 1 September 2019
            snils=generate(rng).formatted,
        )
        response = await api.client.post(
            "/identity/v1/participants", headers=api.registrar(), json=body
        )
        assert response.status_code == 201, response.text
        ids[last_name] = response.json()["participant_id"]
    other = world.pupil(last_name="Иванчук", snils=generate(rng).formatted)
    response = await api.client.post(
        "/identity/v1/participants", headers=api.registrar(world.school_5), json=other
    )
    assert response.status_code == 201, response.text
    return ids


async def _list(
    api: "Api", school: UUID, headers: dict[str, str] | None = None, **params: Any
) -> dict[str, Any]:
    response = await api.client.get(
        f"/identity/v1/schools/{school}/pupils",
        headers=headers or api.registrar(school),
        params=params,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _surnames(page: dict[str, Any]) -> list[str]:
    return [pupil["last_name"] for pupil in page["pupils"]]


async def test_the_registrar_pages_through_the_schools_pupils_by_grade(
    api: "Api", world: "World"
) -> None:
    await _register_class(api, world)
    first = await _list(api, world.school_3, limit=2)
    assert first["total"] == 5
    assert _surnames(first) == ["Иванова", "Ёлкина"]  # grade 7, in the order registered
    second = await _list(api, world.school_3, limit=2, cursor=first["next_cursor"])
    assert _surnames(second) == ["Петров", "Иванов"]
    last = await _list(api, world.school_3, limit=2, cursor=second["next_cursor"])
    assert _surnames(last) == ["Иваненко"]
    assert last["next_cursor"] is None
    pupil = last["pupils"][0]
    assert (pupil["first_name"], pupil["grade"], pupil["season"]) == ("Олег", 9, 2019)
    assert pupil["erased"] is False
    assert _surnames(await _list(api, world.school_3, grade=7)) == ["Иванова", "Ёлкина", "Петров"]


async def test_a_surname_prefix_finds_the_pupils_whatever_the_case_and_yo(
    api: "Api", world: "World"
) -> None:
    await _register_class(api, world)
    found = await _list(api, world.school_3, surname="ива")
    # Not Иванчук: another school's pupil.
    assert sorted(_surnames(found)) == ["Иваненко", "Иванов", "Иванова"]
    assert found["total"] == 3
    assert _surnames(await _list(api, world.school_3, surname="ИВАНОВ")) == [
        "Иванова",
        "Иванов",
    ]
    assert _surnames(await _list(api, world.school_3, surname="елк")) == ["Ёлкина"]
    assert (await _list(api, world.school_3, surname="Сидор"))["pupils"] == []
    assert (await _list(api, world.school_3, surname="  "))["total"] == 0


async def test_the_surnames_index_keeps_no_plaintext_in_the_store(
    api: "Api", world: "World"
) -> None:
    await _register_class(api, world)
    stored = await api.service.store.read_all(0, 10_000)
    indexed = [record for record in stored if record.type == "SurnameIndexed"]
    assert len(indexed) == 6
    for record in stored:
        text = str(record.data).casefold()
        for letters in ("иван", "елк", "ёлк"):
            assert letters not in text


async def test_a_corrected_surname_is_found_by_its_new_letters_only(
    api: "Api", world: "World"
) -> None:
    ids = await _register_class(api, world)
    response = await api.client.patch(
        f"/identity/v1/participants/{ids['Петров']}",
        headers=api.registrar(),
        json={"last_name": "Сидоров"},
    )
    assert response.status_code == 200, response.text
    assert _surnames(await _list(api, world.school_3, surname="сид")) == ["Сидоров"]
    assert (await _list(api, world.school_3, surname="Петр"))["total"] == 0


async def test_the_school_sees_by_name_whose_consent_is_missing_or_pending(
    api: "Api", world: "World"
) -> None:
    ids = await _register_class(api, world)
    pending = uuid4()
    await api.consent_recorded(
        ids["Иванова"], _submitted(UUID(ids["Иванова"]), pending, world.school_3)
    )
    await api.consent_verified(ids["Ёлкина"])
    rejected = uuid4()
    token = await api.consent_recorded(
        ids["Петров"],
        _submitted(UUID(ids["Петров"]), rejected, world.school_3),
        ConsentRejected(
            participant_id=UUID(ids["Петров"]),
            consent_id=rejected,
            reasons=(RejectionReason.UNREADABLE_SCAN,),
        ),
    )
    await api.shown(ids["Петров"], api.registrar(), token)  # consent's events are applied
    states = {
        p["last_name"]: p["consent_state"] for p in (await _list(api, world.school_3))["pupils"]
    }
    assert states == {
        "Иванова": "pending",
        "Ёлкина": "verified",
        "Петров": "rejected",
        "Иванов": "missing",
        "Иваненко": "missing",
    }
    chase = await _list(api, world.school_3, consent=["missing", "pending"])
    assert sorted(_surnames(chase)) == ["Иваненко", "Иванов", "Иванова"]
    assert chase["total"] == 3
    navigator = api.token(Role.NAVIGATOR, school=str(world.school_3))
    assert (await _list(api, world.school_3, navigator, consent=["pending"]))["pupils"][0][
        "first_name"
    ] == "Анна"


async def test_only_the_schools_own_staff_see_its_list(api: "Api", world: "World") -> None:
    await _register_class(api, world)
    url = f"/identity/v1/schools/{world.school_3}/pupils"
    for headers in (
        api.registrar(world.school_5),
        api.token(Role.NAVIGATOR, school=str(world.school_5)),
        api.token(Role.OPERATOR),
        api.token(Role.COORDINATOR, region=str(world.leningrad)),
        api.token(Role.SUPPORT),
    ):
        response = await api.client.get(url, headers=headers)
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "forbidden"
    unknown = world.unregistered_school
    response = await api.client.get(
        f"/identity/v1/schools/{unknown}/pupils", headers=api.registrar(unknown)
    )
    assert (response.status_code, response.json()["code"]) == (404, "school_not_found")
    response = await api.client.get(url, headers=api.registrar(), params={"cursor": "x"})
    assert (response.status_code, response.json()["code"]) == (422, "invalid_request")


async def test_the_class_letter_is_shown_when_recorded_and_follows_the_pupil(
    api: "Api", world: "World"
) -> None:
    rng = random.Random(7)
    lettered = world.pupil(class_letter="б", snils=generate(rng).formatted)
    registered = await api.client.post(
        "/identity/v1/participants", headers=api.registrar(), json=lettered
    )
    assert registered.status_code == 201, registered.text
    pid = registered.json()["participant_id"]
    csv = (
        "Фамилия;Имя;Дата рождения;СНИЛС;Класс\n"
        f"Громов;Фёдор;30.01.2008;{generate(rng).formatted};6 «В»\n"
        f"Орлов;Глеб;03.03.2008;{generate(rng).formatted};6\n"
    )
    imported = await api.client.post(
        "/identity/v1/participants/import",
        headers=api.registrar() | {"Content-Type": "text/csv"},
        content=csv.encode(),
    )
    assert imported.json()["summary"]["registered"] == 2, imported.text

    async def letters() -> dict[str, Any]:
        pupils = (await _list(api, world.school_3))["pupils"]
        return {p["last_name"]: (p["grade"], p["class_letter"]) for p in pupils}

    assert await letters() == {"Соколова": (7, "Б"), "Громов": (6, "В"), "Орлов": (6, None)}
    corrected = await api.client.patch(
        f"/identity/v1/participants/{pid}", headers=api.registrar(), json={"class_letter": "А"}
    )
    assert corrected.status_code == 200, corrected.text
    assert (await letters())["Соколова"] == (7, "А")
    bad = await api.client.patch(
        f"/identity/v1/participants/{pid}", headers=api.registrar(), json={"class_letter": "Q"}
    )
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_request")
    moved = await api.client.post(
        f"/identity/v1/participants/{pid}/moves",
        headers=api.registrar(),
        json={"to_school_id": str(world.school_5)},
    )
    assert moved.status_code == 200, moved.text
    there = (await _list(api, world.school_5))["pupils"]
    assert [(p["last_name"], p["class_letter"]) for p in there] == [("Соколова", None)]


async def test_pupils_registered_before_the_index_are_indexed_once(
    api: "Api", world: "World", monkeypatch: pytest.MonkeyPatch
) -> None:
    service = api.service
    # As before the index existed: the registration records no `SurnameIndexed`.
    monkeypatch.setattr(service.pseudonyms, "surname_prefix_keys", lambda _: ())
    ids = await _register_class(api, world)
    monkeypatch.undo()
    assert (await _list(api, world.school_3, surname="Ива"))["total"] == 0
    assert await service.index_missing_surnames() == 6
    assert await service.index_missing_surnames() == 0  # once
    found = await _list(api, world.school_3, surname="Ива")
    assert sorted(p["participant_id"] for p in found["pupils"]) == sorted(
        ids[name] for name in ("Иванова", "Иванов", "Иваненко")
    )
