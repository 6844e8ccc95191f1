"""Career events' events in the portfolio: the career events themselves and their sessions
(shown on the bookings of every participant booked on them), bookings and the waitlist,
attendance and absence, and mentors' feedback (docs/adr/0027)."""

from typing import Final

from bilet.contracts.catalogue import events
from bilet_portfolio.adapters.projection.json_columns import to_json
from bilet_portfolio.adapters.projection.step import (
    Handler,
    Step,
    by_event_type,
    plain,
    sealed,
    timestamp,
)

_Details = events.CareerEventPublished | events.CareerEventRevised
_DETAILS: Final = "title, profession, environments, level, format, venue, starts_at, ends_at"


def _details(event: _Details) -> tuple[object, ...]:
    """The values of `_DETAILS`: its span is its first session's start to its last one's end."""
    return (
        event.title,
        event.profession,
        to_json([environment.value for environment in event.environments]),
        event.level.value,
        event.format.value,
        None if event.venue is None else to_json(plain(event.venue)),
        timestamp(min(session.starts_at for session in event.sessions)),
        timestamp(max(session.ends_at for session in event.sessions)),
    )


async def _published(step: Step, event: events.CareerEventPublished) -> None:
    career_event_id = str(event.career_event_id)
    known = await step.tx.fetch(
        "SELECT 1 FROM {career_events} WHERE career_event_id = $1", career_event_id
    )
    if known:  # a replay: what a later revision stated stays
        return
    columns = f"career_event_id, region_id, season, {_DETAILS}, cancelled"
    await step.tx.execute(
        f"INSERT INTO {{career_events}} ({columns}) "  # noqa: S608 - our own column names
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, FALSE)",
        career_event_id,
        str(event.region_id),
        event.season,
        *_details(event),
    )
    await _sessions_and_bookings(step, event)


async def _revised(step: Step, event: events.CareerEventRevised) -> None:
    await step.tx.execute(
        "UPDATE {career_events} SET title = $2, profession = $3, environments = $4, level = $5, "
        "format = $6, venue = $7, starts_at = $8, ends_at = $9 WHERE career_event_id = $1",
        str(event.career_event_id),
        *_details(event),
    )
    await _sessions_and_bookings(step, event)


async def _sessions_and_bookings(step: Step, event: _Details) -> None:
    """The career event's sessions as stated now (a revision comes before any booking, on the
    same stream, so no booking names a session it withdraws); its bookings' portfolios."""
    career_event_id = str(event.career_event_id)
    await step.tx.execute(
        "DELETE FROM {career_event_sessions} WHERE career_event_id = $1", career_event_id
    )
    for session in event.sessions:
        await step.tx.execute(
            "INSERT INTO {career_event_sessions} (session_id, career_event_id, starts_at, "
            "ends_at) VALUES ($1, $2, $3, $4)",
            str(session.session_id),
            career_event_id,
            timestamp(session.starts_at),
            timestamp(session.ends_at),
        )
    # A booking that came first (as a feed may deliver it: the events service publishes first)
    # now shows the career event.
    await _portfolios_booked_on(step, career_event_id)


async def _portfolios_booked_on(step: Step, career_event_id: str) -> None:
    """Every portfolio with a booking on this career event changed. Bookings are events of the
    career event's own stream, so which of them are here is the same on every feed."""
    rows = await step.tx.fetch(
        "SELECT DISTINCT participant_id FROM {bookings} WHERE career_event_id = $1 "
        "ORDER BY participant_id",
        career_event_id,
    )
    for (participant_id,) in rows:
        await step.portfolio_changed(participant_id)


async def _cancelled(step: Step, event: events.CareerEventCancelled) -> None:
    career_event_id = str(event.career_event_id)
    await step.tx.execute(
        "UPDATE {career_events} SET cancelled = TRUE, cancellation_reason = $2 "
        "WHERE career_event_id = $1",
        career_event_id,
        event.reason.value,
    )
    # Everyone booked on it sees the cancellation (their own BookingCancelled follows).
    await _portfolios_booked_on(step, career_event_id)


