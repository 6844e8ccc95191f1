"""Publishing, revising and cancelling career events over HTTP, and the catalogue with its
filters, paging and read-your-writes. Every refusal changes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from bilet.http.consistency import POSITION_HEADER

if TYPE_CHECKING:
    from services.events.tests.api.conftest import Api


async def test_an_organiser_publishes_and_the_catalogue_shows_it(api: Api) -> None:
    response = await api.publish()

    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["Location"] == f"{api.EVENTS}/{body['career_event_id']}"
    assert response.headers[POSITION_HEADER].startswith("events:")
    shown = await api.shown(body["career_event_id"], response)
    assert shown["title"] == "Мастер сельскохозяйственного производства"
    assert shown["cancelled"] is False
    [session] = shown["sessions"]
    assert (session["capacity"], session["seats_left"], session["waiting"]) == (2, 2, 0)


async def test_a_client_id_makes_a_retried_publish_safe(api: Api) -> None:
    career_event_id = str(uuid4())
    first = await api.publish(career_event_id=career_event_id)
    again = await api.publish(career_event_id=career_event_id)

    assert first.status_code == 201
    assert first.json()["career_event_id"] == career_event_id
    assert again.status_code == 409
    assert again.json()["code"] == "career_event_exists"
    assert await api.stream_length(career_event_id) == 1


async def test_a_coordinator_publishes_in_their_region_only(api: Api) -> None:
    own = await api.publish(headers=api.coordinator())
    other = await api.publish(headers=api.coordinator(uuid4()))

    assert own.status_code == 201, own.text
    assert other.status_code == 403
    assert other.json()["code"] == "forbidden"


async def test_an_organiser_publishes_for_their_own_venue_only(api: Api) -> None:
    response = await api.publish(organiser_id=api.TECHNOPARK)

    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


async def test_inconsistent_details_are_refused_before_anything_is_written(api: Api) -> None:
    ends_first = api.body()
    session = ends_first["sessions"][0]
    session["ends_at"], session["starts_at"] = session["starts_at"], session["ends_at"]
    online_at_a_venue = api.body(format="online")
    twice = api.body(environments=["agrarian", "agrarian"])
    unknown_field = {**api.body(), "price": 100}

    for body in (ends_first, online_at_a_venue, twice, unknown_field):
        body["career_event_id"] = career_event_id = str(uuid4())
        response = await api.client.post(api.EVENTS, headers=api.organiser(), json=body)
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "invalid_request"
        assert await api.stream_length(career_event_id) == 0


async def test_a_revision_replaces_the_details(api: Api) -> None:
    published = await api.published()
    career_event_id = published["career_event_id"]
    kept = published["sessions"][0]
    revised = api.revision(title="Агроном", capacity=5)
    revised["sessions"][0]["session_id"] = kept["session_id"]

    response = await api.client.put(
        f"{api.EVENTS}/{career_event_id}", headers=api.coordinator(), json=revised
    )

    assert response.status_code == 200, response.text
    shown = await api.shown(career_event_id, response)
    assert shown["title"] == "Агроном"
    assert [(s["session_id"], s["capacity"]) for s in shown["sessions"]] == [
        (kept["session_id"], 5)
    ]


async def test_no_revision_after_the_first_booking(api: Api) -> None:
    published = await api.published()
    career_event_id = published["career_event_id"]
    await api.booked(published, "dasha")
    before = await api.stream_length(career_event_id)

    refused = await api.client.put(
        f"{api.EVENTS}/{career_event_id}", headers=api.organiser(), json=api.revision()
    )

    assert refused.status_code == 409
    assert refused.json()["code"] == "bookings_exist"
    assert await api.stream_length(career_event_id) == before


async def test_another_venue_cannot_revise_or_cancel(api: Api) -> None:
    published = await api.published()
    career_event_id = published["career_event_id"]
    revised = api.revision()

    revise = await api.client.put(
        f"{api.EVENTS}/{career_event_id}", headers=api.organiser(api.TECHNOPARK), json=revised
    )
    cancel = await api.client.post(
        f"{api.EVENTS}/{career_event_id}/cancellation",
        headers=api.organiser(api.TECHNOPARK),
        json={"reason": "safety"},
    )

    assert (revise.status_code, revise.json()["code"]) == (404, "unknown_career_event")
    assert (cancel.status_code, cancel.json()["code"]) == (404, "unknown_career_event")
    assert await api.stream_length(career_event_id) == 1


async def test_cancelling_releases_every_booking_and_is_shown(api: Api) -> None:
    published = await api.published()
    career_event_id = published["career_event_id"]
    await api.booked(published, "dasha")

    response = await api.client.post(
        f"{api.EVENTS}/{career_event_id}/cancellation",
        headers=api.organiser(),
        json={"reason": "venue_unavailable"},
    )
    again = await api.client.post(
        f"{api.EVENTS}/{career_event_id}/cancellation",
        headers=api.organiser(),
        json={"reason": "venue_unavailable"},
    )
    bad_reason = await api.client.post(
        f"{api.EVENTS}/{career_event_id}/cancellation",
        headers=api.organiser(),
        json={"reason": "x"},
    )

    assert response.status_code == 200, response.text
    shown = await api.shown(career_event_id, response)
    assert shown["cancelled"] is True
    assert shown["sessions"][0]["seats_left"] == 2
    assert (again.status_code, again.json()["code"]) == (409, "career_event_cancelled")
    assert (bad_reason.status_code, bad_reason.json()["code"]) == (422, "invalid_request")
    booking = await api.book(shown, "petya")
    assert (booking.status_code, booking.json()["code"]) == (409, "career_event_cancelled")


async def _ids(api: Api, query: dict[str, Any], after: Any = None) -> list[str]:
    headers = api.pupil("dasha")
    if after is not None:
        headers[POSITION_HEADER] = after.headers[POSITION_HEADER]
    response = await api.client.get(api.EVENTS, headers=headers, params=query)
    assert response.status_code == 200, response.text
    return [item["career_event_id"] for item in response.json()["items"]]


async def test_the_catalogue_filters(api: Api) -> None:
    soon = await api.published(environments=["agrarian"])
    later = await api.published(
        starts_at=api.NOW + timedelta(days=40), environments=["industrial"], capacity=1
    )
    online = await api.publish(format="online", venue=None, starts_at=api.NOW + timedelta(days=11))
    assert online.status_code == 201, online.text
    online_id = online.json()["career_event_id"]

    everything = await _ids(api, {}, after=online)
    assert everything == [soon["career_event_id"], online_id, later["career_event_id"]]
    assert await _ids(api, {"environment": "industrial"}) == [later["career_event_id"]]
    assert await _ids(api, {"format": "online"}) == [online_id]
    assert await _ids(api, {"min_seats_left": 2}) == [soon["career_event_id"], online_id]
    starts_before = (api.NOW + timedelta(days=20)).isoformat()
    assert await _ids(api, {"starts_before": starts_before}) == [
        soon["career_event_id"],
        online_id,
    ]
    assert await _ids(api, {"region_id": str(uuid4())}) == []
    assert await _ids(api, {"grade": 5}) == []


async def test_the_catalogue_shows_upcoming_sessions_unless_asked_for_earlier_ones(
    api: Api,
) -> None:
    soon = await api.published(starts_at=api.NOW + timedelta(days=2))
    later = await api.published(starts_at=api.NOW + timedelta(days=30))
    api.clock.advance(timedelta(days=5))  # `soon` has taken place

    assert await _ids(api, {}) == [later["career_event_id"]]
    since_then = {"starts_from": api.NOW.isoformat()}
    assert await _ids(api, since_then) == [soon["career_event_id"], later["career_event_id"]]


async def test_the_catalogue_pages_with_a_cursor(api: Api) -> None:
    published = [await api.published(starts_at=api.NOW + timedelta(days=10 + n)) for n in range(3)]
    first = await api.client.get(api.EVENTS, headers=api.pupil("dasha"), params={"limit": 2})
    cursor = first.json()["next_cursor"]
    second = await api.client.get(
        api.EVENTS, headers=api.pupil("dasha"), params={"limit": 2, "cursor": cursor}
    )

    ids = [item["career_event_id"] for page in (first, second) for item in page.json()["items"]]
    assert ids == [p["career_event_id"] for p in published]
    assert second.json()["next_cursor"] is None
    bad = await api.client.get(api.EVENTS, headers=api.pupil("dasha"), params={"cursor": "abc"})
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_cursor")


async def test_suitable_for_offers_a_pupil_what_they_can_book(api: Api) -> None:
    step_free = await api.published(accommodates=("step_free_access",))
    no_adaptation = await api.published(accommodates=())
    other_region = await api.publish(headers=api.coordinator(uuid4()))
    assert other_region.status_code == 403  # (a coordinator publishes in their region only)

    suitable = await _ids(api, {"suitable_for": str(api.pupils["dasha"])})

    assert step_free["career_event_id"] in suitable
    assert no_adaptation["career_event_id"] not in suitable  # dasha needs step-free access
    stranger = await api.client.get(
        api.EVENTS, headers=api.pupil("sasha"), params={"suitable_for": str(api.pupils["dasha"])}
    )
    assert (stranger.status_code, stranger.json()["code"]) == (404, "unknown_participant")


async def test_read_your_writes_tokens_are_checked(api: Api) -> None:
    headers = api.pupil("dasha")
    malformed = await api.client.get(api.EVENTS, headers={**headers, POSITION_HEADER: "nonsense"})
    foreign = await api.client.get(api.EVENTS, headers={**headers, POSITION_HEADER: "portfolio:5"})
    ahead = await api.client.get(api.EVENTS, headers={**headers, POSITION_HEADER: "events:999999"})

    assert (malformed.status_code, malformed.json()["code"]) == (400, "invalid_position_token")
    assert (foreign.status_code, foreign.json()["code"]) == (400, "invalid_position_token")
    assert (ahead.status_code, ahead.json()["code"]) == (409, "not_yet_visible")
    assert ahead.headers["Retry-After"] == "1"


async def test_an_unknown_career_event_is_404(api: Api) -> None:
    response = await api.client.get(f"{api.EVENTS}/{uuid4()}", headers=api.pupil("dasha"))

    assert (response.status_code, response.json()["code"]) == (404, "unknown_career_event")
