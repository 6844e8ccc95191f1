"""A pupil leaves their school (for none of the programme's schools) or the programme
(docs/adr/0050). A guardian's account unlinked is a participant's later life (`lifecycle`).

A departure is published (`ParticipantLeftProgramme`): the school's list drops the pupil, and
other services learn that the school no longer acts for them. It ends nothing else: the history
stays the participant's, and a move to a school or an enrolment in a later season is their
return.
"""

from uuid import UUID

from bilet.application import Attempt
from bilet.contracts.catalogue.identity import DepartureReason
from bilet_identity.application import access
from bilet_identity.application.base import IdentityCore
from bilet_identity.application.inputs import CommandContext, Committed
from bilet_identity.domain import participant as participants


class Departures(IdentityCore):
    async def leave_programme(
        self, ctx: CommandContext, participant_id: UUID, reason: DepartureReason
    ) -> Committed:
        """Record that the participant left their school or the programme; refused when they
        left already (and not returned since)."""
        access.require_role(ctx.principal, *access.SCHOOL_OR_REGION)
        stream_id = participants.stream_id(participant_id)

        async def decide(attempt: Attempt) -> None:
            state = await self._existing(attempt, participant_id)
            with access.unknown_if_out_of_scope():
                access.require_school_or_region_of(ctx.principal, state)
            leave = participants.Leave(participant_id, reason)
            attempt.append(stream_id, participants.decide(leave, state))

        outcome = await self.transactor.transact_many(ctx, decide)
        return Committed.of(outcome, stream_id, participant_id)
