"""A season as the recommender's runtimes receive it, built for their tests (embedded, faust,
crash proof): per source service, the published facts of `pupils` pupils in two regions — each
registered with a canary name and accessibility needs sealed with real keys, consents (most for
every purpose, some without `recommendations` or `health_data`), stages (most pupils all three),
career events attended with mentor feedback for some — plus the career events and a course a
coordinator registered. Deterministic for a seed (ids included), so a clean replay and a run under
crashes receive the very same history.
"""

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Final
from uuid import UUID, uuid5

from bilet.application.eventlog import EventLog
from bilet.contracts import CATALOGUE, DomainEvent, decode
from bilet.contracts.catalogue.consent import Purpose
from bilet.contracts.catalogue.events import BookingRoute, CareerEventPublished, SeatBooked
from bilet.contracts.catalogue.identity import ParticipantRegistered, SchoolRegistered
from bilet.contracts.catalogue.recommender import OpportunityKind, RecommendationsIssued
from bilet.contracts.metadata import EventMetadata
from bilet.contracts.sealed import KeyScope, seal
from bilet.contracts.vocabulary import AccessibilityNeed, Environment, GradeRange, Level
from bilet.crypto import FieldCipher, KeyStore
from bilet.eventstore import EventStore, RecordedEvent
from bilet.eventstore.memory import InMemoryEventStore
from bilet.projections import EmbeddedFeed
from bilet.projections.sqlite import SqliteReadModel
from bilet_recommender import testing
from bilet_recommender.adapters.evidence_projection import (
    FEED_EVENT_TYPES,
    RECOMMENDER,
    issuing_projection,
)
from bilet_recommender.adapters.insights_projection import INSIGHTS
from bilet_recommender.application.issuing import RECOMMENDATIONS_CATEGORY
from bilet_recommender.domain.internal import (
    INTERNAL_CATEGORIES,
    INTERNAL_EVENTS,
    OpportunityRegistered,
)
from bilet_recommender.testing import NOW, SEASON

CANARY: Final = "Канарейкина"
IDENTITY, CONSENT, DIAGNOSTICS, EVENTS = "identity", "consent", "diagnostics", "events"
SOURCES: Final = (IDENTITY, CONSENT, DIAGNOSTICS, EVENTS)
ENVIRONMENTS: Final = tuple(Environment)
_RECORDED: Final = UUID("5c1f9a57-36d4-4f0e-9d1e-0b6f3a2c7e15")


@dataclass
class Season:
    """The facts by source, in each source's order, after the catalogue: the career events
    published (on `bilet.events` before the season) and the clubs coordinators registered (in
    the recommender's own store). Both runtimes take the catalogue in first, so that what they
    offer does not depend on how the topics interleave."""

    career_events: list[CareerEventPublished] = field(default_factory=list)
    # The schools (identity's, published before the season): where the insights count pupils.
    schools: list[SchoolRegistered] = field(default_factory=list)
    facts: dict[str, list[DomainEvent]] = field(default_factory=lambda: {s: [] for s in SOURCES})
    opportunities: list[OpportunityRegistered] = field(default_factory=list)
    pupils: list[UUID] = field(default_factory=list)
    # Pupils who get recommendations: a consent covering them and the three stages completed.
    recommended: set[UUID] = field(default_factory=set)
    # Pupils who need step-free access and whose consent covers health data (filtered on it).
    needing: set[UUID] = field(default_factory=set)
    # Career events offering step-free access.
    step_free: set[UUID] = field(default_factory=set)


class _Ids:
    """uuid4-shaped ids from the seed's generator: the same season has the same ids."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def __call__(self) -> UUID:
        return UUID(int=self.rng.getrandbits(128), version=4)


async def build_season(keystore: KeyStore, pupils: int, seed: int = 15) -> Season:
    """The season's facts; names and needs sealed with keys made in `keystore`."""
    rng = random.Random(seed)  # noqa: S311 - test data, reproducible by seed
    new_id = _Ids(rng)
    cipher = FieldCipher(keystore)
    regions = (new_id(), new_id())
    season = Season()
    offered: dict[UUID, list[CareerEventPublished]] = {region: [] for region in regions}
    for region in regions:
        for index in range(4):
            published = testing.career_event(
                region,
                ENVIRONMENTS[(index * 3) % len(ENVIRONMENTS)],
                ENVIRONMENTS[(index * 3 + 1) % len(ENVIRONMENTS)],
                capacity=1000,
                accommodates=(AccessibilityNeed.STEP_FREE_ACCESS,) if index % 2 else (),
                title=f"Профпроба №{index + 1}",
            )
            session = published.sessions[0].model_copy(update={"session_id": new_id()})
            published = published.model_copy(
                update={
                    "career_event_id": new_id(),
                    "organiser_id": new_id(),
                    "sessions": (session,),
                }
            )
            season.career_events.append(published)
            offered[region].append(published)
            if published.accommodates:
                season.step_free.add(published.career_event_id)
        season.opportunities.append(_course(new_id(), region))
        for number in range(3):
            season.schools.append(
                SchoolRegistered(
                    school_id=new_id(),
                    region_id=region,
                    name=f"МОУ «СОШ № {number + 1}»",
                    municipality="Лужский муниципальный район" if number else "Луга",
                )
            )
    for number in range(pupils):
        pid = new_id()
        region = regions[number % 2]
        season.pupils.append(pid)
        await _pupil(season, cipher, rng, new_id, pid, region, offered[region])
    return season


