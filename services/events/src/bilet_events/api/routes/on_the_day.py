"""On the day of a career event: the roster for the check-in, attendance, mentor feedback."""

from uuid import UUID, uuid4

from fastapi import APIRouter, Response

from bilet_events.api.models import (
    AttendanceRequest,
    AttendanceResponse,
    FeedbackRequest,
    FeedbackResponse,
)
from bilet_events.api.problems import problems
from bilet_events.api.routes.common import Context, Service, answer_position
from bilet_events.api.views import RosterModel
from bilet_events.application.inputs import AttendanceRecord, FeedbackInput

router = APIRouter(prefix="/v1/career-events/{career_event_id}", tags=["on the day"])


@router.get(
    "/roster",
    name="career_event_roster",
    summary="The booked pupils of every session, and what to arrange for them",
    responses=problems(403, 404),
)
async def career_event_roster(career_event_id: UUID, service: Service, ctx: Context) -> RosterModel:
    """For the check-in, per session: the pupils holding a seat with their display name
    («Фамилия Имя», null once erased), school and attendance so far, how many wait in line, and
    the accessibility summary (which accommodations to arrange, for how many pupils). Never a
    diagnosis, a birth date or a СНИЛС. Read from the store itself: a booking made a moment ago
    is on it. Every read is audited (one entry per pupil named).

    **Who:** the organiser of the career event's venue (their token's `venue`); the career
    event's mentors (their token's `sub`). Both see the same roster.

    **Refusals:** 403 `forbidden` (any other role); 404 `unknown_career_event` (unknown, or not
    the caller's: another venue's organiser or a mentor of other career events learns nothing).
    """
    return RosterModel.of(await service.roster(ctx, career_event_id))


@router.post(
    "/sessions/{session_id}/attendance",
    name="record_attendance",
    summary="Record who came to a session and who did not",
    responses=problems(403, 404, 409),
)
async def record_attendance(
    career_event_id: UUID,
    session_id: UUID,
    body: AttendanceRequest,
    response: Response,
    service: Service,
    ctx: Context,
) -> AttendanceResponse:
    """Once the session has started: each booking with a seat marked present
    (`CareerEventAttended`) or absent (`CareerEventMissed`), all in one commit; one refused
    record refuses all. `BVB-Position` makes the portfolio show it.

    **Who:** the organiser of the career event's venue; the career event's mentors. Any other
    role: 403.

    **Refusals:** 403 `forbidden` (another role); 404 `unknown_career_event` (unknown, or not
    the caller's), `unknown_session`, `unknown_booking` (not a seat of this session); 409
    `session_not_started`, `attendance_recorded` (a booking is marked already),
    `career_event_cancelled`, `version_conflict`; 422 `invalid_request` (a booking twice).
    Nothing is changed by a refusal.
    """
    records = [AttendanceRecord(r.booking_id, r.attended) for r in body.records]
    committed = await service.record_attendance(ctx, career_event_id, session_id, records)
    return AttendanceResponse(
        session_id=session_id,
        recorded=len(records),
        position=answer_position(response, committed.position, career_event_id),
    )


@router.post(
    "/feedback",
    name="give_feedback",
    summary="A mentor's feedback for a pupil who attended",
    status_code=201,
    responses=problems(403, 404, 409),
)
async def give_feedback(
    career_event_id: UUID,
    body: FeedbackRequest,
    response: Response,
    service: Service,
    ctx: Context,
) -> FeedbackResponse:
    """The rubric for an attended booking (`MentorFeedbackGiven`): whether the task was
    completed, the skills shown with their levels, the interest shown, environments to explore,
    and an optional short comment, sealed with the pupil's key. Once per booking. The portfolio
    shows it to the pupil, their guardians and their navigator (`BVB-Position`).

    **Who:** a mentor of the career event (their token's `sub`). Any other role: 403.

    **Refusals:** 403 `forbidden` (another role); 404 `unknown_career_event` (unknown, or not
    the mentor's), `unknown_booking`; 409 `not_attended` (the booking's attendance is not
    recorded as present), `feedback_given` (once per booking), `version_conflict`; 422
    `invalid_request`. Nothing is changed by a refusal.
    """
    feedback = FeedbackInput(
        feedback_id=body.feedback_id or uuid4(),
        booking_id=body.booking_id,
        task_completion=body.task_completion,
        skills_shown=body.skills(),
        interest_shown=body.interest_shown,
        suggested_environments=tuple(body.suggested_environments),
        comment=body.comment,
    )
    committed = await service.give_feedback(ctx, career_event_id, feedback)
    return FeedbackResponse(
        feedback_id=feedback.feedback_id,
        booking_id=feedback.booking_id,
        position=answer_position(response, committed.position, career_event_id),
    )
