"""One child, one profile: the refusals of a second profile. The СНИЛС's reservation decides
whether a registration is the same child again (at this school: a row already done) or a clash a
person must review; and the same name and birth date at the same school under another СНИЛС is
sent to a review too, never made a second profile (docs/adr/0041)."""

from uuid import UUID

from bilet.application import Attempt
from bilet_identity.application import access, streams
from bilet_identity.application.base import IdentityCore
from bilet_identity.application.errors import DuplicateRefused
from bilet_identity.application.inputs import CommandContext
from bilet_identity.domain import reservation as reservations
from bilet_identity.domain.errors import (
    DuplicateNeedsReview,
    DuplicateParticipant,
    SameChildOtherSnils,
    SnilsTaken,
)
from bilet_identity.domain.reservation import Reservation


class AlreadyRegistered(Exception):
    """The same child at the same school: not an error of an import, a row already done."""

    def __init__(self, participant_id: UUID) -> None:
        self.participant_id = participant_id

    def refusal(self) -> DuplicateRefused:
        """As a refusal, where a second registration of the child is an error."""
        message = DuplicateParticipant(self.participant_id).message
        return DuplicateRefused(DuplicateParticipant.code, message, self.participant_id)


# A reservation planned earlier in the same import: key → (holder, person key).
Pending = dict[str, tuple[UUID, str]]


class DuplicateGuard(IdentityCore):
    async def _check_not_twice(
        self,
        attempt: Attempt,
        ctx: CommandContext,
        school_id: UUID,
        key: str,
        person: str,
        pending: Pending | None,
    ) -> None:
        """The same name and birth date at the same school under another valid СНИЛС is most
        likely one child typed twice: never a second profile made silently, but a refusal and a
        review for the operator (docs/adr/0041)."""
        twin = self.roster.same_child_at(school_id, person, key)
        if twin is not None:
            held = await attempt.state(streams.reservation(twin.reservation_key))
            same = held is not None and (held.holder, held.person_key) == (
                twin.participant_id,
                person,
            )
            if same and held is not None and not held.confirmed_different(person, key):
                # Unless the operator found these two to be different children (docs/adr/0043).
                duplicate = SameChildOtherSnils(twin.participant_id)
                raise await self._refused(
                    ctx, duplicate, twin.reservation_key, person, school_id, claimed=key
                )
        for planned_key, (holder, planned_person) in (pending or {}).items():
            if planned_person == person and planned_key != key:
                # A row of the same file: no review (nothing is committed yet), the row refused.
                duplicate = SameChildOtherSnils(holder)
                raise await self._refused(ctx, duplicate, planned_key, person, school_id)

    async def _reserve(
        self,
        ctx: CommandContext,
        command: reservations.Reserve,
        reservation: Reservation | None,
        school_id: UUID,
    ) -> list[reservations.ReservationEvent]:
        """The reservation of a child for `command.participant_id`, or the refusal of a second
        profile: `AlreadyRegistered` for the same child at the same school (when the caller may
        learn its id), `DuplicateRefused` otherwise, after asking for a review of a clash."""
        try:
            return reservations.decide(command, reservation)
        except (DuplicateParticipant, DuplicateNeedsReview) as duplicate:
            refusal = await self._refused(
                ctx, duplicate, command.reservation_key, command.person_key, school_id
            )
        raise refusal

    async def _refused(
        self,
        ctx: CommandContext,
        duplicate: DuplicateParticipant | DuplicateNeedsReview,
        key: str,
        person: str,
        school_id: UUID,
        claimed: str | None = None,
    ) -> Exception:
        reads = self.transactor.attempt()
        holder = await reads.state(streams.participant(duplicate.existing))
        # No holder stream yet: it is planned earlier in the same import, by this very school.
        same_school = holder is None or holder.school_id == school_id
        visible = holder is None or access.may_learn_id(ctx.principal, holder)
        if isinstance(duplicate, DuplicateParticipant) and same_school and visible:
            return AlreadyRegistered(duplicate.existing)
        existing = duplicate.existing if visible else None
        if isinstance(duplicate, DuplicateNeedsReview) and holder is not None:
            fold = streams.reservation(key)
            held = await reads.state(fold)
            if held is not None and held.confirmed_different(person, claimed):
                # The operator found them two children: no review again, and the СНИЛС is the
                # other child's (docs/adr/0043).
                taken = SnilsTaken()
                return DuplicateRefused(taken.code, taken.message, existing)
            flagged = reservations.decide(
                reservations.RequestReview(key, school_id, person, claimed), held
            )
            reads.append(fold.stream_id, flagged)
            # Its own commit, before the refusal: the request for a review outlives it.
            await self.transactor.commit(ctx, reads.parts)
        return DuplicateRefused(duplicate.code, duplicate.message, existing)
