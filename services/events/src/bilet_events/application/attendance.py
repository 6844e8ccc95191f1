"""On the day: the organiser or a mentor of the career event records who came (all of a
session's records in one commit), and a mentor gives an attended pupil feedback."""

from collections.abc import Sequence
from uuid import UUID

from bilet.application import Attempt
from bilet.contracts.catalogue.events import MentorFeedbackGiven
from bilet.contracts.sealed import Sealed, seal
from bilet.crypto import SubjectErased
from bilet.http.auth import Role
from bilet_events.application import access
from bilet_events.application.base import EventsCore
from bilet_events.application.errors import AccessDenied
from bilet_events.application.inputs import (
    AttendanceRecord,
    CommandContext,
    Committed,
    FeedbackInput,
)
from bilet_events.domain import career_event
from bilet_events.domain.career_event import CareerEventEvent
from bilet_events.domain.errors import UnknownBooking, UnknownCareerEvent


class Attendance(EventsCore):
    async def record_attendance(
        self,
        ctx: CommandContext,
        career_event_id: UUID,
        session_id: UUID,
        records: Sequence[AttendanceRecord],
    ) -> Committed:
        """Mark booked participants of a session present or absent once it has started (the
        career event's organiser or one of its mentors; anyone else finds no such career
        event). One commit for all the records: any refused record refuses them all."""
        access.require(ctx.principal, *access.ATTENDANCE_TAKERS)

        async def body(attempt: Attempt) -> None:
            state = await self.published(attempt, career_event_id)
            assert state.published is not None
            if not access.manages(ctx.principal, state.published):
                raise UnknownCareerEvent()
            decided: list[CareerEventEvent] = []
            for record in records:
                command = career_event.RecordAttendance(
                    session_id, record.booking_id, record.attended, self.clock()
                )
                events = career_event.decide(command, state)
                for event in events:  # a booking named twice is refused as recorded already
                    state = career_event.evolve(state, event)
                decided += events
            attempt.append(career_event.stream_id(career_event_id), decided)

        outcome = await self.transactor.transact_many(ctx, body)
        return Committed.of(outcome, session_id)

    async def give_feedback(
        self, ctx: CommandContext, career_event_id: UUID, feedback: FeedbackInput
    ) -> Committed:
        """A mentor of the career event gives an attended booking's pupil feedback, once per
        booking; the comment is sealed with the pupil's key (anyone else: no such career
        event; other roles: forbidden)."""
        access.require(ctx.principal, Role.MENTOR)
        try:
            mentor_id = UUID(ctx.principal.subject)
        except ValueError:
            raise AccessDenied("A mentor's account id is a UUID.") from None

        async def body(attempt: Attempt) -> None:
            state = await self.published(attempt, career_event_id)
            assert state.published is not None
            if not access.mentors(ctx.principal, state.published.mentors):
                raise UnknownCareerEvent()
            command = career_event.GiveFeedback(
                feedback.feedback_id,
                feedback.booking_id,
                mentor_id,
                feedback.task_completion,
                feedback.skills_shown,
                feedback.interest_shown,
                feedback.suggested_environments,
                comment=None,
            )
            [given] = career_event.decide(command, state)
            assert isinstance(given, MentorFeedbackGiven)
            if feedback.comment is not None:
                # Sealed only once the rules accept the feedback; the pupil is the event's.
                given = given.model_copy(
                    update={"comment": await self._sealed_comment(given, feedback.comment)}
                )
            attempt.append(career_event.stream_id(career_event_id), [given])

        outcome = await self.transactor.transact_many(ctx, body)
        return Committed.of(outcome, feedback.feedback_id)

    async def _sealed_comment(self, given: MentorFeedbackGiven, comment: str) -> Sealed:
        try:
            sealed = await seal(self.cipher, str(given.participant_id), {"comment": comment})
        except SubjectErased:
            raise UnknownBooking() from None  # the pupil was erased meanwhile
        return sealed["comment"]
