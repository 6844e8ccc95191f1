"""Who may do what, route by route, for every role, with claims naming the caller's own venue,
career events, region, school and pupil, and with claims naming someone else's: the matrix of
`application.access` over HTTP. Exactly the allowed calls answer 2xx; every other one answers 403
(a role with no access) or 404 (something that is not the caller's is answered as unknown): an
organiser never sees another venue's roster, a mentor only their own career events.

The state a route changes is set up again after each success; the allowed calls run last, so
that the refused ones meet the state in which only the role or the scope can refuse them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import httpx

from bilet.http import Role

if TYPE_CHECKING:
    from services.events.tests.api.conftest import Api

OWN, FOREIGN = "own", "foreign"
Case = tuple[Role, str]
EVERYONE = {(role, scope) for role in Role for scope in (OWN, FOREIGN)}
PUBLISHERS = {(Role.ORGANISER, OWN), (Role.COORDINATOR, OWN)}
SCHOOL = {(Role.PUPIL, OWN), (Role.REGISTRAR, OWN), (Role.NAVIGATOR, OWN)}
ON_THE_DAY = {(Role.ORGANISER, OWN), (Role.MENTOR, OWN)}
ALLOWED: dict[str, set[Case]] = {
    "publish": PUBLISHERS,
    "revise": PUBLISHERS,
    "cancel": PUBLISHERS,
    "catalogue": EVERYONE,
    "career_event": EVERYONE,
    "suitable_for": {*SCHOOL, (Role.GUARDIAN, OWN)},
    "book": SCHOOL,
    "cancel_booking": SCHOOL,
    "roster": ON_THE_DAY,
    "attendance": ON_THE_DAY,
    "feedback": {(Role.MENTOR, OWN)},
}
# The pupil each route is about (their token's `participant`, a guardian's `children`).
PUPIL_OF = {"book": "misha", "cancel_booking": "lena", "suitable_for": "misha"}


def _caller(api: Api, role: Role, scope: str, pupil: str) -> dict[str, str]:
    """A token of `role` whose every scope claim names the caller's own things (the college, its
    mentor, Leningrad oblast, СОШ № 3, the route's pupil), or someone else's."""
    if scope == OWN:
        return api.token(
            role,
            subject=str(api.MENTOR),
            venue=str(api.COLLEGE),
            region=str(api.REGION),
            school=str(api.SCHOOL_3),
            participant=str(api.pupils[pupil]),
            children=[str(api.pupils[pupil])],
        )
    return api.token(
        role,
        subject=str(api.OTHER_MENTOR),
        venue=str(api.TECHNOPARK),
        region=str(api.OTHER_REGION),
        school=str(api.SCHOOL_5),
        participant=str(api.pupils["kolya"]),
        children=[str(api.pupils["kolya"])],
    )


@dataclass
class Scene:
    """The career events and bookings the calls act on, made again once a call consumed them."""

    api: Api
    made: dict[str, Any] = field(default_factory=dict)

    async def career_event(self, key: str, *, soon: bool = False, **overrides: Any) -> Any:
        if key not in self.made:
            starts = self.api.clock.now + (timedelta(hours=1) if soon else timedelta(days=30))
            self.made[key] = await self.api.published(starts_at=starts, capacity=10, **overrides)
        return self.made[key]

    def used(self, *keys: str) -> None:
        for key in keys:
            self.made.pop(key, None)

    async def booking(self, key: str, pupil: str) -> tuple[Any, str]:
        published = await self.career_event("bookable")
        if key not in self.made:
            self.made[key] = await self.api.booked(published, pupil)
        return published, self.made[key]

    async def started_with(self, key: str, pupil: str, *, attended: bool) -> tuple[Any, str]:
        """A session that started an hour ago with `pupil` booked (and, when `attended`, marked
        present by the organiser)."""
        if key not in self.made:
            published = await self.career_event(f"{key}-event", soon=True)
            booking_id = await self.api.booked(published, pupil)
            self.api.clock.advance(timedelta(hours=2))
            if attended:
                marked = await self.api.client.post(
                    _attendance_url(self.api, published),
                    headers=self.api.organiser(),
                    json={"records": [{"booking_id": booking_id, "attended": True}]},
                )
                assert marked.status_code == 200, marked.text
            self.made[key] = (published, booking_id)
        started: tuple[Any, str] = self.made[key]
        return started


def _attendance_url(api: Api, published: Any) -> str:
    session_id = published["sessions"][0]["session_id"]
    return f"{api.EVENTS}/{published['career_event_id']}/sessions/{session_id}/attendance"


Call = Callable[[Scene, dict[str, str]], Awaitable[httpx.Response]]


async def _publish(scene: Scene, headers: dict[str, str]) -> httpx.Response:
    return await scene.api.publish(headers=headers)


async def _revise(scene: Scene, headers: dict[str, str]) -> httpx.Response:
    published = await scene.career_event("revisable")
    url = f"{scene.api.EVENTS}/{published['career_event_id']}"
    return await scene.api.client.put(
        url,
        headers=headers,
        json=scene.api.revision(starts_at=scene.api.clock.now + timedelta(days=30), capacity=10),
    )


async def _cancel(scene: Scene, headers: dict[str, str]) -> httpx.Response:
    published = await scene.career_event("cancellable")
    url = f"{scene.api.EVENTS}/{published['career_event_id']}/cancellation"
    response = await scene.api.client.post(url, headers=headers, json={"reason": "safety"})
    if response.is_success:
        scene.used("cancellable")
    return response


async def _catalogue(scene: Scene, headers: dict[str, str]) -> httpx.Response:
    await scene.career_event("listed")
    return await scene.api.client.get(scene.api.EVENTS, headers=headers)


async def _career_event(scene: Scene, headers: dict[str, str]) -> httpx.Response:
    published = await scene.career_event("listed")
    url = f"{scene.api.EVENTS}/{published['career_event_id']}"
    return await scene.api.client.get(url, headers=headers)


async def _suitable_for(scene: Scene, headers: dict[str, str]) -> httpx.Response:
    params = {"suitable_for": str(scene.api.pupils["misha"])}
    return await scene.api.client.get(scene.api.EVENTS, headers=headers, params=params)


async def _book(scene: Scene, headers: dict[str, str]) -> httpx.Response:
    api = scene.api
    published = await scene.career_event("bookable")
    response = await api.book(published, "misha", headers=headers)
    if response.is_success:  # give it up again: the season's maximum stays far
        cancelled = await api.client.delete(
            f"{api.EVENTS}/{published['career_event_id']}/bookings/{response.json()['booking_id']}",
            headers=api.pupil("misha"),
        )
        assert cancelled.status_code == 200, cancelled.text
    return response


async def _cancel_booking(scene: Scene, headers: dict[str, str]) -> httpx.Response:
    published, booking_id = await scene.booking("lena's seat", "lena")
    url = f"{scene.api.EVENTS}/{published['career_event_id']}/bookings/{booking_id}"
    response = await scene.api.client.delete(url, headers=headers)
    if response.is_success:
        scene.used("lena's seat")
    return response


async def _roster(scene: Scene, headers: dict[str, str]) -> httpx.Response:
    published, _ = await scene.booking("lena's seat", "lena")
    url = f"{scene.api.EVENTS}/{published['career_event_id']}/roster"
    return await scene.api.client.get(url, headers=headers)


async def _attendance(scene: Scene, headers: dict[str, str]) -> httpx.Response:
    published, booking_id = await scene.started_with("petya started", "petya", attended=False)
    response = await scene.api.client.post(
        _attendance_url(scene.api, published),
        headers=headers,
        json={"records": [{"booking_id": booking_id, "attended": False}]},
    )
    if response.is_success:
        scene.used("petya started", "petya started-event")
    return response


async def _feedback(scene: Scene, headers: dict[str, str]) -> httpx.Response:
    published, booking_id = await scene.started_with("sasha attended", "sasha", attended=True)
    body = {
        "booking_id": booking_id,
        "task_completion": "partly_completed",
        "skills_shown": [],
        "interest_shown": "moderate",
        "suggested_environments": [],
    }
    url = f"{scene.api.EVENTS}/{published['career_event_id']}/feedback"
    response = await scene.api.client.post(url, headers=headers, json=body)
    if response.is_success:
        scene.used("sasha attended", "sasha attended-event")
    return response


CALLS: dict[str, Call] = {
    "publish": _publish,
    "revise": _revise,
    "cancel": _cancel,
    "catalogue": _catalogue,
    "career_event": _career_event,
    "suitable_for": _suitable_for,
    "book": _book,
    "cancel_booking": _cancel_booking,
    "roster": _roster,
    "attendance": _attendance,
    "feedback": _feedback,
}


async def test_exactly_the_allowed_calls_succeed(api: Api) -> None:
    scene = Scene(api)
    wrong: list[tuple[str, Role, str, int]] = []
    succeeded = 0
    for route, call in CALLS.items():
        cases = sorted(
            ((role, scope) for role in Role for scope in (OWN, FOREIGN)),
            key=lambda case: case in ALLOWED[route],  # the allowed ones last
        )
        for role, scope in cases:
            headers = _caller(api, role, scope, PUPIL_OF.get(route, "misha"))
            response = await call(scene, headers)
            allowed = (role, scope) in ALLOWED[route]
            succeeded += response.is_success
            if allowed != response.is_success or (
                not allowed and response.status_code not in (403, 404)
            ):
                wrong.append((route, role, scope, response.status_code))
    assert wrong == []
    assert succeeded == sum(len(cases) for cases in ALLOWED.values())


async def test_a_refused_role_is_told_so_before_anything_is_looked_up(api: Api) -> None:
    """A role that never may is 403 `forbidden`, even about a career event that does not exist;
    about the roster, anyone but its venue's organiser and its mentors finds no such career
    event (404: an organiser of another venue or another mentor learns nothing)."""
    scene = Scene(api)
    published = await scene.career_event("listed")
    roster = f"{api.EVENTS}/{published['career_event_id']}/roster"
    nowhere = f"{api.EVENTS}/{uuid4()}/cancellation"

    as_pupil = await api.client.post(nowhere, headers=api.pupil("misha"), json={"reason": "safety"})
    other_venue = await api.client.get(roster, headers=api.organiser(api.TECHNOPARK))
    other_mentor = await api.client.get(roster, headers=api.mentor(api.OTHER_MENTOR))

    assert (as_pupil.status_code, as_pupil.json()["code"]) == (403, "forbidden")
    assert (other_venue.status_code, other_venue.json()["code"]) == (404, "unknown_career_event")
    assert (other_mentor.status_code, other_mentor.json()["code"]) == (404, "unknown_career_event")