async def _waitlist_joined(step: Step, event: events.WaitlistJoined) -> None:
    await step.ensure_participant(event.participant_id)
    await step.tx.execute(
        "INSERT INTO {bookings} (booking_id, participant_id, career_event_id, session_id, "
        "season, status, waitlist_position) VALUES ($1, $2, $3, $4, $5, 'waitlisted', $6) "
        "ON CONFLICT (booking_id) DO NOTHING",
        str(event.booking_id),
        step.text_of(event.participant_id),
        str(event.career_event_id),
        str(event.session_id),
        event.season,
        event.position,
    )
    await step.portfolio_changed(event.participant_id)


async def _seat_booked(step: Step, event: events.SeatBooked) -> None:
    # A promotion books the waitlisted booking of the same id; a replay finds it booked already
    # (or cancelled since) and changes nothing.
    await step.ensure_participant(event.participant_id)
    await step.tx.execute(
        "INSERT INTO {bookings} (booking_id, participant_id, career_event_id, session_id, "
        "season, status, route, booked_at) VALUES ($1, $2, $3, $4, $5, 'booked', $6, $7) "
        "ON CONFLICT (booking_id) DO UPDATE SET status = 'booked', route = excluded.route, "
        "booked_at = excluded.booked_at, waitlist_position = NULL "
        "WHERE {bookings}.status = 'waitlisted'",
        str(event.booking_id),
        step.text_of(event.participant_id),
        str(event.career_event_id),
        str(event.session_id),
        event.season,
        event.route.value,
        step.at,
    )
    await step.portfolio_changed(event.participant_id)


async def _booking_cancelled(step: Step, event: events.BookingCancelled) -> None:
    await step.ensure_participant(event.participant_id)
    await step.tx.execute(
        "UPDATE {bookings} SET status = 'cancelled', cancellation_reason = $2, "
        "cancelled_at = $3, waitlist_position = NULL "
        "WHERE booking_id = $1 AND status IN ('booked', 'waitlisted')",
        str(event.booking_id),
        event.reason.value,
        step.at,
    )
    await step.portfolio_changed(event.participant_id)


async def _attended(step: Step, event: events.CareerEventAttended) -> None:
    await step.ensure_participant(event.participant_id)
    await step.tx.execute(
        "UPDATE {bookings} SET status = 'attended', attended_at = $2 WHERE booking_id = $1",
        str(event.booking_id),
        step.at,
    )
    await step.portfolio_changed(event.participant_id)


async def _missed(step: Step, event: events.CareerEventMissed) -> None:
    await step.ensure_participant(event.participant_id)
    await step.tx.execute(
        "UPDATE {bookings} SET status = 'missed' WHERE booking_id = $1 AND status = 'booked'",
        str(event.booking_id),
    )
    await step.portfolio_changed(event.participant_id)


async def _feedback_given(step: Step, event: events.MentorFeedbackGiven) -> None:
    erased = await step.ensure_participant_is_erased(event.participant_id)
    await step.tx.execute(
        "INSERT INTO {feedback} (feedback_id, participant_id, booking_id, career_event_id, "
        "mentor_id, task_completion, interest_shown, skills_shown, suggested_environments, "
        "comment, given_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
        "ON CONFLICT (feedback_id) DO NOTHING",
        str(event.feedback_id),
        step.text_of(event.participant_id),
        str(event.booking_id),
        str(event.career_event_id),
        str(event.mentor_id),
        event.task_completion.value,
        event.interest_shown.value,
        to_json([plain(shown) for shown in event.skills_shown]),
        to_json([environment.value for environment in event.suggested_environments]),
        None if erased else sealed(event.comment),
        step.at,
    )
    await step.portfolio_changed(event.participant_id)


HANDLERS: Final[dict[str, Handler]] = by_event_type(
    (events.CareerEventPublished, _published),
    (events.CareerEventRevised, _revised),
    (events.CareerEventCancelled, _cancelled),
    (events.WaitlistJoined, _waitlist_joined),
    (events.SeatBooked, _seat_booked),
    (events.BookingCancelled, _booking_cancelled),
    (events.CareerEventAttended, _attended),
    (events.CareerEventMissed, _missed),
    (events.MentorFeedbackGiven, _feedback_given),
)
