"""Bulk import of a class list (CSV): each row registered or rejected on its own, a summary,
nothing new the second time, broken files refused whole, 10,000 rows in one request."""

import asyncio
import random
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from bilet.http import Role
from bilet_identity.domain.snils import generate

if TYPE_CHECKING:
    from services.identity.tests.conftest import Api, World

URL = "/identity/v1/participants/import"
CLASS_LIST = (
    "\ufeffФамилия;Имя;Отчество;Дата рождения;СНИЛС;Класс;ОВЗ;Потребности\n"
    "Соколова;Дарья;Андреевна;12.04.2007;112-233-445 95;7;нет;\n"
    "Громов;Фёдор;Ильич;30.01.2008;141-008-407 99;6;musculoskeletal;step_free_access\n"
    "Ёлкина;Алёна;;01.09.2006;026-002-389 00;8;;\n"
    "Петров;Пётр;Петрович;01.09.2006;026-002-389 01;8;;\n"
    "Сидоров;Иван;;01.09.2012;030-214-884 00;2;;\n"
    "Соколова;Мария;;12.04.2007;112-233-445 95;7;;\n"
    "Орлова;Кира;;31.02.2007;110-767-574 49;7;;\n"
)


async def upload(
    api: "Api", content: bytes, headers: dict[str, str] | None = None, **params: str
) -> httpx.Response:
    return await api.client.post(
        URL,
        headers={**(headers or api.registrar()), "content-type": "text/csv"},
        content=content,
        params=params,
    )


async def participants_in_store(api: "Api") -> int:
    records = await api.service.store.read_all(limit=100_000, categories=["participant"])
    return len(records)


async def test_each_row_is_registered_or_rejected_with_its_own_error(api: "Api") -> None:
    response = await upload(api, CLASS_LIST.encode())
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    assert report["summary"] == {
        "rows": 7,
        "registered": 3,
        "already_registered": 0,
        "rejected": 4,
    }
    outcomes = [(r["line"], r["status"], r["code"]) for r in report["rows"]]
    assert outcomes == [
        (2, "registered", None),
        (3, "registered", None),
        (4, "registered", None),
        (5, "rejected", "invalid_snils"),
        (6, "rejected", "not_eligible"),
        (7, "rejected", "duplicate_needs_review"),  # same СНИЛС as line 2, another child
        (8, "rejected", "invalid_details"),
    ]
    assert report["rows"][4]["reasons"] == ["grade_out_of_range"]
    assert report["rows"][5]["existing_participant_id"] == report["rows"][0]["participant_id"]
    assert report["rows"][6]["field"] == "birth_date"
    assert "Орлова" not in response.text  # errors never quote a cell
    assert response.headers["BVB-Position"] == f"identity:{report['position']}"
    assert report["position"] > 0
    pid = report["rows"][1]["participant_id"]
    # The health data imported is shown once a consent covers it (docs/adr/0019).
    consented = {"BVB-Position": await api.consent_verified(pid)}
    shown = (
        await api.client.get(
            f"/identity/v1/participants/{pid}", headers=api.registrar() | consented
        )
    ).json()
    assert shown["personal"]["last_name"] == "Громов"
    assert shown["personal"]["health_limitations"]["kind"] == "musculoskeletal"
    assert shown["personal"]["accessibility_needs"] == ["step_free_access"]


async def test_a_row_whose_name_mixes_alphabets_is_rejected_on_its_own(api: "Api") -> None:
    content = (
        "Фамилия;Имя;Дата рождения;СНИЛС;Класс\n"
        "Иванoв;Пётр;12.04.2007;112-233-445 95;7\n"  # a Latin o
        "Громов;Фёдор;30.01.2008;141-008-407 99;6\n"
    ).encode()
    report = (await upload(api, content)).json()
    assert report["summary"]["registered"] == 1
    mixed, ordinary = report["rows"]
    assert (mixed["line"], mixed["status"], mixed["code"], mixed["field"]) == (
        2,
        "rejected",
        "invalid_details",
        "last_name",
    )
    assert ordinary["status"] == "registered"
    assert await participants_in_store(api) == 1


async def test_the_same_file_twice_creates_nothing_new(api: "Api") -> None:
    first = (await upload(api, CLASS_LIST.encode())).json()
    stored = await participants_in_store(api)
    second = (await upload(api, CLASS_LIST.encode())).json()
    assert second["summary"] == {
        "rows": 7,
        "registered": 0,
        "already_registered": 3,
        "rejected": 4,
    }
    assert [r["participant_id"] for r in second["rows"][:3]] == [
        r["participant_id"] for r in first["rows"][:3]
    ]
    assert await participants_in_store(api) == stored == 3


