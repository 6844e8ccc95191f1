"""A school's list searched by surname prefix, with a total (ADR 0044): names the caller sees
only, no plaintext kept, an erased or renamed pupil no longer found by the old surname."""

from typing import TYPE_CHECKING, Any
from uuid import UUID

from bilet.http import Role

if TYPE_CHECKING:
    from services.portfolio.tests.conftest import Ids, Service

SURNAMES = ("Соколова", "Сорокин", "Смирнова", "Соколов-Белый", "Орлов")


async def school_of_surnames(service: "Service", ids: "Ids") -> dict[str, UUID]:
    """Pupils of school 3 with the surnames above (consent verified) and one «Сотов» whose
    portfolio is closed (no consent)."""
    c = service.catalogue
    pupils: dict[str, UUID] = {}
    for n, surname in enumerate(SURNAMES):
        pid = ids.pupil(f"surname-{n}")
        cid = ids.uid(f"consent:surname-{n}")
        await service.append(
            await c.registered(pid, name=(surname, "Дарья", None)),
            await c.submitted(pid, cid),
            c.verified(pid, cid),
        )
        pupils[surname] = pid
    closed = ids.pupil("surname-closed")
    await service.append(await c.registered(closed, name=("Сотов", "Иван", None)))
    pupils["Сотов"] = closed
    await service.settle()
    return pupils


async def search(service: "Service", ids: "Ids", role: Role, **params: Any) -> Any:
    claims = {"region": str(ids.leningrad)} if role is Role.COORDINATOR else {}
    if role in (Role.NAVIGATOR, Role.REGISTRAR):
        claims = {"school": str(ids.school_3)}
    return await service.client.get(
        f"/portfolio/v1/schools/{ids.school_3}/participants",
        headers=service.token(role, **claims),
        params=params,
    )


def surnames_of(body: Any) -> list[str]:
    return sorted(item["display_name"]["last_name"] for item in body["items"])


async def test_the_navigator_finds_pupils_by_the_start_of_their_surname(
    service: "Service", ids: "Ids"
) -> None:
    await school_of_surnames(service, ids)
    found = (await search(service, ids, Role.NAVIGATOR, surname="со")).json()
    # Case, «ё» and spacing are folded; the closed portfolio's «Сотов» is not matched: its name
    # is not shown to the navigator, so it is not searched either.
    assert surnames_of(found) == ["Соколов-Белый", "Соколова", "Сорокин"]
    assert found["total"] == 3
    assert surnames_of((await search(service, ids, Role.NAVIGATOR, surname=" СОКОЛ ")).json()) == [
        "Соколов-Белый",
        "Соколова",
    ]
    assert (await search(service, ids, Role.NAVIGATOR, surname="Соколов-Б")).json()["total"] == 1
    assert (await search(service, ids, Role.COORDINATOR, surname="ор")).json()["total"] == 1
    nobody = (await search(service, ids, Role.NAVIGATOR, surname="Я")).json()
    assert nobody["items"] == []
    assert nobody["total"] == 0


async def test_search_pages_and_the_total_counts_every_page(service: "Service", ids: "Ids") -> None:
    await school_of_surnames(service, ids)
    everyone = (await search(service, ids, Role.NAVIGATOR, limit=2)).json()
    assert everyone["total"] == 6  # five open, one closed: every pupil of the school
    seen: list[str] = []
    params: dict[str, Any] = {"surname": "с", "limit": 1}
    while True:
        body = (await search(service, ids, Role.NAVIGATOR, **params)).json()
        assert body["total"] == 4
        seen += surnames_of(body)
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]
    assert sorted(seen) == ["Смирнова", "Соколов-Белый", "Соколова", "Сорокин"]
    # A cursor is bound to the search: with another surname it is refused.
    first = (await search(service, ids, Role.NAVIGATOR, surname="с", limit=1)).json()
    other = await search(
        service, ids, Role.NAVIGATOR, surname="со", limit=1, cursor=first["next_cursor"]
    )
    assert other.status_code == 400
    assert other.json()["code"] == "invalid_cursor"


async def test_no_plaintext_surname_is_kept(service: "Service", ids: "Ids") -> None:
    await school_of_surnames(service, ids)
    assert (await search(service, ids, Role.NAVIGATOR, surname="сор")).json()["total"] == 1
    stored = b"".join(
        path.read_bytes() for path in service.settings.var_dir.glob("portfolio-readmodel*")
    )
    assert stored
    for surname in SURNAMES:
        assert surname.encode() not in stored
        assert surname.casefold().encode() not in stored
    index = service.app.state.portfolio.surnames
    assert len(index) == len(SURNAMES)
    assert "сор" not in repr(index)
    assert "Сорокин" not in repr(index)


async def test_who_may_search_and_what_is_refused(service: "Service", ids: "Ids") -> None:
    await school_of_surnames(service, ids)
    for role in (Role.REGISTRAR, Role.OPERATOR):  # they see no names: nothing to search
        refused = await search(service, ids, role, surname="со")
        assert refused.status_code == 403, role
        assert refused.json()["code"] == "forbidden"
    refusals = {"": 422, "с1": 422, "%": 422, "с" * 61: 422, "со\x00": 400}
    for bad, status in refusals.items():
        answer = await search(service, ids, Role.NAVIGATOR, surname=bad)
        assert answer.status_code == status, bad
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["code"] == ("invalid_request" if status == 422 else "invalid_text")
    assert len(service.app.state.portfolio.surnames) == 0  # nothing was indexed by refusals


async def test_erased_and_renamed_pupils_are_not_found_by_their_old_surname(
    service: "Service", ids: "Ids"
) -> None:
    pupils = await school_of_surnames(service, ids)
    assert (await search(service, ids, Role.NAVIGATOR, surname="сок")).json()["total"] == 2
    index = service.app.state.portfolio.surnames
    c = service.catalogue
    await service.append(
        c.erased(pupils["Соколова"]),
        await c.corrected(pupils["Соколов-Белый"], last_name="Белов"),
    )
    await service.settle()
    assert (await search(service, ids, Role.NAVIGATOR, surname="сок")).json()["total"] == 0
    assert surnames_of((await search(service, ids, Role.NAVIGATOR, surname="бел")).json()) == [
        "Белов"
    ]
    assert len(index) == len(SURNAMES) - 1  # the erased pupil's entry is purged
    # A key destroyed before the erasure is recorded: the name reads as erased, and is dropped.
    await service.app.state.portfolio.cipher.erase(str(pupils["Сорокин"]))
    assert (await search(service, ids, Role.NAVIGATOR, surname="сор")).json()["total"] == 0
    assert len(index) == len(SURNAMES) - 2
