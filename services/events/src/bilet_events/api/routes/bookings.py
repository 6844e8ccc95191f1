"""`/events/v1/career-events/{id}/…/bookings`: pupils (or their school) take a seat of a session
or a place in its line, and give it up."""

from typing import Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Response

from bilet_events.api.models import BookingChangedResponse, BookingResponse, BookRequest
from bilet_events.api.problems import problems
from bilet_events.api.routes.common import Context, Service, answer_position

router = APIRouter(prefix="/v1/career-events/{career_event_id}", tags=["bookings"])

WAITLISTED: dict[int | str, dict[str, Any]] = {
    202: {
        "model": BookingResponse,
        "description": "The session is full: the pupil waits in its line at `waitlist_position`.",
    }
}


@router.post(
    "/sessions/{session_id}/bookings",
    name="book_seat",
    summary="Book a seat of a session (201), or join its line when it is full (202)",
    status_code=201,
    responses={**WAITLISTED, **problems(403, 404, 409)},
)
async def book_seat(
    career_event_id: UUID,
    session_id: UUID,
    body: BookRequest,
    response: Response,
    service: Service,
    ctx: Context,
) -> BookingResponse:
    """Books a seat (`SeatBooked`, 201) or, when the session is full, a place in its line
    (`WaitlistJoined`, 202 with `waitlist_position`): capacity is exact under any number of
    parallel requests, and a released seat goes to the first in line still able to take it.
    Allowed when a verified guardian's consent in force covers `career_events`; the pupil's
    region and grade are eligible; the career event provides every accommodation the pupil
    needs (read only when a consent covers `health_data`; otherwise the booking acts as if
    there were none and says so: `accessibility_checked` false); the pupil holds fewer than the
    season's maximum of career events (active and attended bookings of every career event) and
    no booking at the same time; the session has not started and the career event is not
    cancelled. `BVB-Position` makes the catalogue and the portfolio show the booking.

    **Who:** the pupil themself (their token's `participant`); the registrar or navigator of the
    pupil's school. Any other role: 403.

    **Refusals:** 403 `forbidden` (another role), `consent_required`; 404 `unknown_participant`
    (unknown, or not the caller's), `unknown_career_event`, `unknown_session`; 409
    `career_event_cancelled`, `booking_closed`, `already_booked` (with the `booking_id` held),
    `participant_merged` (a second profile of a child, merged into `kept_participant_id`: book
    under that one), `version_conflict`; 422 `not_eligible` (with the `reason`),
    `not_accessible` (the missing accommodations named only to the pupil and their school's
    registrar), `season_limit_reached`,
    `overlapping_booking`, `season_unknown`, `invalid_request`. Nothing is changed by a refusal.
    """
    booking_id = body.booking_id or uuid4()
    answer = await service.book(ctx, career_event_id, session_id, body.participant_id, booking_id)
    if answer.waitlist_position is not None:
        response.status_code = 202
    return BookingResponse(
        booking_id=answer.booking_id,
        career_event_id=career_event_id,
        session_id=session_id,
        participant_id=body.participant_id,
        status="booked" if answer.waitlist_position is None else "waitlisted",
        waitlist_position=answer.waitlist_position,
        accessibility_checked=answer.accessibility_checked,
        position=answer_position(response, answer.position, career_event_id),
    )


@router.delete(
    "/bookings/{booking_id}",
    name="cancel_booking",
    summary="Give up a seat or a place in line",
    responses=problems(403, 404, 409),
)
async def cancel_booking(
    career_event_id: UUID, booking_id: UUID, response: Response, service: Service, ctx: Context
) -> BookingChangedResponse:
    """Releases the seat or the place in line (`BookingCancelled`, reason
    `participant_cancelled`) up to the configured notice (24 hours by default) before the
    session starts; a released seat goes at once to the first pupil in line still able to take
    it (`SeatBooked`, route `promoted_from_waitlist`).

    **Who:** the pupil themself; the registrar or navigator of the pupil's school. Any other
    role: 403.

    **Refusals:** 403 `forbidden` (another role); 404 `unknown_career_event`, `unknown_booking`
    (unknown, or not the caller's); 409 `booking_closed` (within the notice), `version_conflict`.
    Nothing is changed by a refusal.
    """
    committed = await service.cancel_booking(ctx, career_event_id, booking_id)
    return BookingChangedResponse(
        booking_id=booking_id,
        position=answer_position(response, committed.position, career_event_id),
    )
