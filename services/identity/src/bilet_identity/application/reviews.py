"""Duplicate reviews, listed and resolved by the federal operator (docs/adr/0043).

A review is a request on a child's reservation (`DuplicateReviewRequested`): a registration was
refused because the СНИЛС is held with another name or birth date, or because a pupil of the
school has the same name and birth date under another СНИЛС. The operator resolves it once:

- the same child: the review closes; a second profile of that child, when the operator names
  one, is merged into the reviewed one (`ParticipantMerged` on the duplicate's stream: closed,
  answering with the kept id) and lets go of its СНИЛС, all in one atomic commit;
- two different children: the review closes and the pair tried is never flagged again (the
  reservation keeps it).
"""

from uuid import UUID

from bilet.application import Attempt
from bilet.http.auth import Role
from bilet_identity.application import access, streams
from bilet_identity.application.base import IdentityCore
from bilet_identity.application.catalogue import ReviewRequest
from bilet_identity.application.inputs import CommandContext, Committed
from bilet_identity.domain import participant as participants
from bilet_identity.domain import reservation as reservations
from bilet_identity.domain.errors import InvalidDetails, ParticipantMergedAway, UnknownReview
from bilet_identity.domain.internal import ReviewOutcome


class DuplicateReviews(IdentityCore):
    async def duplicate_reviews(self, ctx: CommandContext) -> list[ReviewRequest]:
        """The review requests still open, oldest first."""
        access.require_role(ctx.principal, Role.OPERATOR)
        await self.catalogue.refresh_reviews()
        return list(self.catalogue.reviews)

    async def resolve_duplicate_review(
        self,
        ctx: CommandContext,
        review_id: UUID,
        outcome: ReviewOutcome,
        duplicate_participant_id: UUID | None = None,
    ) -> Committed:
        """Resolve a review once; `duplicate_participant_id` (the same child only) names a second
        profile of the reviewed child, merged into it. Returns the commit, naming the kept
        profile and its version."""
        access.require_role(ctx.principal, Role.OPERATOR)
        await self.catalogue.refresh_reviews()
        known = self.catalogue.known_reviews.get(review_id)
        if known is None:
            raise UnknownReview()
        key, ordinal = known
        if outcome is ReviewOutcome.DIFFERENT_CHILDREN and duplicate_participant_id is not None:
            raise InvalidDetails(
                "duplicate_participant_id", "Two different children: there is nothing to merge."
            )

        async def decide(attempt: Attempt) -> UUID:
            fold = streams.reservation(key)
            held = await attempt.state(fold)
            resolve = reservations.ResolveReview(key, ordinal, outcome, duplicate_participant_id)
            resolution = reservations.decide(resolve, held)  # unknown or resolved: refused
            assert held is not None  # the decider refuses a review of nothing
            kept_id = held.reviews[ordinal].holder
            if duplicate_participant_id is not None:
                await self._merge(attempt, duplicate_participant_id, kept_id)
            attempt.append(fold.stream_id, resolution)
            return kept_id

        outcome_of = await self.transactor.transact_many(ctx, decide)
        kept = outcome_of.value
        return Committed.of(outcome_of, participants.stream_id(kept), kept)

    async def _merge(self, attempt: Attempt, duplicate_id: UUID, kept_id: UUID) -> None:
        """Close `duplicate_id` into `kept_id` and let go of the duplicate's СНИЛС."""
        kept = await attempt.state(streams.participant(kept_id))
        if kept is not None and kept.merged_into is not None:
            raise ParticipantMergedAway(kept.merged_into)
        fold = streams.participant(duplicate_id)
        duplicate = await attempt.state(fold)
        if duplicate is None:
            raise InvalidDetails("duplicate_participant_id", "No participant has this id.")
        attempt.append(
            fold.stream_id,
            participants.decide(participants.MergeInto(duplicate_id, kept_id), duplicate),
        )
        profile = await attempt.state(streams.profile(duplicate_id))
        if profile is not None:
            held = streams.reservation(profile.reservation_key)
            release = reservations.Release(profile.reservation_key, duplicate_id)
            attempt.append(held.stream_id, reservations.decide(release, await attempt.state(held)))
