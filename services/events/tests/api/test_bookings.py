"""Booking over HTTP: a seat (201), the line of a full session (202), giving a seat up and the
promotion of the first in line, and every refusal (which changes nothing)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import pytest

from bilet import stores
from bilet.contracts import EventMetadata, encode
from bilet.contracts.catalogue.identity import ParticipantMerged
from bilet.http.consistency import POSITION_HEADER

if TYPE_CHECKING:
    from services.events.tests.api.conftest import Api


def _bookings(api: Api, published: dict[str, Any], session: int = 0) -> str:
    session_id = published["sessions"][session]["session_id"]
    return f"{api.EVENTS}/{published['career_event_id']}/sessions/{session_id}/bookings"


async def test_a_pupil_books_a_seat_then_waits_in_line(api: Api) -> None:
    published = await api.published(capacity=1, accommodates=("step_free_access",))

    seat = await api.book(published, "dasha")
    line = await api.book(published, "misha")

    assert seat.status_code == 201, seat.text
    assert seat.json()["status"] == "booked"
    assert seat.json()["waitlist_position"] is None
    assert seat.json()["accessibility_checked"] is True  # dasha's consent covers health data
    assert line.status_code == 202, line.text
    assert (line.json()["status"], line.json()["waitlist_position"]) == ("waitlisted", 1)
    shown = await api.shown(published["career_event_id"], line)
    assert (shown["sessions"][0]["seats_left"], shown["sessions"][0]["waiting"]) == (0, 1)


async def test_without_a_health_consent_the_needs_are_not_considered(api: Api) -> None:
    published = await api.published(accommodates=())

    response = await api.book(published, "petya")  # needs an interpreter; no health consent

    assert response.status_code == 201, response.text
    assert response.json()["accessibility_checked"] is False


async def test_a_client_booking_id_is_kept_and_a_second_booking_refused(api: Api) -> None:
    published = await api.published()
    booking_id = str(uuid4())

    first = await api.client.post(
        _bookings(api, published),
        headers=api.pupil("misha"),
        json={"participant_id": str(api.pupils["misha"]), "booking_id": booking_id},
    )
    again = await api.client.post(
        _bookings(api, published),
        headers=api.pupil("misha"),
        json={"participant_id": str(api.pupils["misha"]), "booking_id": booking_id},
    )

    assert first.status_code == 201, first.text
    assert first.json()["booking_id"] == booking_id
    assert (again.status_code, again.json()["code"]) == (409, "already_booked")


async def test_the_school_books_for_its_pupil(api: Api) -> None:
    published = await api.published()

    by_registrar = await api.book(published, "misha", headers=api.registrar())
    by_navigator = await api.book(published, "lena", headers=api.navigator())
    other_school = await api.book(published, "sasha", headers=api.navigator())

    assert by_registrar.status_code == 201, by_registrar.text
    assert by_navigator.status_code == 201, by_navigator.text
    assert (other_school.status_code, other_school.json()["code"]) == (
        404,
        "unknown_participant",
    )


async def test_no_booking_under_a_profile_merged_into_another(api: Api) -> None:
    """docs/adr/0043: identity merged Lena's profile into another one of the same child; a
    booking under the merged id is refused with the kept id, and records nothing."""
    published = await api.published(accommodates=())
    before = await api.stream_length(published["career_event_id"])
    kept = uuid4()
    settings = api.runtime.settings
    [identity] = (await stores.open_source_stores(settings, ("identity",))).values()
    try:
        merged = ParticipantMerged(participant_id=api.pupils["lena"], kept_participant_id=kept)
        await identity.append(merged.stream_id, [encode(merged, EventMetadata(actor="test"))])
        head = await identity.head_position()
    finally:
        await identity.close()
    assert await api.runtime.catalogue.wait_for("identity", head, 10.0)
    refused = await api.book(published, "lena")
    assert (refused.status_code, refused.json()["code"]) == (409, "participant_merged")
    assert refused.json()["kept_participant_id"] == str(kept)
    assert await api.stream_length(published["career_event_id"]) == before
    assert (await api.book(published, "misha")).status_code == 201  # others book as before


async def test_refusals_change_nothing(api: Api) -> None:
    published = await api.published(accommodates=())
    career_event_id = published["career_event_id"]
    before = await api.stream_length(career_event_id)
    cases = {
        "consent_required": (403, await api.book(published, "nastya")),
        "not_eligible": (422, await api.book(published, "kolya")),
        "not_accessible": (422, await api.book(published, "dasha")),
        "forbidden": (403, await api.book(published, "misha", headers=api.organiser())),
    }
    unknown_session = await api.client.post(
        f"{api.EVENTS}/{career_event_id}/sessions/{uuid4()}/bookings",
        headers=api.pupil("misha"),
        json={"participant_id": str(api.pupils["misha"])},
    )
    unknown_event = await api.client.post(
        f"{api.EVENTS}/{uuid4()}/sessions/{uuid4()}/bookings",
        headers=api.pupil("misha"),
        json={"participant_id": str(api.pupils["misha"])},
    )
    cases["unknown_session"] = (404, unknown_session)
    cases["unknown_career_event"] = (404, unknown_event)

    for code, (status, response) in cases.items():
        assert (response.status_code, response.json()["code"]) == (status, code), response.text
    assert "missing" in cases["not_accessible"][1].json()  # dasha may see what is missing
    assert await api.stream_length(career_event_id) == before


async def test_the_navigator_gets_the_bare_accessibility_refusal(api: Api) -> None:
    published = await api.published(accommodates=())

    response = await api.book(published, "dasha", headers=api.navigator())

    assert (response.status_code, response.json()["code"]) == (422, "not_accessible")
    assert "missing" not in response.json()


async def test_the_season_maximum_and_overlaps(api: Api) -> None:
    events = [await api.published(starts_at=api.NOW + timedelta(days=10 + 2 * n)) for n in range(4)]
    same_time = await api.published(starts_at=api.NOW + timedelta(days=10))

    await api.booked(events[0], "misha")
    overlapping = await api.book(same_time, "misha")
    for published in events[1:3]:
        await api.booked(published, "misha")
    fourth = await api.book(events[3], "misha")

    assert (overlapping.status_code, overlapping.json()["code"]) == (422, "overlapping_booking")
    assert (fourth.status_code, fourth.json()["code"]) == (422, "season_limit_reached")


async def test_giving_a_seat_up_promotes_the_first_in_line(api: Api) -> None:
    published = await api.published(capacity=1)
    seat = await api.booked(published, "misha")
    waiting = await api.book(published, "lena")
    assert waiting.status_code == 202

    response = await api.client.delete(
        f"{api.EVENTS}/{published['career_event_id']}/bookings/{seat}",
        headers=api.pupil("misha"),
    )

    assert response.status_code == 200, response.text
    assert response.json()["booking_id"] == seat
    assert response.headers[POSITION_HEADER].startswith("events:")
    shown = await api.shown(published["career_event_id"], response)
    assert (shown["sessions"][0]["seats_left"], shown["sessions"][0]["waiting"]) == (0, 0)
    roster = await api.client.get(
        f"{api.EVENTS}/{published['career_event_id']}/roster", headers=api.organiser()
    )
    [session] = roster.json()["sessions"]
    assert [p["participant_id"] for p in session["pupils"]] == [str(api.pupils["lena"])]


async def test_giving_a_seat_up_is_refused_within_the_notice_and_for_strangers(api: Api) -> None:
    published = await api.published(starts_at=api.NOW + timedelta(days=2))
    seat = await api.booked(published, "misha")
    url = f"{api.EVENTS}/{published['career_event_id']}/bookings/{seat}"
    before = await api.stream_length(published["career_event_id"])

    stranger = await api.client.delete(url, headers=api.pupil("lena"))
    other_school = await api.client.delete(url, headers=api.navigator(api.SCHOOL_5))
    unknown = await api.client.delete(
        f"{api.EVENTS}/{published['career_event_id']}/bookings/{uuid4()}",
        headers=api.pupil("misha"),
    )
    api.clock.advance(timedelta(days=1, hours=12))  # 12 hours before the start
    late = await api.client.delete(url, headers=api.pupil("misha"))

    assert (stranger.status_code, stranger.json()["code"]) == (404, "unknown_booking")
    assert (other_school.status_code, other_school.json()["code"]) == (404, "unknown_booking")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_booking")
    assert (late.status_code, late.json()["code"]) == (409, "booking_closed")
    assert await api.stream_length(published["career_event_id"]) == before


async def test_a_started_session_is_closed_for_booking(api: Api) -> None:
    published = await api.published(starts_at=api.NOW + timedelta(hours=1))
    api.clock.advance(timedelta(hours=2))

    response = await api.book(published, "misha")

    assert (response.status_code, response.json()["code"]) == (409, "booking_closed")


@pytest.mark.parametrize("notice_hours", [6])
async def test_the_notice_is_configured(api: Api) -> None:
    published = await api.published(starts_at=api.NOW + timedelta(hours=12))
    seat = await api.booked(published, "misha")
    url = f"{api.EVENTS}/{published['career_event_id']}/bookings/{seat}"

    response = await api.client.delete(url, headers=api.pupil("misha"))

    assert response.status_code == 200, response.text  # 12 hours before: within 24, not 6
