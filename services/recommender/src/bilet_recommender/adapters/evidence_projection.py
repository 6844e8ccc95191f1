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

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Final, Generic, Protocol, TypeVar
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
from bilet_recommender.application.issued_head import ISSUED, IssuedHead, issued_head
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

# The facts a participant's evidence folds, but a set: `apply` folds one by its head (ADR 0109).
_EVIDENCE_TYPES: Final = frozenset(t.event_type for t in FACT_TYPES) - {ISSUED}
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
# The key a transaction that writes an offer names (`ReadModelTx.changed`; not a participant
# id): the worker's issuing step keeps the catalogue it read until it hears it (ADR 0104).
OFFERS_CHANGED: Final = "offers"
_OFFERS_OF_REGION: Final = "SELECT kind, state FROM {rec_offers} WHERE region_id = $1"
_OFFER: Final = "SELECT kind, state FROM {rec_offers} WHERE opportunity_id = $1"


def _dump_evidence(evidence: Evidence) -> str:
    return evidence.model_dump_json()


def load_evidence(raw: str | bytes) -> Evidence:
    return Evidence.model_validate_json(raw)


# A `rec_offers` row parsed: a career event's state, or a registered opportunity's.
_Parsed = CareerEvent | opportunity_fold.Opportunity


def _parsed(row: Row) -> _Parsed:
    kind, state = row
    if kind == CAREER_EVENT:
        return _CAREER_EVENT_JSON.validate_json(state)
    return _OPPORTUNITY_JSON.validate_json(state)


def _catalogue(states: Sequence[_Parsed], as_of: datetime) -> Opportunities:
    """The catalogue as of `as_of` from `rec_offers` rows, parsed (`_parsed`)."""
    offers: list[Offer] = []
    environments: dict[UUID, tuple[Any, ...]] = {}
    for state in states:
        offer: Offer | None
        if isinstance(state, CareerEvent):
            environments[state.career_event_id] = state.environments
            offer = career_event_offer(state, as_of)
        else:
            offer = opportunity_fold.offer_of(state, as_of.date())
        if offer is not None:
            offers.append(offer)
    offers.sort(key=lambda o: str(o.opportunity_id))
    return Opportunities(
        as_of=as_of,
        offers=tuple(offers),
        environments_of=tuple(sorted(environments.items(), key=lambda item: str(item[0]))),
    )


_V = TypeVar("_V")


class _Reads(Protocol):
    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...


class _Once(Generic[_V]):
    """Values read once per key; a caller that asks for a key whose read is in flight waits
    for that read rather than making its own (single flight). A read that fails is no one's
    value: each caller waiting on it then reads for itself, as it would have without waiting."""

    def __init__(self) -> None:
        self._of: dict[str, asyncio.Future[_V]] = {}

    def clear(self) -> None:
        """Forget every value; a read in flight still gives its value to those waiting on it."""
        self._of.clear()

    def in_flight(self) -> bool:
        return any(not flight.done() for flight in self._of.values())

    def kept(self) -> dict[str, _V]:
        """The values read (none in flight: see `in_flight`)."""
        return {key: flight.result() for key, flight in self._of.items() if not flight.cancelled()}

    def holds(self, key: str) -> bool:
        """Whether `key`'s value is among those `kept` gives (none in flight: see `in_flight`)."""
        flight = self._of.get(key)
        return flight is not None and not flight.cancelled()

    def put(self, key: str, value: _V) -> None:
        """Keep `value` for `key` as if a read had given it."""
        flight = self._of[key] = asyncio.get_running_loop().create_future()
        flight.set_result(value)

    async def get(self, key: str, read: Callable[[], Awaitable[_V]]) -> _V:
        while (flight := self._of.get(key)) is not None:
            if not flight.done():
                await asyncio.wait([flight])  # a waiter cancelled leaves the read alone
            if not flight.cancelled():
                return flight.result()
        flight = self._of[key] = asyncio.get_running_loop().create_future()
        try:
            value = await read()
        except BaseException:
            if self._of.get(key) is flight:
                del self._of[key]
            flight.cancel()
            raise
        flight.set_result(value)
        return value


