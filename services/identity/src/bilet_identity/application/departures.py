"""Partings in a school's week (docs/adr/0050): a pupil leaves their school (for none of the
programme's schools) or the programme, and a guardian's account is unlinked from a pupil.

A departure is published (`ParticipantLeftProgramme`): the school's list drops the pupil, and
other services learn that the school no longer acts for them. It ends nothing else: the history
stays the participant's, and a move to a school or an enrolment in a later season is their
return. An unlink is identity's own (`GuardianAccountUnlinked`, never relayed): the identity
provider drops the child from the account's `children` claim, which other services authorise by.
"""

from uuid import UUID

from bilet.application import Attempt
from bilet.audit import Access
from bilet.contracts.catalogue.identity import DepartureReason
from bilet.http.auth import Role
from bilet_identity.application import access, streams
from bilet_identity.application.base import IdentityCore
from bilet_identity.application.inputs import CommandContext, Committed
from bilet_identity.domain import participant as participants
from bilet_identity.domain import profile as profiles


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

    async def unlink_guardian(
        self, ctx: CommandContext, participant_id: UUID, guardian_id: UUID
    ) -> Committed:
        """Remove a guardian's account from the participant; refused when it is not linked."""
        access.require_role(ctx.principal, Role.REGISTRAR)

        async def decide(attempt: Attempt) -> None:
            state = await self._existing(attempt, participant_id)
            with access.unknown_if_out_of_scope():
                access.require_registrar_of(ctx.principal, state.school_id)
            fold = streams.profile(participant_id)
            unlink = profiles.UnlinkGuardian(participant_id, guardian_id)
            attempt.append(fold.stream_id, profiles.decide(unlink, await attempt.state(fold)))

        outcome = await self.transactor.transact_many(ctx, decide)
        await self.audit.record(
            ctx.audit(Access.WRITE, participant_id, "unlink_guardian", ("guardians",))
        )
        return Committed.of(outcome, participants.stream_id(participant_id), participant_id)