def _course(opportunity_id: UUID, region_id: UUID) -> OpportunityRegistered:
    return OpportunityRegistered(
        opportunity_id=opportunity_id,
        region_id=region_id,
        kind=OpportunityKind.CLUB,
        title="Кружок робототехники",
        provider="Дом детского творчества",
        municipality="Луга",
        environments=(ENVIRONMENTS[0], ENVIRONMENTS[2]),
        eligible_grades=GradeRange(lowest=5, highest=11),
        accommodates=(),
        seats=None,
        starts_on=NOW.date(),
        ends_on=NOW.date() + timedelta(days=120),
    )


async def _pupil(
    season: Season,
    cipher: FieldCipher,
    rng: random.Random,
    new_id: _Ids,
    pid: UUID,
    region: UUID,
    offered: Sequence[CareerEventPublished],
) -> None:
    facts = season.facts
    needs = [AccessibilityNeed.STEP_FREE_ACCESS.value] if rng.random() < 0.3 else []
    personal = await seal(
        cipher,
        str(pid),
        {
            "full_name": f"{CANARY} Анна {pid.hex[:6]}",
            "birth_date": "2011-05-04",
            "snils": "112-233-445 95",
            "health_limitations": "нет",
            "accessibility_needs": needs,
        },
        {"health_limitations": KeyScope.HEALTH, "accessibility_needs": KeyScope.HEALTH},
    )
    facts[IDENTITY].append(
        ParticipantRegistered(
            participant_id=pid,
            school_id=rng.choice([s.school_id for s in season.schools if s.region_id == region]),
            region_id=region,
            season=SEASON,
            grade=rng.randint(6, 11),
            **personal,
        )
    )
    roll = rng.random()
    purposes = tuple(Purpose)
    if roll < 0.1:
        purposes = tuple(p for p in Purpose if p is not Purpose.RECOMMENDATIONS)
    elif roll < 0.25:
        purposes = tuple(p for p in Purpose if p is not Purpose.HEALTH_DATA)
    consent = testing.verified(pid, *purposes)
    facts[CONSENT].append(consent.model_copy(update={"consent_id": new_id()}))
    scores = {e: rng.randint(0, 100) for e in ENVIRONMENTS}
    levels = {e: rng.choice(list(Level)) for e in ENVIRONMENTS}
    stages = [
        testing.interests(pid, scores),
        testing.soft_skills(pid, rng.choice(list(Level))),
        testing.knowledge(pid, levels),
    ]
    complete = rng.random() < 0.85
    if not complete:
        stages.pop()
    for stage in stages:
        sheet = stage.answer_sheet.model_copy(update={"answer_sheet_id": new_id()})
        facts[DIAGNOSTICS].append(
            stage.model_copy(update={"attempt_id": new_id(), "answer_sheet": sheet})
        )
    if complete and Purpose.RECOMMENDATIONS in purposes:
        season.recommended.add(pid)
    if needs and Purpose.HEALTH_DATA in purposes:
        season.needing.add(pid)
    if rng.random() < 0.4:
        career_event = rng.choice(list(offered))
        attended = testing.attended(pid, career_event).model_copy(update={"booking_id": new_id()})
        facts[EVENTS].append(
            SeatBooked(
                career_event_id=career_event.career_event_id,
                session_id=attended.session_id,
                booking_id=attended.booking_id,
                participant_id=pid,
                season=SEASON,
                route=BookingRoute.BOOKED,
            )
        )
        facts[EVENTS].append(attended)
        feedback = testing.feedback(attended, suggested=(rng.choice(ENVIRONMENTS),))
        comment = await seal(cipher, str(pid), {"comment": f"{CANARY} молодец"})
        facts[EVENTS].append(
            feedback.model_copy(update={"feedback_id": new_id(), "mentor_id": new_id(), **comment})
        )


