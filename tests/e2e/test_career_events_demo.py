"""`make run`'s career events, as a newcomer meets them: the embedded host loads the events
demo at start (this week's Luga career events and the 2019 history), and the tokens `bvb run`
prints work — the organiser's (the demo college) and the mentor's see the college's roster with
the pupils' names, another venue's organiser does not, the printed pupil books a seat, and the
2019 history (attended career events with mentor feedback) is in most demo portfolios."""

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from bilet.eventstore.sqlite import SqliteEventStore
from bilet.http import Role
from bilet.http.consistency import POSITION_HEADER
from bilet.http.devkeys import ensure_development_keys
from bilet.http.service import token_verifier_from
from bilet.settings import PlatformSettings
from bilet_events import demo_offers
from bilet_host.cli import demo_tokens, demo_tokens_banner, main
from bilet_host.embedded import EmbeddedHost
from bilet_host.testing import running_demo
from bilet_identity import demo as identity_demo

# The history is taken in the background of the start: it is done well within this.
DEMO_SECONDS = 600


# The tests that use the demo share one host (ADR 0072: starting it and loading its demo was
# most of their time), so they run on the module's event loop, where it runs. They touch
# different things: the college's roster, a booking at the technopark, the 2019 portfolios.
on_the_demos_loop = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def demo(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[Role, dict[str, str]]]]:
    """`make run`'s host (the host's own test helper), once its events demo is loaded, and the
    tokens `bvb run` prints for it."""
    async with running_demo(tmp_path_factory.mktemp("career-events-demo") / "var") as host:
        await _demo_loaded(host)
        transport = httpx.ASGITransport(app=host)
        async with httpx.AsyncClient(transport=transport, base_url="http://bilet") as client:
            tokens = demo_tokens(PlatformSettings())
            yield client, {role: {"Authorization": f"Bearer {t}"} for role, t in tokens.items()}


async def _demo_loaded(host: EmbeddedHost) -> None:
    app = next(service.app for service in host.services if service.name == "events")
    task: asyncio.Task[None] = app.state.demo
    await asyncio.wait_for(asyncio.shield(task), DEMO_SECONDS)
    assert task.exception() is None


def test_the_events_demo_knows_identitys_region_schools_and_pupils() -> None:
    assert demo_offers.REGION_ID == identity_demo.REGION_ID
    assert demo_offers.MUNICIPALITY == identity_demo.MUNICIPALITY
    assert [s for s, _ in demo_offers.SCHOOLS] == [s.school_id for s in identity_demo.SCHOOLS]
    assert [p for p, _ in demo_offers.demo_pupils()] == [
        identity_demo.participant_id(school, number)
        for school in identity_demo.SCHOOLS
        for number in range(1, school.pupils + 1)
    ]


async def test_a_restart_loads_nothing_again(tmp_path: Path) -> None:
    heads = []
    for _ in range(2):
        async with running_demo(tmp_path / "var") as host:
            await _demo_loaded(host)
        store = await SqliteEventStore.open(tmp_path / "var" / "events.sqlite3")
        try:
            heads.append(await store.head_position())
        finally:
            await store.close()
    first, second = heads
    assert first > 0
    assert second == first


def test_bvb_run_prints_the_organiser_and_mentor_tokens(tmp_path: Path) -> None:
    settings = PlatformSettings(var_dir=tmp_path)
    printed = demo_tokens_banner(settings)
    lines = dict(line.split() for line in printed.splitlines() if line.startswith("  "))
    signer = token_verifier_from(settings)
    organiser = signer.verify(lines[Role.ORGANISER.value])
    assert organiser.role is Role.ORGANISER
    assert organiser.venue_id == str(demo_offers.DEMO_COLLEGE)
    mentor = signer.verify(lines[Role.MENTOR.value])
    assert mentor.role is Role.MENTOR
    assert mentor.subject == str(demo_offers.DEMO_MENTOR)


