"""What every group of the recommender's use cases stands on: the store and its command path
(`Transactor`), the read side (`EvidenceReader`: the evidence per participant and the
offers, the issuing projection's; `InsightCounts`: the coordinators' counts and career
events' environments), the rules tables, the audit trail and the clock."""

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol
from uuid import UUID

from bilet.application import Transactor
from bilet.audit import AuditLog
from bilet.contracts.vocabulary import Environment, MappingRef
from bilet.crypto import FieldCipher, KeyStore
from bilet.eventstore import EventStore
from bilet_recommender.application.errors import VersionConflict
from bilet_recommender.application.eventlog import EVENT_LOG
from bilet_recommender.domain.evidence import Evidence
from bilet_recommender.domain.offers import Offer
from bilet_recommender.domain.rules import RecommendationRules

Clock = Callable[[], datetime]


class EvidenceReader(Protocol):
    """The issuing projection's read model (`adapters.evidence_projection.ReadModelEvidence`)."""

    async def evidence(self, participant_id: UUID) -> Evidence | None:
        """The participant's evidence as folded so far (None: nothing known of them)."""
        ...

    async def opportunities(self, region_id: UUID, as_of: datetime | None = None) -> list[Offer]:
        """The region's offers as of `as_of`: career events with an open session, registered
        courses and clubs not withdrawn or over."""
        ...


@dataclass(frozen=True)
class Count:
    """Distinct pupils of a municipality who did `metric` in `week` (`detail`: the leading
    environment, for `leading_environment`)."""

    municipality: str
    week: str
    metric: str
    detail: str
    pupils: int


class InsightCounts(Protocol):
    """The insights projection's read model (`adapters.insights.ReadModelInsights`)."""

    async def counts(self, region_id: UUID) -> list[Count]: ...

    async def environments_of(
        self, career_event_ids: Collection[UUID]
    ) -> dict[UUID, tuple[Environment, ...]]: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


class RecommenderCore:
    def __init__(
        self,
        store: EventStore,
        keystore: KeyStore,
        evidence: EvidenceReader,
        counts: InsightCounts,
        tables: tuple[RecommendationRules, ...],
        audit: AuditLog,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self.store = store
        self.evidence = evidence
        self.counts = counts
        # Every rules version shipped, by its reference: a set is explained by the version it
        # names, not the one in use today.
        self.tables: dict[tuple[str, str], RecommendationRules] = {
            (t.rules_id, t.version): t for t in tables
        }
        self.audit = audit
        self.clock = clock
        # The opportunities hold public, organisational text only: the cipher never seals.
        self.transactor = Transactor(store, FieldCipher(keystore), EVENT_LOG, VersionConflict)

    def rules_of(self, ref: MappingRef) -> RecommendationRules | None:
        return self.tables.get((ref.mapping_id, ref.version))