class TxCatalogue:
    """The catalogue read through a read-model transaction (the projection's own, or the API's
    query: `ReadModelEvidence.catalogue`) or through queries of their own (`QueryReads`: the
    worker's `KeptCatalogue`). The rows it read are kept, parsed, until `forget`: the
    projection's transaction issues for many facts of one region in a row, and tells it when it
    writes an offer. Sets issued side by side (the worker's batch, ADR 0104) wait for a region's
    (or an offer's) read in flight rather than read it again each: after the kept rows are
    dropped, a batch's sets of one region would otherwise all read it at once."""

    def __init__(self, tx: _Reads) -> None:
        self.tx = tx
        self._regions: _Once[list[_Parsed]] = _Once()
        self._offers: _Once[_Parsed | None] = _Once()

    def forget(self) -> None:
        self._regions.clear()
        self._offers.clear()

    def wrote(self, offer_id: str, kind: str, region: str | None, state: str) -> None:
        """The row the transaction reading through this catalogue just wrote (`_SAVE_OFFER`'s
        arguments): the rows kept take it, parsed from the text written, in place of the one
        they held of that offer, which is what reading them again would give (in another order
        within a region, which `_catalogue` does not depend on). A read in flight might give
        the old row after this: then everything is forgotten, as before (ADR 0115)."""
        if self._regions.in_flight() or self._offers.in_flight():
            self.forget()
            return
        parsed = _parsed((kind, state))
        for kept_region, states in self._regions.kept().items():
            others = [s for s in states if str(_offer_id(s)) != offer_id]
            if kept_region == region:
                others.append(parsed)
            if len(others) != len(states) or kept_region == region:
                self._regions.put(kept_region, others)
        if self._offers.holds(offer_id):
            self._offers.put(offer_id, parsed)

    async def _region(self, region: str) -> list[_Parsed]:
        return [_parsed(row) for row in await self.tx.fetch(_OFFERS_OF_REGION, region)]

    async def _offer(self, offer_id: str) -> _Parsed | None:
        row = await self.tx.fetchrow(_OFFER, offer_id)
        return None if row is None else _parsed(row)

    async def opportunities(
        self, region_id: UUID, attended: Sequence[UUID], as_of: datetime
    ) -> Opportunities:
        region = str(region_id)
        chosen = list(await self._regions.get(region, lambda: self._region(region)))
        # By id, not by row: rows kept across reads (the worker's catalogue, ADR 0104) may be
        # two versions of one offer read either side of its change; the region's is taken.
        known = {_offer_id(state) for state in chosen}
        # Career events attended elsewhere still count for their environments.
        for career_event_id in sorted({str(i) for i in attended}):
            found = await self._offers.get(
                career_event_id, functools.partial(self._offer, career_event_id)
            )
            if found is not None and (offer_id := _offer_id(found)) not in known:
                chosen.append(found)
                known.add(offer_id)
        return _catalogue(chosen, as_of)


def _offer_id(state: _Parsed) -> UUID:
    return state.career_event_id if isinstance(state, CareerEvent) else state.opportunity_id


class QueryReads:
    """`TxCatalogue`'s reads, each through a query of its own (no transaction held between
    them: a catalogue kept for a while must not hold one open)."""

    def __init__(self, read_model: ReadModel) -> None:
        self.read_model = read_model

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self.read_model.query(EVIDENCE_PROJECTION) as tx:
            return await tx.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        async with self.read_model.query(EVIDENCE_PROJECTION) as tx:
            return await tx.fetchrow(sql, *args)


# Per region, the last (attended events, moment) a catalogue was built for, and that catalogue.
Built = dict[UUID, tuple[tuple[tuple[UUID, ...], datetime], Opportunities]]


async def built_once(
    built: Built,
    rows: TxCatalogue,
    region_id: UUID,
    attended: Sequence[UUID],
    as_of: datetime,
) -> Opportunities:
    """`rows.opportunities(...)`, built once per (region, attended events, moment) in a row in
    `built` (whose keeper drops it when the rows change): a region's sets in a row are offered
    the same catalogue, and building it per set was most of what reading it cost. Only each
    region's last is kept: the catalogue depends on the moment (a session open at it, an offer
    not yet ended), and with the runtime's clock each set has its own (`Issuing.issue`), so
    keeping every key would only grow until the next drop (ADR 0115, amendment)."""
    key = (tuple(sorted(set(attended), key=str)), as_of)
    last = built.get(region_id)
    if last is not None and last[0] == key:
        return last[1]
    found = await rows.opportunities(region_id, attended, as_of)
    built[region_id] = (key, found)  # a drop during the read leaves it behind, unused
    return found


class BuiltCatalogue:
    """The embedded projection's catalogue for one transaction (ADR 0115): `TxCatalogue`'s
    rows, kept for the whole transaction and given every offer it writes in place, and the
    catalogues built from them (`built_once`), dropped at each such write."""

    def __init__(self, rows: TxCatalogue) -> None:
        self.rows = rows
        self.built: Built = {}

    def wrote(self, offer_id: str, kind: str, region: str | None, state: str) -> None:
        self.built = {}
        self.rows.wrote(offer_id, kind, region, state)

    async def opportunities(
        self, region_id: UUID, attended: Sequence[UUID], as_of: datetime
    ) -> Opportunities:
        return await built_once(self.built, self.rows, region_id, attended, as_of)


async def _hold(tx: ReadModelTx, participant_id: UUID) -> Evidence:
    """The participant's evidence, its row locked first: the Kafka feed applies partitions in
    transactions side by side, and a participant's facts come from four topics; without it two
    facts read the same evidence and the later commit dropped the other's (a registration lost
    under a stage result, seen in the recommender bench). The row is made if missing and locked
    by the same upsert, whose RETURNING reads the row as the other's commit left it
    (PostgreSQL's ON CONFLICT DO UPDATE waits for the lock and takes the latest version; SQLite
    has one writer at a time anyway). The lock lasts until the transaction ends."""
    initial = evidence_fold.initial(participant_id)
    raw = await tx.fetchval(_HOLD_EVIDENCE, str(participant_id), _dump_evidence(initial))
    return initial if raw is None else load_evidence(raw)