@on_the_demos_loop
async def test_the_printed_organiser_and_mentor_see_the_colleges_roster(
    demo: tuple[httpx.AsyncClient, dict[Role, dict[str, str]]], capsys: pytest.CaptureFixture[str]
) -> None:
    client, tokens = demo
    week = demo_offers.this_week(identity_today())
    college_event = week[0]
    assert college_event.organiser_id == demo_offers.DEMO_COLLEGE
    path = f"/events/v1/career-events/{college_event.career_event_id}/roster"
    for role in (Role.ORGANISER, Role.MENTOR):
        roster = await client.get(path, headers=tokens[role])
        assert roster.status_code == 200, roster.text
        pupils = roster.json()["sessions"][0]["pupils"]
        assert len(pupils) == demo_offers.WEEK_PREBOOKED
        assert all(pupil["display_name"] for pupil in pupils), "names for the check-in"
        assert all(pupil["school_name"] == "МБОУ «СОШ № 5»" for pupil in pupils)
    # Each pupil the organiser saw is in the audit trail `bvb audit who-read` answers from.
    capsys.readouterr()
    arguments = ["audit", "who-read", "--actor", "demo-organiser", "--json"]
    assert await asyncio.to_thread(main, arguments) == 0
    *reads, summary = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert "events" in summary["services"]
    assert {read["subject"] for read in reads if read["service"] == "events"} == {
        pupil["participant_id"] for pupil in pupils
    }
    # The technopark's roster is not the college organiser's to see.
    other = f"/events/v1/career-events/{week[2].career_event_id}/roster"
    refused = await client.get(other, headers=tokens[Role.ORGANISER])
    assert refused.status_code == 404
    assert refused.json()["code"] == "unknown_career_event"


@on_the_demos_loop
async def test_the_printed_pupil_finds_and_books_a_career_event_of_this_week(
    demo: tuple[httpx.AsyncClient, dict[Role, dict[str, str]]],
) -> None:
    client, tokens = demo
    pupil = str(identity_demo.FIRST_PUPIL)
    listed = await client.get(
        "/events/v1/career-events",
        headers=tokens[Role.PUPIL],
        params={"suitable_for": pupil, "limit": "50"},
    )
    assert listed.status_code == 200, listed.text
    ids = {item["career_event_id"] for item in listed.json()["items"]}
    week = demo_offers.this_week(identity_today())
    assert {str(event.career_event_id) for event in week} <= ids
    programmer = week[2]
    booked = await client.post(
        f"/events/v1/career-events/{programmer.career_event_id}/sessions/"
        f"{programmer.sessions[0].session_id}/bookings",
        headers=tokens[Role.PUPIL],
        json={"participant_id": pupil},
    )
    assert booked.status_code == 201, booked.text
    portfolio = await client.get(
        f"/portfolio/v1/participants/{pupil}",
        headers={**tokens[Role.PUPIL], POSITION_HEADER: booked.headers[POSITION_HEADER]},
    )
    assert portfolio.status_code == 200, portfolio.text
    statuses = {b["booking_id"]: b["status"] for b in portfolio.json()["career_events"]}
    assert statuses[booked.json()["booking_id"]] == "booked"


@on_the_demos_loop
async def test_most_demo_portfolios_show_the_2019_career_events_with_feedback(
    demo: tuple[httpx.AsyncClient, dict[Role, dict[str, str]]],
) -> None:
    client, _ = demo
    school = identity_demo.SCHOOLS[0]
    navigator = {
        "Authorization": "Bearer "
        + ensure_development_keys(PlatformSettings().var_dir).mint(
            Role.NAVIGATOR, school=str(school.school_id)
        )
    }
    pupils = [pid for pid, _ in identity_demo.pupils(school)]
    with_feedback = 0
    for _ in range(240):  # the portfolio follows the events store in the background
        with_feedback = 0
        for pupil in pupils:
            portfolio = await client.get(f"/portfolio/v1/participants/{pupil}", headers=navigator)
            if portfolio.status_code == 200:
                with_feedback += any(_attended_2019_with_feedback(b) for b in _events(portfolio))
        if with_feedback > len(pupils) // 2:
            break
        await asyncio.sleep(0.5)
    assert with_feedback > len(pupils) // 2


def _events(portfolio: httpx.Response) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = portfolio.json()["career_events"]
    return events


def _attended_2019_with_feedback(booking: dict[str, Any]) -> bool:
    return (
        booking["season"] == 2019 and booking["status"] == "attended" and bool(booking["feedback"])
    )


def identity_today() -> date:
    """The day the demo was loaded (the host's real clock)."""
    return datetime.now(UTC).date()
