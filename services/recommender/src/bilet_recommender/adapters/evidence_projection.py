"""The recommender's kernel projection (ADR 0008): each participant's `Evidence` (table
`rec_evidence`, JSON) and the catalogue of opportunities (`rec_offers`: career events from
`bilet.events` and the courses and clubs coordinators register, internal `opportunity-<id>`).

`issuing_projection(store, keystore, clock)` also runs the issuing step (`application/issuing.py`)
for every fact about a participant: the embedded runtime (`make run`) issues recommendations this
way. `EVIDENCE_PROJECTION` folds the same tables without issuing: the read side the API reads
when the faust worker issues (production). Both have the same name and tables.

No readable personal data is kept: ids, grade, region, season, scores, levels, closed-list codes
and the accessibility needs as identity sealed them (`domain/evidence.py`); the catalogue holds
public organisational facts and booking ids.
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final
from uuid import UUID

from pydantic import TypeAdapter

from bilet.contracts import CATALOGUE, DomainEvent, decode
from bilet.contracts.catalogue.events import (
    BookingCancelled,
    CareerEventCancelled,
    CareerEventPublished,
    CareerEventRevised,
    SeatBooked,
)
from bilet.crypto import KeyStore
from bilet.eventstore import EventStore, RecordedEvent
from bilet.projections import ReadModel, ReadModelTx, Row, Table
from bilet_recommender.adapters.tables import current_rules
from bilet_recommender.application.issuing import Clock, Issuing
from bilet_recommender.domain import evidence as evidence_fold
from bilet_recommender.domain import opportunity as opportunity_fold
from bilet_recommender.domain.evidence import FACT_TYPES, Evidence, Fact
from bilet_recommender.domain.internal import (
    INTERNAL_EVENTS,
    OPPORTUNITY_CATEGORY,
    OpportunityRegistered,
    OpportunityRevised,
    OpportunityWithdrawn,
)
from bilet_recommender.domain.offers import (
    CareerEvent,
    Offer,
    Opportunities,
    career_event_offer,
    evolve_career_event,
)
from bilet_recommender.domain.rules import RecommendationRules

PROJECTION: Final = "recommender_evidence"
IDENTITY: Final = "identity"
CONSENT: Final = "consent"
DIAGNOSTICS: Final = "diagnostics"
EVENTS: Final = "events"
RECOMMENDER: Final = "recommender"
SOURCES: Final = (IDENTITY, CONSENT, DIAGNOSTICS, EVENTS, RECOMMENDER)

CAREER_EVENT: Final = "career_event"
REGISTERED: Final = "registered"

TABLES: Final = (
    Table("rec_evidence", "participant_id TEXT PRIMARY KEY, evidence TEXT NOT NULL"),
    # kind: career_event (state: offers.CareerEvent) or registered (state: opportunity.Opportunity)
    Table(
        "rec_offers",
        "opportunity_id TEXT PRIMARY KEY, kind TEXT NOT NULL, region_id TEXT, state TEXT NOT NULL",
        indexes=("region_id",),
    ),
)

# What an embedded feed reads from the stores: the published types (as on Kafka: another
# service's internal streams never reach this read model) and the recommender's opportunities.
FEED_EVENT_TYPES: Final = frozenset(CATALOGUE.event_types()) | frozenset(
    INTERNAL_EVENTS.event_types()
)
# What the worker's feed reads from the recommender's own store (the rest comes from Kafka).
OWN_EVENT_TYPES: Final = frozenset(INTERNAL_EVENTS.event_types()) | {"RecommendationsIssued"}

_EVIDENCE_TYPES: Final = frozenset(t.event_type for t in FACT_TYPES)
_CAREER_EVENT_TYPES: Final = (
    CareerEventPublished,
    CareerEventRevised,
    CareerEventCancelled,
    SeatBooked,
    BookingCancelled,
)
_CAREER_EVENT_NAMES: Final = frozenset(t.event_type for t in _CAREER_EVENT_TYPES)
_CAREER_EVENT_JSON: Final = TypeAdapter(CareerEvent)
_OPPORTUNITY_JSON: Final = TypeAdapter(opportunity_fold.Opportunity)

# One statement makes the row if missing, locks it and reads it (ADR 0047: it was three).
_HOLD_EVIDENCE: Final = (
    "INSERT INTO {rec_evidence} AS held (participant_id, evidence) VALUES ($1, $2) "
    "ON CONFLICT (participant_id) DO UPDATE SET evidence = held.evidence RETURNING evidence"
)
_SAVE_EVIDENCE: Final = (
    "INSERT INTO {rec_evidence} (participant_id, evidence) VALUES ($1, $2) "
    "ON CONFLICT (participant_id) DO UPDATE SET evidence = excluded.evidence"
)
_SAVE_OFFER: Final = (
    "INSERT INTO {rec_offers} (opportunity_id, kind, region_id, state) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT (opportunity_id) DO UPDATE SET region_id = excluded.region_id, "
    "state = excluded.state"
)
_OFFERS_OF_REGION: Final = "SELECT kind, state FROM {rec_offers} WHERE region_id = $1"
_OFFER: Final = "SELECT kind, state FROM {rec_offers} WHERE opportunity_id = $1"


def _dump_evidence(evidence: Evidence) -> str:
    return evidence.model_dump_json()


def load_evidence(raw: str | bytes) -> Evidence:
    return Evidence.model_validate_json(raw)


def catalogue_of(rows: Sequence[Row], as_of: datetime) -> Opportunities:
    """The catalogue as of `as_of` from `rec_offers` rows (kind, state)."""
    offers: list[Offer] = []
    environments: dict[UUID, tuple[Any, ...]] = {}
    for kind, state in rows:
        offer: Offer | None
        if kind == CAREER_EVENT:
            career_event = _CAREER_EVENT_JSON.validate_json(state)
            environments[career_event.career_event_id] = career_event.environments
            offer = career_event_offer(career_event, as_of)
        else:
            offer = opportunity_fold.offer_of(_OPPORTUNITY_JSON.validate_json(state), as_of.date())
        if offer is not None:
            offers.append(offer)
    offers.sort(key=lambda o: str(o.opportunity_id))
    return Opportunities(
        as_of=as_of,
        offers=tuple(offers),
        environments_of=tuple(sorted(environments.items(), key=lambda item: str(item[0]))),
    )


class TxCatalogue:
    """The catalogue read through a read-model transaction (the projection's own, or a reader)."""

    def __init__(self, tx: ReadModelTx) -> None:
        self.tx = tx

    async def opportunities(
        self, region_id: UUID, attended: Sequence[UUID], as_of: datetime
    ) -> Opportunities:
        rows = list(await self.tx.fetch(_OFFERS_OF_REGION, str(region_id)))
        # Career events attended elsewhere still count for their environments.
        for career_event_id in sorted({str(i) for i in attended}):
            row = await self.tx.fetchrow(_OFFER, career_event_id)
            if row is not None and row not in rows:
                rows.append(row)
        return catalogue_of(rows, as_of)


class ReadModelCatalogue:
    """The catalogue read from the read model (the faust worker's issuing step)."""

    def __init__(self, read_model: ReadModel) -> None:
        self.read_model = read_model

    async def opportunities(
        self, region_id: UUID, attended: Sequence[UUID], as_of: datetime
    ) -> Opportunities:
        async with self.read_model.query(EVIDENCE_PROJECTION) as tx:
            return await TxCatalogue(tx).opportunities(region_id, attended, as_of)


class EvidenceProjection:
    """Folds evidence and the catalogue; with an `Issuing`, also issues recommendations."""

    name = PROJECTION
    tables = TABLES
    # What `apply` reads of the recorded event besides the runtime's stream id, version and
    # position (ADR 0067): the Kafka feed decodes nothing else (not the time).
    event_fields = frozenset({"type", "data", "metadata", "event_id"})

    def __init__(self, issuing: Issuing | None = None) -> None:
        self.issuing = issuing

    async def apply(self, tx: ReadModelTx, event: RecordedEvent) -> None:
        if event.category == OPPORTUNITY_CATEGORY and INTERNAL_EVENTS.is_published(event.type):
            await self._opportunity(tx, event)
            return
        if not CATALOGUE.is_published(event.type):
            return  # other internal streams, the audit trail
        if event.type in _CAREER_EVENT_NAMES:
            await self._career_event(tx, decode(event))
        if event.type in _EVIDENCE_TYPES:
            fact = decode(event)
            assert isinstance(fact, FACT_TYPES)
            await self._evidence(tx, fact, event.event_id)

    async def _evidence(self, tx: ReadModelTx, fact: Fact, event_id: UUID) -> None:
        participant_id = fact.participant_id
        initial = evidence_fold.initial(participant_id)
        # The participant's row lock first: the Kafka feed applies partitions in transactions
        # side by side, and a participant's facts come from four topics; without it two facts
        # read the same evidence and the later commit dropped the other's (a registration lost
        # under a stage result, seen in the recommender bench). The row is made if missing and
        # locked by the same upsert, whose RETURNING reads the row as the other's commit left it
        # (PostgreSQL's ON CONFLICT DO UPDATE waits for the lock and takes the latest version;
        # SQLite has one writer at a time anyway).
        raw = await tx.fetchval(_HOLD_EVIDENCE, str(participant_id), _dump_evidence(initial))
        evidence = initial if raw is None else load_evidence(raw)
        if self.issuing is None:
            evolved = evidence_fold.evolve(evidence, fact)
        else:
            evolved = await self.issuing.apply(evidence, fact, TxCatalogue(tx), event_id)
        if evolved != evidence:
            await tx.execute(_SAVE_EVIDENCE, str(participant_id), _dump_evidence(evolved))

    async def _career_event(self, tx: ReadModelTx, event: DomainEvent) -> None:
        assert isinstance(event, _CAREER_EVENT_TYPES)
        key = str(event.career_event_id)
        raw = await tx.fetchval("SELECT state FROM {rec_offers} WHERE opportunity_id = $1", key)
        state = None if raw is None else _CAREER_EVENT_JSON.validate_json(raw)
        evolved = evolve_career_event(state, event)
        if evolved is not None and evolved != state:
            await tx.execute(
                _SAVE_OFFER,
                key,
                CAREER_EVENT,
                str(evolved.region_id),
                _CAREER_EVENT_JSON.dump_json(evolved).decode(),
            )

    async def _opportunity(self, tx: ReadModelTx, recorded: RecordedEvent) -> None:
        event = decode(recorded, INTERNAL_EVENTS)
        assert isinstance(event, OpportunityRegistered | OpportunityRevised | OpportunityWithdrawn)
        key = str(event.opportunity_id)
        raw = await tx.fetchval("SELECT state FROM {rec_offers} WHERE opportunity_id = $1", key)
        state = (
            opportunity_fold.initial(event.opportunity_id)
            if raw is None
            else _OPPORTUNITY_JSON.validate_json(raw)
        )
        evolved = opportunity_fold.evolve(state, event)
        region = None if evolved.region_id is None else str(evolved.region_id)
        await tx.execute(
            _SAVE_OFFER, key, REGISTERED, region, _OPPORTUNITY_JSON.dump_json(evolved).decode()
        )


EVIDENCE_PROJECTION: Final = EvidenceProjection()


def issuing_projection(
    store: EventStore,
    keystore: KeyStore,
    clock: Clock,
    rules: RecommendationRules | None = None,
) -> EvidenceProjection:
    """The projection that also issues recommendations into `store` (the embedded runtime)."""
    return EvidenceProjection(Issuing(store, keystore, rules or current_rules(), clock))


class ReadModelEvidence:
    """What the API reads of the projection: a participant's evidence and a region's offers."""

    def __init__(self, read_model: ReadModel) -> None:
        self.read_model = read_model

    async def evidence(self, participant_id: UUID) -> Evidence | None:
        """The participant's evidence; None when nothing is known of them (or, distributed,
        before the worker has made the read model's tables)."""
        async with self.read_model.query(EVIDENCE_PROJECTION) as tx:
            try:
                raw = await tx.fetchval(
                    "SELECT evidence FROM {rec_evidence} WHERE participant_id = $1",
                    str(participant_id),
                )
            except Exception as error:
                if self.read_model.is_missing_table(error):
                    return None
                raise
        return None if raw is None else load_evidence(raw)

    async def catalogue(self, region_id: UUID, as_of: datetime) -> Opportunities:
        """The region's catalogue as of `as_of` (what `recommend` is given); empty before the
        worker has made the read model's tables."""
        async with self.read_model.query(EVIDENCE_PROJECTION) as tx:
            try:
                return await TxCatalogue(tx).opportunities(region_id, (), as_of)
            except Exception as error:
                if self.read_model.is_missing_table(error):
                    return catalogue_of([], as_of)
                raise

    async def opportunities(self, region_id: UUID, as_of: datetime | None = None) -> list[Offer]:
        """The region's offers open as of `as_of` (default: now; registered courses and clubs,
        career events with an open session), by start then id."""
        catalogue = await self.catalogue(region_id, as_of or datetime.now(UTC))
        return sorted(catalogue.offers, key=lambda o: (o.starts, str(o.opportunity_id)))
