"""On the day: the organiser or a mentor of the career event records who came."""

from uuid import UUID

from bilet.application import Attempt
from bilet_events.application import access
from bilet_events.application.base import EventsCore
from bilet_events.application.inputs import CommandContext, Committed
from bilet_events.domain import career_event
from bilet_events.domain.errors import UnknownCareerEvent


class Attendance(EventsCore):
    async def record_attendance(
        self, ctx: CommandContext, career_event_id: UUID, booking_id: UUID, *, attended: bool
    ) -> Committed:
        """Mark a booked participant present or absent once the session has started (the
        career event's organiser or one of its mentors; anyone else finds no such career
        event)."""
        access.require(ctx.principal, *access.ATTENDANCE_TAKERS)

        async def body(attempt: Attempt) -> None:
            state = await self.published(attempt, career_event_id)
            assert state.published is not None
            if not access.manages(ctx.principal, state.published):
                raise UnknownCareerEvent()
            command = career_event.RecordAttendance(booking_id, attended, self.clock())
            attempt.append(
                career_event.stream_id(career_event_id), career_event.decide(command, state)
            )

        outcome = await self.transactor.transact_many(ctx, body)
        return Committed.of(outcome, booking_id)