async def test_the_same_file_imported_twice_at_once_creates_each_child_once(api: "Api") -> None:
    rng = random.Random(5)
    names = ("Пётр", "Иван", "Олег", "Фёдор", "Павел", "Глеб", "Лев", "Марк", "Ян", "Яков")
    # 1,200 different children (a name and birth date each their own), born January to May 2007.
    rows = [
        f"Иванов;{names[n % 10]};{date(2007, 1, 1) + timedelta(days=n // 10):%d.%m.%Y};"
        f"{generate(rng).formatted};7"
        for n in range(1200)
    ]
    content = ("Фамилия;Имя;Дата рождения;СНИЛС;Класс\n" + "\n".join(rows)).encode()
    one, two = await asyncio.gather(upload(api, content), upload(api, content))
    summaries = [one.json()["summary"], two.json()["summary"]]
    assert sum(s["registered"] for s in summaries) == 1200
    assert sum(s["already_registered"] for s in summaries) == 1200
    assert await participants_in_store(api) == 1200


async def test_a_file_not_in_utf8_is_refused_whole(api: "Api") -> None:
    response = await upload(api, CLASS_LIST.replace("\ufeff", "").encode("cp1251"))
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_encoding"
    assert await participants_in_store(api) == 0


async def test_missing_columns_are_named(api: "Api") -> None:
    response = await upload(api, "Фамилия;Имя;Класс\nСоколова;Дарья;7\n".encode())
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "missing_columns"
    assert body["missing_columns"] == ["birth_date", "snils"]


async def test_broken_and_hostile_files(api: "Api") -> None:
    for content, status, code in (
        (b"", 422, "invalid_csv"),
        (
            'Фамилия;Имя;Дата рождения;СНИЛС;Класс\n"Сок"олова;Д;2007-01-01;1;7\n'.encode(),
            422,
            "invalid_csv",
        ),
        (
            "Фамилия;Имя;Дата рождения;СНИЛС;Класс\nСок\x00;Д;2007-01-01;1;7\n".encode(),
            400,
            "invalid_text",
        ),
        # The request guard's whole set, as in any other free text: a bidi override, a C1
        # control, a line separator, a zero-width space.
        *(
            (
                f"Фамилия;Имя;Дата рождения;СНИЛС;Класс\nСок{c};Д;2007-01-01;1;7\n".encode(),
                400,
                "invalid_text",
            )
            for c in ("\u202e", "\x9b", "\u2028", "\u200b")
        ),
    ):
        response = await upload(api, content)
        assert (response.status_code, response.json()["code"]) == (status, code)
    assert await participants_in_store(api) == 0


async def test_only_a_registrar_for_their_own_school(api: "Api", world: "World") -> None:
    other = await upload(api, CLASS_LIST.encode(), school_id=str(world.school_5))
    assert (other.status_code, other.json()["code"]) == (403, "forbidden")
    navigator = api.token(Role.NAVIGATOR, school=str(world.school_3))
    refused = await upload(api, CLASS_LIST.encode(), headers=navigator)
    assert refused.status_code == 403
    own = await upload(api, CLASS_LIST.encode(), school_id=str(world.school_3), season="2019")
    assert own.status_code == 200
    unknown = await upload(api, CLASS_LIST.encode(), season="2020")
    assert (unknown.status_code, unknown.json()["code"]) == (422, "unknown_season")


# serial: CPU-bound (ten thousand rows through the decider): a known load flake
# beside other tests, and it gains nothing from running beside them on two cores.
@pytest.mark.serial
async def test_ten_thousand_rows_are_each_registered_or_rejected(api: "Api") -> None:
    rng = random.Random(10_000)
    header = "last_name,first_name,middle_name,birth_date,snils,grade,accessibility_needs"
    lines = [header]
    surnames = ("Кузнецова", "Иванова", "Смирнова", "Попова", "Васильева")
    names = ("Анна", "Мария", "Дарья", "Елена", "Ольга")
    fathers = ("Сергеевна", "Петровна", "Ивановна", "Олеговна")
    for n in range(10_000):
        needs = "large_print|quiet_space" if n % 97 == 0 else ""
        # Ten thousand different children: no two share a name and a birth date (that would be
        # one child under two СНИЛС, a review); born January to August 2007, grades 6–8.
        name = f"{surnames[n % 5]},{names[n // 5 % 5]},{fathers[n // 25 % 4]}"
        born = date(2007, 1, 1) + timedelta(days=n // 100)
        lines.append(
            f"{name},{born:%d.%m.%Y},{generate(rng).formatted},{rng.choice((6, 7, 8))},{needs}"
        )
    content = "\n".join(lines).encode()
    response = await upload(api, content)
    assert response.status_code == 200, response.text[:500]
    summary = response.json()["summary"]
    assert summary["rows"] == 10_000
    assert summary["registered"] + summary["rejected"] == 10_000
    # Random СНИЛС numbers may collide (birthday problem); a clash is a review, never a profile.
    rejected = {r["code"] for r in response.json()["rows"] if r["status"] == "rejected"}
    assert rejected <= {"duplicate_needs_review", "duplicate_participant"}
    assert await participants_in_store(api) == summary["registered"]
