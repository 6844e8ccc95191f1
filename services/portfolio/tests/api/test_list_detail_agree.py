"""The portfolio's list and detail views never disagree about the same pupil (issue #18).

A table over every consent state, erasure, a move, and a pupil whose region differs from their
school's row (a school re-registered in another region), read by every list role: each pupil a
list shows is one its portfolio answers for (with the same consent state, openness and name),
and each pupil the portfolio answers for a caller who may list the school is in that list.
"""

from datetime import date
from typing import TYPE_CHECKING, Any
from uuid import UUID

from bilet.contracts.catalogue.consent import ConsentPurpose
from bilet.http import Role

if TYPE_CHECKING:
    from services.portfolio.tests.conftest import Ids, Service


async def pupils_in_every_state(service: "Service", ids: "Ids") -> list[UUID]:
    c = service.catalogue
    pupils: list[UUID] = []

    async def pupil(name: str, *events: Any, region: UUID | None = None) -> UUID:
        pid = ids.pupil(f"agree-{name}")
        registered = await c.registered(
            pid, region_id=region or ids.leningrad, name=(name.title(), "Дарья", None)
        )
        await service.append(registered, *events)
        pupils.append(pid)
        return pid

    def cid(name: str) -> UUID:
        return ids.uid(f"consent:agree-{name}")

    async def submitted(name: str, **kwargs: Any) -> Any:
        return await c.submitted(ids.pupil(f"agree-{name}"), cid(name), **kwargs)

    def verified(name: str, **kwargs: Any) -> Any:
        return c.verified(ids.pupil(f"agree-{name}"), cid(name), **kwargs)

    await pupil("none")
    await pupil("pending", await submitted("pending"))
    await pupil("open", await submitted("open"), verified("open"))
    expired = date(2019, 10, 1)
    await pupil(
        "expired",
        await submitted("expired", valid_until=expired),
        verified("expired", valid_until=expired),
    )
    await pupil(
        "rejected",
        await submitted("rejected"),
        c.rejected(ids.pupil("agree-rejected"), cid("rejected")),
    )
    withdrawn = ids.pupil("agree-withdrawn")
    await pupil(
        "withdrawn",
        await submitted("withdrawn"),
        verified("withdrawn"),
        c.withdrawn(withdrawn, cid("withdrawn")),
    )
    unwanted = ids.pupil("agree-notportfolio")
    await pupil(
        "notportfolio",
        await submitted("notportfolio"),
        verified("notportfolio"),
        c.purposes_withdrawn(unwanted, cid("notportfolio"), [ConsentPurpose.PORTFOLIO.value]),
    )
    erased = ids.pupil("agree-erased")
    await pupil("erased", await submitted("erased"), verified("erased"), c.erased(erased))
    moved = ids.pupil("agree-moved")
    await pupil(
        "moved",
        await submitted("moved"),
        verified("moved"),
        c.moved(moved, ids.school_5, ids.leningrad, 7),
    )
    # Registered while its school was in St Petersburg's row; then the school's row says the
    # Leningrad oblast again. The pupil's region and the school's differ.
    await service.append(c.school(ids.school_3, ids.spb))
    await pupil("elsewhere", await submitted("elsewhere"), verified("elsewhere"), region=ids.spb)
    await service.append(c.school(ids.school_3, ids.leningrad))
    await service.settle()
    return pupils


def callers(ids: "Ids") -> dict[str, tuple[Role, dict[str, str]]]:
    return {
        "navigator": (Role.NAVIGATOR, {"school": str(ids.school_3)}),
        "registrar": (Role.REGISTRAR, {"school": str(ids.school_3)}),
        "coordinator of the school's region": (Role.COORDINATOR, {"region": str(ids.leningrad)}),
        "coordinator of one pupil's region": (Role.COORDINATOR, {"region": str(ids.spb)}),
        "operator": (Role.OPERATOR, {}),
    }


async def whole_list(service: "Service", school: UUID, headers: dict[str, str]) -> Any:
    items: dict[str, Any] = {}
    params: dict[str, Any] = {"limit": 3}
    while True:
        response = await service.client.get(
            f"/portfolio/v1/schools/{school}/participants", headers=headers, params=params
        )
        if response.status_code != 200:
            return response
        body = response.json()
        assert body["total"] >= len(body["items"])
        items |= {item["participant_id"]: item for item in body["items"]}
        if body["next_cursor"] is None:
            assert body["total"] == len(items)
            return items
        params["cursor"] = body["next_cursor"]


async def test_the_list_and_the_portfolio_agree_on_every_pupil(
    service: "Service", ids: "Ids"
) -> None:
    pupils = await pupils_in_every_state(service, ids)
    for caller, (role, claims) in callers(ids).items():
        headers = service.token(role, **claims)
        listed = await whole_list(service, ids.school_3, headers)
        for pid in map(str, pupils):
            detail = await service.client.get(f"/portfolio/v1/participants/{pid}", headers=headers)
            case = f"{caller}: {pid} ({detail.status_code})"
            if not isinstance(listed, dict):
                # Refused the list: then no pupil of the school answers for this caller either.
                assert listed.status_code in (403, 404), caller
                assert detail.status_code in (404, 410), case
                continue
            school = detail.json().get("school") if detail.status_code == 200 else None
            elsewhere = school is not None and school["school_id"] != str(ids.school_3)
            if detail.status_code in (404, 410) or elsewhere:  # not this school's, or gone
                assert pid not in listed, case
                continue
            assert pid in listed, case
            item = listed[pid]
            if detail.status_code == 403:  # consent_required: the list shows the state alone
                problem = detail.json()
                assert problem["code"] == "consent_required", case
                assert item["consent"]["state"] == problem["consent_state"], case
                assert item["open"] is False, case
                assert item["progress"] is None, case
                assert item["display_name"] is None, case
                continue
            assert detail.status_code == 200, case
            body = detail.json()
            assert item["consent"]["state"] == body["consent"]["state"], case
            assert item["open"] == body["open"], case
            assert item["display_name"] == body["display_name"], case
            assert (item["progress"] is None) == (body["progress"] is None), case
            assert item["version"] == body["version"], case