async def run_embedded(
    tmp_path: Path, season: Season, keystore: KeyStore, recommender: EventStore
) -> SqliteReadModel:
    """The season through the embedded runtime (`issuing_projection` on in-memory stores and a
    SQLite read model under `tmp_path`): the catalogue first, then the pupils' facts."""
    sources: dict[str, EventStore] = {source: InMemoryEventStore() for source in SOURCES}
    await append_all(sources[EVENTS], season.career_events)
    await append_all(sources[IDENTITY], season.schools)
    if await recommender.head_position() == 0:  # the clubs are registered once
        await append_all(recommender, season.opportunities)
    read_model = await SqliteReadModel.open(tmp_path / "rm.sqlite3")
    followed = {**sources, RECOMMENDER: recommender}
    # As the runtime feeds them: the issuing projection, and the insights beside it.
    feeds = (
        EmbeddedFeed(
            read_model,
            issuing_projection(recommender, keystore, lambda: NOW),
            followed,
            event_types=FEED_EVENT_TYPES,
        ),
        EmbeddedFeed(read_model, INSIGHTS, followed, event_types=CATALOGUE.event_types()),
    )
    for feed in feeds:
        await feed.catch_up({})
    for source in SOURCES:
        await append_all(sources[source], season.facts[source])
    for _ in range(2):  # the sets issued come back through the feeds: nothing new, insights
        for feed in feeds:
            await feed.catch_up({})
    return read_model


async def clean_replay(
    directory: Path, season: Season, keystore: KeyStore
) -> dict[UUID, RecommendationsIssued]:
    """Each participant's last set when the season runs through the embedded runtime on fresh
    stores under `directory` (`run_embedded`): what a worker must issue, however it got there."""
    reference = InMemoryEventStore()
    read_model = await run_embedded(directory, season, keystore, reference)
    await read_model.close()
    return latest(await issued(reference))


_LOG: Final = EventLog(INTERNAL_EVENTS, INTERNAL_CATEGORIES)


async def append_all(store: EventStore, events: Sequence[DomainEvent]) -> None:
    """Append `events` to `store`, each to its stream, as their service would."""
    for event in events:
        await store.append(event.stream_id, [_LOG.encode(event, EventMetadata(actor="test"))])


async def issued(store: EventStore) -> dict[UUID, list[RecommendationsIssued]]:
    """Every set in `store`, by participant, in stream order; each stored under its set id."""
    found: dict[UUID, list[RecommendationsIssued]] = {}
    position = 0
    while batch := await store.read_all(position, 1000, categories=[RECOMMENDATIONS_CATEGORY]):
        for record in batch:
            event = decode(record)
            assert isinstance(event, RecommendationsIssued)
            assert record.event_id == event.recommendation_set_id
            found.setdefault(event.participant_id, []).append(event)
        position = batch[-1].position
    return found


def check_chain(events: Sequence[RecommendationsIssued]) -> None:
    """A participant's sets: none twice, each superseding the one before it."""
    assert len({e.recommendation_set_id for e in events}) == len(events), "a set issued twice"
    assert events[0].supersedes is None
    for earlier, later in itertools.pairwise(events):
        assert later.supersedes == earlier.recommendation_set_id


def recorded(events: Sequence[DomainEvent], first_position: int = 1) -> list[RecordedEvent]:
    """As one store records them (for a topic): versions per stream, positions rising, event
    ids derived from the position (the same history twice has the same ids)."""
    versions: dict[str, int] = {}
    out = []
    for position, event in enumerate(events, start=first_position):
        new = _LOG.encode(event, EventMetadata(actor="test"))
        version = versions[event.stream_id] = versions.get(event.stream_id, -1) + 1
        out.append(
            RecordedEvent(
                stream_id=event.stream_id,
                version=version,
                position=position,
                event_id=uuid5(_RECORDED, f"{event.stream_id}/{version}"),
                type=new.type,
                data=new.data,
                metadata=new.metadata,
                recorded_at=NOW,
            )
        )
    return out


def latest(sets: dict[UUID, list[RecommendationsIssued]]) -> dict[UUID, RecommendationsIssued]:
    """Each participant's set in force, without `supersedes`: which sets came before it depends
    on how the topics interleaved (a career event attended before or after the last stage)."""
    return {pid: events[-1].model_copy(update={"supersedes": None}) for pid, events in sets.items()}
