"""A participant's recommendations as their readers see them: the latest set of the
`recommendations-<participant>` stream (the event store: authoritative, whatever the read model
has applied), with its explanation in Russian.

The set is shown only while a verified consent covering `recommendations` is in force (the
issuing projection's evidence says so); withdrawn, nothing is shown (403 `consent_required`) and
nothing new is computed. The explanation needs what the published event does not carry (every
environment's score with its contributions, the profile classes and routes): it is computed
again from the evidence the set names in its basis (the attempts, attended bookings and rubrics)
with the rules version the set names. `reproduced` says the recomputation gives exactly the
published leading environments and study plan; when a basis is no longer held (a stage completed
again in the same season replaced its attempt) there is no explanation, and `reproduced` is
False.
"""

from dataclasses import dataclass
from uuid import UUID

from bilet.audit import Access
from bilet.contracts.catalogue.consent import Purpose
from bilet.contracts.catalogue.recommender import RecommendationsIssued
from bilet_recommender.application import access
from bilet_recommender.application.base import RecommenderCore
from bilet_recommender.application.errors import (
    ConsentRequired,
    ParticipantErased,
    UnknownParticipant,
)
from bilet_recommender.application.eventlog import EVENT_LOG
from bilet_recommender.application.inputs import QueryContext
from bilet_recommender.application.issuing import stream_id
from bilet_recommender.domain.evidence import Evidence
from bilet_recommender.domain.explanation import explain
from bilet_recommender.domain.offers import Opportunities
from bilet_recommender.domain.recommend import Recommended, compute

PURPOSE = "recommendations"  # the audit record's purpose


@dataclass(frozen=True)
class RecommendationsView:
    """The latest set (None: none issued yet), its explanation (None: not reproducible), and
    where the stream stands (`version`, `position`: what the ETag and `BVB-Position` name)."""

    participant_id: UUID
    issued: RecommendationsIssued | None
    explanation: dict[str, object] | None
    reproduced: bool
    version: int | None
    position: int


class RecommendationQueries(RecommenderCore):
    async def recommendations(self, ctx: QueryContext, participant_id: UUID) -> RecommendationsView:
        """The pupil, their guardian, their school's navigator, their region's coordinator; any
        other role: 403 before anything is looked up; not the caller's: unknown."""
        principal = ctx.principal
        access.require_role(principal, access.RECOMMENDATION_READERS, "read recommendations")
        evidence = await self.evidence.evidence(participant_id)
        if evidence is None:
            raise UnknownParticipant()
        if evidence.erased:
            # An erased participant has no school or region left: only the pupil themself and
            # their guardian learn that the data was destroyed.
            if access.reads_recommendations_of(principal, participant_id, None, None):
                raise ParticipantErased()
            raise UnknownParticipant()
        if not access.reads_recommendations_of(
            principal, participant_id, evidence.school_id, evidence.region_id
        ):
            raise UnknownParticipant()
        if not evidence.allows(Purpose.RECOMMENDATIONS, self.clock().date()):
            raise ConsentRequired()
        stream = await EVENT_LOG.read(self.store, stream_id(participant_id))
        sets = [e for e in stream.events if isinstance(e, RecommendationsIssued)]
        latest = sets[-1] if sets else None
        again = None if latest is None else await self._recomputed(evidence, latest)
        await self.audit.record(
            ctx.audit(Access.READ, participant_id, PURPOSE, ["recommendations"])
        )
        return RecommendationsView(
            participant_id=participant_id,
            issued=latest,
            explanation=None if again is None else self._explained(again[0]),
            reproduced=again is not None and again[1],
            version=stream.version,
            position=stream.position,
        )

    def _explained(self, recommended: Recommended) -> dict[str, object] | None:
        rules = self.rules_of(recommended.event.rules)
        return None if rules is None else explain(recommended, rules)

    async def _recomputed(
        self, evidence: Evidence, issued: RecommendationsIssued
    ) -> tuple[Recommended, bool] | None:
        """The published set with what its basis gives again (scores, profile classes, routes),
        and whether the recomputation gives the same leading environments and study plan; None
        when the rules version or a piece of the basis is no longer at hand."""
        rules = self.rules_of(issued.rules)
        if rules is None:
            return None
        basis = issued.basis
        attempts = {a.attempt_id for a in basis.attempts}
        bookings = set(basis.attended_bookings)
        feedback = set(basis.feedback_ids)
        held = evidence.model_copy(
            update={
                "stages": tuple(r for r in evidence.stages if r.attempt_id in attempts),
                "attended": tuple(a for a in evidence.attended if a.booking_id in bookings),
                "rubrics": tuple(r for r in evidence.rubrics if r.feedback_id in feedback),
                "issued": (),
            }
        )
        if len(held.stages) != len(attempts) or len(held.attended) != len(bookings):
            return None
        environments = await self.counts.environments_of({a.career_event_id for a in held.attended})
        catalogue = Opportunities(self.clock(), (), tuple(environments.items()))
        again = compute(held, catalogue, rules)
        if again is None:
            return None
        recommended = Recommended(
            event=issued,
            scores=again.scores,
            profile_classes=again.profile_classes,
            routes=again.routes,
        )
        # What the explanation rests on is what was published (the offers may have changed).
        same = (
            again.event.leading_environments == issued.leading_environments
            and again.event.study_plan == issued.study_plan
        )
        return recommended, same
