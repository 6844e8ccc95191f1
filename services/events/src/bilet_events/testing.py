"""For tests only: the facts of other services as the test sets them (`StaticFacts`), a clock
the tests move, a career event to publish, and a `World`: the service over a store, with a key
store where the test seals a pupil's name and needs as identity would."""

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
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
from bilet.contracts.sealed import KeyScope, seal
from bilet.contracts.vocabulary import AccessibilityNeed, Environment, GradeRange
from bilet.crypto import FieldCipher, InMemoryKeyStore
from bilet.eventstore import EventStore
from bilet.http.auth import Principal, Role
from bilet_events.application.facts import (
    Attendee,
    CatalogueCursor,
    CatalogueEntry,
    CatalogueFilter,
    CataloguePage,
    Pupil,
    SealedNeeds,
    SessionSeats,
)
from bilet_events.application.service import EventsService


@dataclass
class StaticFacts:
    """`facts.Facts` from dictionaries the test fills (the purposes are those in force on any
    day asked about)."""

    pupils: dict[UUID, Pupil] = field(default_factory=dict)
    season_maximum: dict[int, int] = field(default_factory=dict)
    people: dict[UUID, Attendee] = field(default_factory=dict)

    async def pupil(self, participant_id: UUID, today: date) -> Pupil | None:
        return self.pupils.get(participant_id)

    async def max_career_events(self, season: int) -> int | None:
        return self.season_maximum.get(season)

    async def attendees(self, participant_ids: Collection[UUID]) -> dict[UUID, Attendee]:
        return {pid: self.people[pid] for pid in participant_ids if pid in self.people}


@dataclass
class StaticCatalogue:
    """`facts.Catalogue` over the entries the test lists, ordered and paged as the read model
    pages (earliest matching start, then id); `where` is not applied — the test lists what
    matches."""

    entries: list[CatalogueEntry] = field(default_factory=list)

    async def career_event(self, career_event_id: UUID) -> CatalogueEntry | None:
        found = (e for e in self.entries if e.career_event.career_event_id == career_event_id)
        return next(found, None)

    async def search(
        self, where: CatalogueFilter, *, after: CatalogueCursor | None, limit: int
    ) -> CataloguePage:
        ordered = sorted(self.entries, key=CatalogueCursor.after)
        if after is not None:
            ordered = [e for e in ordered if CatalogueCursor.after(e) > after]
        page = ordered[:limit]
        more = len(ordered) > limit
        return CataloguePage(
            tuple(page), CatalogueCursor.after(page[-1]) if more and page else None
        )

    def list(self, event: CareerEventPublished, seats_left: int | None = None) -> None:
        """List `event` with every session matching and `seats_left` seats left in each
        (default: all)."""
        self.entries.append(
            CatalogueEntry(
                career_event=event,
                cancelled=False,
                sessions=tuple(
                    SessionSeats(
                        s.session_id,
                        s.starts_at,
                        s.ends_at,
                        s.capacity,
                        s.capacity if seats_left is None else seats_left,
                        0,
                    )
                    for s in event.sessions
                ),
                matching=tuple(s.session_id for s in event.sessions),
            )
        )


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
CONSENTED = frozenset({Purpose.PROGRAMME_PARTICIPATION, Purpose.CAREER_EVENTS})
WITH_HEALTH_DATA = CONSENTED | {Purpose.HEALTH_DATA}


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
    listings: StaticCatalogue
    clock: Clock
    keystore: InMemoryKeyStore
    school_id: UUID = SCHOOL

    @classmethod
    def over(cls, store: EventStore, now: datetime) -> "World":
        facts = StaticFacts(season_maximum={SEASON: 3})
        listings = StaticCatalogue()
        clock = Clock(now)
        keystore = InMemoryKeyStore()
        service = EventsService(
            store, keystore, facts, listings, EventStoreAuditLog(store), clock=clock
        )
        return cls(service, facts, listings, clock, keystore)

    def enrol(
        self, participant_id: UUID, *, purposes: frozenset[Purpose] = CONSENTED, grade: int = 8
    ) -> UUID:
        self.facts.pupils[participant_id] = Pupil(
            participant_id=participant_id,
            school_id=self.school_id,
            region_id=REGION,
            municipality="Лужский район",
            grade=grade,
            season=SEASON,
            purposes=purposes,
            erased=False,
            sealed_needs=None,
        )
        return participant_id

    async def state_needs(
        self, participant_id: UUID, needs: Iterable[AccessibilityNeed], *, generation: int = 1
    ) -> None:
        """Identity states the pupil's needs, sealed with their health key of `generation`."""
        sealed = await seal(
            FieldCipher(self.keystore),
            str(participant_id),
            {"accessibility_needs": [need.value for need in needs]},
            {"accessibility_needs": KeyScope.HEALTH},
            {KeyScope.HEALTH: generation},
        )
        pupil = self.facts.pupils[participant_id]
        stated = SealedNeeds(sealed["accessibility_needs"], generation)
        self.facts.pupils[participant_id] = replace(pupil, sealed_needs=stated)

    async def name(
        self, participant_id: UUID, last_name: str, first_name: str, *, school: str | None = None
    ) -> None:
        """Identity registered the pupil with this name (sealed with their key), at the
        World's school named `school`."""
        full_name = {"last_name": last_name, "first_name": first_name, "patronymic": None}
        sealed = await seal(
            FieldCipher(self.keystore), str(participant_id), {"full_name": full_name}
        )
        self.facts.people[participant_id] = Attendee(
            participant_id, self.school_id, school, sealed["full_name"]
        )

    @staticmethod
    def as_pupil(participant_id: UUID) -> RequestContext:
        return RequestContext(Principal("pupil", Role.PUPIL, participant_id=str(participant_id)))

    @staticmethod
    def as_organiser() -> RequestContext:
        return RequestContext(Principal("org", Role.ORGANISER, venue_id=str(ORGANISER)))

    @staticmethod
    def as_mentor(mentor_id: UUID = MENTOR) -> RequestContext:
        return RequestContext(Principal(str(mentor_id), Role.MENTOR))

    def as_school(self, role: Role) -> RequestContext:
        """The registrar or navigator of the World's school."""
        return RequestContext(Principal(role.value, role, school_id=str(self.school_id)))
