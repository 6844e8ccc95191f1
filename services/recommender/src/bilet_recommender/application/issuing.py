"""The one step both runtimes run for every fact about a participant (the embedded projection,
`adapters/evidence_projection.py`, and the faust worker, `worker.py`): fold the fact into the
participant's `Evidence` and, when `recommend` gives a set not issued yet, append
`RecommendationsIssued` to `recommendations-<participant id>` with the set's derived id as its
event id (ADR 0037 decision 5, ADR 0038).

Why this is safe under redelivery: the event id is uuid5 of the participant and the versions of
the evidence, so a fact delivered again after a crash or a rebalance computes the same id, and the
event store keeps it once (its idempotent retry). The stream itself is the authority on what was
issued: before deciding, the step folds the stream's last set into the evidence, so a runtime
that lost its state after appending (killed before its table or checkpoint was saved) does not
issue a set twice, and a new set names the one really in force in `supersedes`.

A runtime that takes facts in batches (the worker, ADR 0047) hands the step a `Pending`: the sets
it decides wait there and are appended together, in one commit (`Pending.append`), before the
batch's evidence is saved and its offsets acknowledged; the stream is then read once per
participant and batch (after that, the evidence already holds what the batch decided, and the
stream would not yet). The embedded projection, which appends each set at once, keeps a
transaction's evidence in memory likewise and reads each participant's stream once per
transaction (`read`, docs/adr/0088).

The accessibility needs are opened with the participant's health key only while a consent in
force covers `health_data`, at the moment of recommending, and never kept open.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Protocol
from uuid import UUID

from bilet.contracts import encode
from bilet.contracts.catalogue.consent import Purpose
from bilet.contracts.catalogue.recommender import RecommendationsIssued
from bilet.contracts.metadata import EventMetadata
from bilet.contracts.sealed import SealedValue, health_key_subject
from bilet.contracts.vocabulary import AccessibilityNeed
from bilet.crypto import FieldCipher, KeyStore
from bilet.crypto.fields import is_erased
from bilet.eventstore import EventStore, NewEvent, StreamAppend
from bilet_recommender.application.issued_head import ISSUED, issued_head
from bilet_recommender.domain import evidence as evidence_fold
from bilet_recommender.domain.evidence import Evidence, Fact
from bilet_recommender.domain.offers import Opportunities
from bilet_recommender.domain.recommend import recommend
from bilet_recommender.domain.rules import RecommendationRules

Clock = Callable[[], datetime]

RECOMMENDATIONS_CATEGORY: Final = "recommendations"
# The field name identity seals the needs under (bound into the envelope).
NEEDS_FIELD: Final = "accessibility_needs"
ACTOR: Final = "recommender"


def stream_id(participant_id: UUID) -> str:
    return f"{RECOMMENDATIONS_CATEGORY}-{participant_id}"


class Catalogue(Protocol):
    """The opportunities a participant may be offered, as of a moment: the offers of their region
    and the environments of every career event they attended (evidence for those environments)."""

    async def opportunities(
        self, region_id: UUID, attended: Sequence[UUID], as_of: datetime
    ) -> Opportunities: ...


@dataclass
class Pending:
    """The sets a batch decided, not appended yet (stream id → events in order), and the
    participants whose stream the batch has read already."""

    events: dict[str, list[NewEvent]] = field(default_factory=dict)
    read: set[UUID] = field(default_factory=set)

    async def append(self, store: EventStore) -> int:
        """Append every waiting set in one commit (a redelivered batch is the store's idempotent
        retry, stream by stream); how many were waiting."""
        appends = [StreamAppend(stream, events) for stream, events in self.events.items()]
        if appends:
            await store.append_many(appends)
        self.events.clear()
        return sum(len(a.events) for a in appends)


class Issuing:
    """Evidence in, evidence out: `apply(evidence, fact, catalogue)` folds the fact and issues the
    set it calls for. The caller keeps the evidence it returns (a faust table, a read-model row)."""

    def __init__(
        self,
        store: EventStore,
        keystore: KeyStore,
        rules: RecommendationRules,
        clock: Clock,
    ) -> None:
        self.store = store
        self.cipher = FieldCipher(keystore)
        self.rules = rules
        self.clock = clock

    async def apply(
        self,
        evidence: Evidence,
        fact: Fact,
        catalogue: Catalogue,
        causation_id: UUID | None = None,
        pending: Pending | None = None,
        *,
        read: set[UUID] | None = None,
    ) -> Evidence:
        """The evidence after `fact`, with the set it calls for appended (or left in `pending`)
        and folded in. `read`: as `Pending.read`, for a caller that appends at once.

        Never a `RecommendationsIssued`: a set is folded without this step (the worker's agent
        never takes one, `worker.FACTS`; the evidence projection folds one by its head, ADR 0109);
        the step issues on the facts a set is made of, never on a set."""
        assert not isinstance(fact, RecommendationsIssued), "a set is folded, not issued on"
        evidence = evidence_fold.evolve(evidence, fact)
        return await self.issue(evidence, catalogue, causation_id, pending, read=read)

    async def issue(
        self,
        evidence: Evidence,
        catalogue: Catalogue,
        causation_id: UUID | None = None,
        pending: Pending | None = None,
        *,
        read: set[UUID] | None = None,
    ) -> Evidence:
        """Issue the set `evidence` calls for, if any; the evidence with it folded in.

        `read` (or `pending.read`): the participants whose stream was read already by whoever
        keeps their evidence in hand (the embedded projection's transaction, the worker's
        batch): that evidence holds every set issued since, so the stream is not read again."""
        as_of = self.clock()
        region_id = evidence.region_id
        if region_id is None or not evidence.allows(Purpose.RECOMMENDATIONS, as_of.date()):
            return evidence
        if evidence.completed_season() is None:
            return evidence
        participant_id = evidence.participant_id
        if pending is not None:
            read = pending.read
        if read is None or participant_id not in read:
            evidence = await self.in_force(evidence)
            if read is not None:
                read.add(participant_id)
        offers = await catalogue.opportunities(
            region_id, [a.career_event_id for a in evidence.attended], as_of
        )
        event = recommend(evidence, offers, self.rules, await self.needs(evidence, as_of))
        if event is None:
            return evidence
        metadata = EventMetadata(
            actor=ACTOR,
            causation_id=None if causation_id is None else str(causation_id),
        )
        new = encode(event, metadata, event_id=event.recommendation_set_id)
        if pending is None:
            await self.store.append(stream_id(participant_id), [new])
        else:
            pending.events.setdefault(stream_id(participant_id), []).append(new)
        return evidence_fold.evolve(evidence, event)

    async def in_force(self, evidence: Evidence) -> Evidence:
        """`evidence` with the set last appended to the participant's stream folded in (the
        stream is the authority: a runtime may have lost its state after appending). Only the
        set's head is read (`issued_head`, ADR 0109): the fold takes its season and id, and
        validating the whole set was two thirds of this step's cost in the season (ADR 0115)."""
        last = await self.store.read_stream(
            stream_id(evidence.participant_id), backwards=True, limit=1
        )
        if not last or last[0].type != ISSUED:
            return evidence
        issued = issued_head(last[0])
        if evidence.last_issued(issued.season) == issued.recommendation_set_id:
            return evidence
        return evidence_fold.set_issued(evidence, issued.season, issued.recommendation_set_id)

    async def needs(
        self, evidence: Evidence, as_of: datetime
    ) -> frozenset[AccessibilityNeed] | None:
        """The needs opened with the health key while a consent covers health data; None (not
        known, not filtered on) without it, when none are stated or once the key is gone."""
        sealed = evidence.needs
        if sealed is None or not evidence.allows(Purpose.HEALTH_DATA, as_of.date()):
            return None
        if not isinstance(sealed.value, SealedValue):
            return None  # erased at the source
        subject = health_key_subject(evidence.participant_id, sealed.key_generation)
        opened = (await self.cipher.decrypt(subject, {NEEDS_FIELD: sealed.value.envelope()}))[
            NEEDS_FIELD
        ]
        if is_erased(opened) or not isinstance(opened, list):
            return None
        return frozenset(AccessibilityNeed(str(need)) for need in opened)
