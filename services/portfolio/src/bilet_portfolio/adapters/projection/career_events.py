"""Career events' events in the portfolio: the career events themselves (shown on the bookings
of every participant booked on them), bookings, attendance and mentors' feedback."""

from typing import Final

from bilet.contracts.catalogue import events
from bilet_portfolio.adapters.json_text import to_json
from bilet_portfolio.adapters.projection.step import (
    Handler,
    Step,
    by_event_type,
    plain,
    sealed,
    timestamp,
)


async def _published(step: Step, event: events.CareerEventPublished) -> None:
    await step.tx.execute(
        "INSERT INTO {career_events} (career_event_id, region_id, season, title, profession, "
        "environments, venue, starts_at, ends_at, cancelled) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, FALSE) "
        "ON CONFLICT (career_event_id) DO NOTHING",
        str(event.career_event_id),
        str(event.region_id),
        event.season,
        event.title,
        event.profession,
        to_json([environment.value for environment in event.environments]),
        to_json(plain(event.venue)),
        timestamp(event.starts_at),
        timestamp(event.ends_at),
    )
    # A booking that came first (as a feed may deliver it: the events service publishes first)
    # now shows the career event.
    await _portfolios_booked_on(step, str(event.career_event_id))


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


async def _seat_booked(step: Step, event: events.SeatBooked) -> None:
    await step.ensure_participant(event.participant_id)
    await step.tx.execute(
        "INSERT INTO {bookings} (booking_id, participant_id, career_event_id, season, status, "
        "booked_at) VALUES ($1, $2, $3, $4, 'booked', $5) ON CONFLICT (booking_id) DO NOTHING",
        str(event.booking_id),
        str(event.participant_id),
        str(event.career_event_id),
        event.season,
        step.at,
    )
    await step.portfolio_changed(event.participant_id)


async def _booking_cancelled(step: Step, event: events.BookingCancelled) -> None:
    await step.ensure_participant(event.participant_id)
    await step.tx.execute(
        "UPDATE {bookings} SET status = 'cancelled', cancellation_reason = $2, "
        "cancelled_at = $3 WHERE booking_id = $1 AND status = 'booked'",
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


async def _feedback_given(step: Step, event: events.MentorFeedbackGiven) -> None:
    erased = await step.ensure_participant(event.participant_id)
    await step.tx.execute(
        "INSERT INTO {feedback} (feedback_id, participant_id, booking_id, career_event_id, "
        "mentor_id, engagement, task_result, observed_skills, suggested_environments, comment, "
        "given_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
        "ON CONFLICT (feedback_id) DO NOTHING",
        str(event.feedback_id),
        str(event.participant_id),
        str(event.booking_id),
        str(event.career_event_id),
        str(event.mentor_id),
        event.engagement,
        event.task_result,
        to_json(list(event.observed_skills)),
        to_json([environment.value for environment in event.suggested_environments]),
        None if erased else sealed(event.comment),
        step.at,
    )
    await step.portfolio_changed(event.participant_id)


HANDLERS: Final[dict[str, Handler]] = by_event_type(
    (events.CareerEventPublished, _published),
    (events.CareerEventCancelled, _cancelled),
    (events.SeatBooked, _seat_booked),
    (events.BookingCancelled, _booking_cancelled),
    (events.CareerEventAttended, _attended),
    (events.MentorFeedbackGiven, _feedback_given),
)
