"""For tests only: the facts of other services as the test sets them (`StaticFacts`), a clock
the tests move, a career event to publish, and a `World`: the service over a store."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID, uuid5

from bilet.application import RequestContext
from bilet.audit import EventStoreAuditLog
from bilet.contracts.catalogue.consent import Purpose
from bilet.contracts.catalogue.events import (
    CareerEventFormat,
    CareerEventLevel,
    CareerEventPublished,
    CareerEventSession,
    Venue,
    VenueKind,
)
from bilet.contracts.vocabulary import Environment, GradeRange
from bilet.crypto import InMemoryKeyStore
from bilet.eventstore import EventStore
from bilet.http.auth import Principal, Role
from bilet_events.application.ports import Pupil
from bilet_events.application.service import EventsService


@dataclass
class StaticFacts:
    """`ports.Facts` from dictionaries the test fills."""

    pupils: dict[UUID, Pupil] = field(default_factory=dict)
    season_maximum: dict[int, int] = field(default_factory=dict)

    async def pupil(self, participant_id: UUID) -> Pupil | None:
        return self.pupils.get(participant_id)

    async def max_career_events(self, season: int) -> int | None:
        return self.season_maximum.get(season)


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


REGION = UUID("5a1e0000-0000-4000-8000-000000000047")  # Leningrad oblast, as the tests name it
ORGANISER = UUID("0a9a0000-0000-4000-8000-000000000001")
MENTOR = UUID("3e470000-0000-4000-8000-000000000001")
SEASON = 2019
SCHOOL = UUID("5c400000-0000-4000-8000-000000000003")
CONSENTED = frozenset({Purpose.PROGRAMME_PARTICIPATION.value, Purpose.CAREER_EVENTS.value})


def career_event(
    career_event_id: UUID,
    starts_at: datetime,
    *,
    capacity: int = 2,
    sessions: int = 1,
    length: timedelta = timedelta(hours=2),
) -> CareerEventPublished:
    """An in-person career event in Luga for grades 6–11 with `sessions` sessions of
    `capacity` seats, the n-th starting a day after the one before."""
    return CareerEventPublished(
        career_event_id=career_event_id,
        region_id=REGION,
        season=SEASON,
        organiser_id=ORGANISER,
        title="Мастер сельскохозяйственного производства",
        description="Знакомство с профессией и практическое задание на учебной ферме.",
        profession="agricultural_master",
        environments=(Environment.AGRARIAN,),
        level=CareerEventLevel.INTRODUCTORY,
        format=CareerEventFormat.IN_PERSON,
        venue=Venue(
            kind=VenueKind.COLLEGE,
            name="Лужский агропромышленный техникум",
            address="Ленинградская обл., г. Луга, ул. Примерная, 1",
            municipality="Лужский район",
        ),
        municipality="Лужский район",
        sessions=tuple(
            CareerEventSession(
                session_id=uuid5(career_event_id, f"session-{n}"),
                starts_at=starts_at + timedelta(days=n),
                ends_at=starts_at + timedelta(days=n) + length,
                capacity=capacity,
            )
            for n in range(sessions)
        ),
        eligible_grades=GradeRange(lowest=6, highest=11),
        accommodates=(),
        mentors=(MENTOR,),
    )


@dataclass
class World:
    """A service over `store` whose facts the test sets, with a moving clock: pupils enrolled
    in one school with a consent covering career events, the season's maximum 3."""

    service: EventsService
    facts: StaticFacts
    clock: Clock
    school_id: UUID = SCHOOL

    @classmethod
    def over(cls, store: EventStore, now: datetime) -> "World":
        facts = StaticFacts(season_maximum={SEASON: 3})
        clock = Clock(now)
        service = EventsService(
            store, InMemoryKeyStore(), facts, EventStoreAuditLog(store), clock=clock
        )
        return cls(service, facts, clock)

    def enrol(self, participant_id: UUID, *, purposes: frozenset[str] = CONSENTED) -> UUID:
        self.facts.pupils[participant_id] = Pupil(
            participant_id, self.school_id, REGION, 8, SEASON, purposes
        )
        return participant_id

    @staticmethod
    def as_pupil(participant_id: UUID) -> RequestContext:
        return RequestContext(Principal("pupil", Role.PUPIL, participant_id=str(participant_id)))

    @staticmethod
    def as_organiser() -> RequestContext:
        return RequestContext(Principal("org", Role.ORGANISER, venue_id=str(ORGANISER)))

    @staticmethod
    def as_mentor() -> RequestContext:
        return RequestContext(Principal(str(MENTOR), Role.MENTOR))