class EvidenceBatch:
    """The evidence of the participants one transaction's facts are about, held in memory from
    their first fact in it (read once, its row locked until the commit) and written once, by
    `before_commit`, after the last: a season's catch-up brings a pupil's facts in runs (three
    stage results, bookings, attendance and feedback), and reading, validating, dumping and
    writing the row for each of them cost more than folding them (docs/adr/0088). Made by
    `ReadModelTx.gathered`, so it covers exactly what commits: a batch that fails is retried
    one event per transaction, each with a batch of its own.

    Also for the issuing step: the participants whose last issued set was folded in already
    (`in_force`: after that the evidence holds every set this transaction issued), and the
    catalogue read through it, kept while no offer changes (`catalogue`)."""

    def __init__(self) -> None:
        self.read: dict[UUID, Evidence] = {}  # as first read in this transaction
        self.held: dict[UUID, Evidence] = {}  # as the facts so far left it
        self.in_force: set[UUID] = set()
        self._catalogue: BuiltCatalogue | None = None

    def catalogue(self, tx: ReadModelTx) -> "BuiltCatalogue":
        if self._catalogue is None:
            self._catalogue = BuiltCatalogue(TxCatalogue(tx))
        return self._catalogue

    async def save_offer(
        self, tx: ReadModelTx, offer_id: str, kind: str, region: str | None, state: str
    ) -> None:
        """Write an offer's row in this transaction, and tell the catalogue kept (whose rows
        take it in place, and whose built catalogues are dropped) and the change signal."""
        if self._catalogue is not None:
            self._catalogue.wrote(offer_id, kind, region, state)
        tx.changed(OFFERS_CHANGED)
        await tx.execute(_SAVE_OFFER, offer_id, kind, region, state)

    async def before_commit(self, tx: ReadModelTx) -> None:
        changed = [
            (str(participant_id), _dump_evidence(evidence))
            for participant_id, evidence in self.held.items()
            if evidence != self.read[participant_id]
        ]
        if changed:
            await tx.executemany(_SAVE_EVIDENCE, changed)


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
        if event.type == ISSUED:
            await self._issued(tx, issued_head(event))
            return
        if event.type in _CAREER_EVENT_NAMES:
            await self._career_event(tx, decode(event))
        if event.type in _EVIDENCE_TYPES:
            fact = decode(event)
            assert isinstance(fact, FACT_TYPES)
            await self._evidence(tx, fact, event.event_id)

    async def _held(self, tx: ReadModelTx, participant_id: UUID) -> tuple[EvidenceBatch, Evidence]:
        """The transaction's batch, and the participant's evidence as its facts so far left it."""
        batch = tx.gathered(EvidenceBatch)
        evidence = batch.held.get(participant_id)
        if evidence is None:
            evidence = await _hold(tx, participant_id)
            batch.read[participant_id] = evidence
        return batch, evidence

    async def _issued(self, tx: ReadModelTx, head: IssuedHead) -> None:
        """A set issued is folded only, whichever runtime issued it (`Issuing.apply` takes
        none): from the fields the fold reads, not the whole set (ADR 0109)."""
        batch, evidence = await self._held(tx, head.participant_id)
        batch.held[head.participant_id] = evidence_fold.set_issued(
            evidence, head.season, head.recommendation_set_id
        )

    async def _evidence(self, tx: ReadModelTx, fact: Fact, event_id: UUID) -> None:
        participant_id = fact.participant_id
        batch, evidence = await self._held(tx, participant_id)
        if self.issuing is None:
            evolved = evidence_fold.evolve(evidence, fact)
        else:
            evolved = await self.issuing.apply(
                evidence, fact, batch.catalogue(tx), event_id, read=batch.in_force
            )
        batch.held[participant_id] = evolved

    async def _career_event(self, tx: ReadModelTx, event: DomainEvent) -> None:
        assert isinstance(event, _CAREER_EVENT_TYPES)
        key = str(event.career_event_id)
        raw = await tx.fetchval("SELECT state FROM {rec_offers} WHERE opportunity_id = $1", key)
        state = None if raw is None else _CAREER_EVENT_JSON.validate_json(raw)
        evolved = evolve_career_event(state, event)
        if evolved is not None and evolved != state:
            await tx.gathered(EvidenceBatch).save_offer(
                tx,
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
        await tx.gathered(EvidenceBatch).save_offer(
            tx, key, REGISTERED, region, _OPPORTUNITY_JSON.dump_json(evolved).decode()
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
                    return _catalogue((), as_of)
                raise

    async def opportunities(self, region_id: UUID, as_of: datetime | None = None) -> list[Offer]:
        """The region's offers open as of `as_of` (default: now; registered courses and clubs,
        career events with an open session), by start then id."""
        catalogue = await self.catalogue(region_id, as_of or datetime.now(UTC))
        return sorted(catalogue.offers, key=lambda o: (o.starts, str(o.opportunity_id)))
