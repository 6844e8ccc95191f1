"""For tests of the read side: published events of identity, consent and the events service built
with few words, and `FactsHistory`, which appends them to in-memory stores of their services and
feeds the projection from them as the embedded path does. Sealed fields are well-formed envelopes
of no key: nothing here is a real person."""

import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

from bilet.contracts import DomainEvent, EventMetadata, encode, sealed_fields
from bilet.contracts.catalogue.consent import (
    ConsentPurposesWithdrawn,
    ConsentVerified,
    ConsentWithdrawn,
    ErasureReason,
    ParticipantErased,
    Purpose,
)
from bilet.contracts.catalogue.events import (
    BookingRoute,
    CareerEventFormat,
    CareerEventLevel,
    CareerEventPublished,
    CareerEventSession,
    SeatBooked,
    Venue,
    VenueKind,
    WaitlistJoined,
)
from bilet.contracts.catalogue.identity import (
    CorrectionReason,
    ParticipantDetailsCorrected,
    ParticipantRegistered,
    SchoolRegistered,
    SeasonRulesPublished,
)
from bilet.contracts.examples import sealed
from bilet.contracts.sealed import SealedValue
from bilet.contracts.vocabulary import AccessibilityNeed, Environment, GradeRange, Stage
from bilet.eventstore import ANY, EventStore, RecordedEvent
from bilet.eventstore.memory import InMemoryEventStore
from bilet.projections import EmbeddedFeed, ReadModel
from bilet.projections.sqlite import SqliteReadModel
from bilet_events.adapters.facts import (
    CONSENT,
    EVENTS,
    FACTS_PROJECTION,
    IDENTITY,
    ReadModelCatalogue,
    ReadModelFacts,
)

REGION = UUID("5e2a3c10-4b1d-4f7e-9c2a-470000000047")  # Ленинградская область
OTHER_REGION = UUID("5e2a3c10-4b1d-4f7e-9c2a-470000000078")
SCHOOL = UUID("0c3b9a52-7f3e-4d8a-8a10-000000000003")
LUGA = "Лужский муниципальный район"
PARTICIPATION = (Purpose.PROGRAMME_PARTICIPATION, Purpose.CAREER_EVENTS)


def envelope(name: str) -> SealedValue:
    """A well-formed sealed value no key opens, different for each `name`."""
    return SealedValue.model_validate(sealed(name))


def rules(season: int, version: int = 1, max_career_events: int = 3) -> SeasonRulesPublished:
    return SeasonRulesPublished(
        season=season,
        rules_version=version,
        eligible_grades=GradeRange(lowest=6, highest=11),
        max_career_events=max_career_events,
        diagnostics_stages=(Stage.INTERESTS,),
        starts_on=date(season, 9, 1),
        ends_on=date(season + 1, 5, 31),
        applies_from=date(season, 9, 1),
    )


def school(
    school_id: UUID = SCHOOL, region_id: UUID = REGION, municipality: str = LUGA
) -> SchoolRegistered:
    return SchoolRegistered(
        school_id=school_id, region_id=region_id, name="МОУ «СОШ № 3»", municipality=municipality
    )


def registered(
    participant_id: UUID,
    school_id: UUID = SCHOOL,
    region_id: UUID = REGION,
    *,
    season: int = 2019,
    grade: int = 8,
) -> ParticipantRegistered:
    envelopes = {name: envelope(name) for name in sealed_fields(ParticipantRegistered)}
    return ParticipantRegistered(
        participant_id=participant_id,
        school_id=school_id,
        region_id=region_id,
        season=season,
        grade=grade,
        **envelopes,
    )


def needs_corrected(
    participant_id: UUID, name: str, generation: int
) -> ParticipantDetailsCorrected:
    """The school stated the pupil's needs again, sealed under the health key's `generation`."""
    return ParticipantDetailsCorrected(
        participant_id=participant_id,
        reason=CorrectionReason.HEALTH_STATUS_CHANGED,
        accessibility_needs=envelope(name),
        key_generation=generation,
    )


def verified(
    participant_id: UUID,
    valid_until: date = date(2020, 8, 31),
    purposes: Iterable[Purpose] = PARTICIPATION,
    *,
    consent_id: UUID | None = None,
) -> ConsentVerified:
    return ConsentVerified(
        participant_id=participant_id,
        consent_id=consent_id or uuid4(),
        purposes=tuple(purposes),
        valid_until=valid_until,
    )


def purposes_withdrawn(
    participant_id: UUID,
    consent_id: UUID,
    withdrawn: Iterable[Purpose],
    remaining: Iterable[Purpose],
) -> ConsentPurposesWithdrawn:
    return ConsentPurposesWithdrawn(
        participant_id=participant_id,
        consent_id=consent_id,
        withdrawn=tuple(withdrawn),
        remaining=tuple(remaining),
        withdrawn_on=date(2019, 10, 1),
    )


def withdrawn(participant_id: UUID, on: date) -> ConsentWithdrawn:
    return ConsentWithdrawn(
        participant_id=participant_id, consent_id=uuid4(), withdrawn_on=on, erase_by=on
    )


def erased(participant_id: UUID) -> ParticipantErased:
    return ParticipantErased(
        participant_id=participant_id,
        reason=ErasureReason.CONSENT_WITHDRAWN,
        erased_at=datetime(2019, 11, 1, tzinfo=UTC),
        destruction_record_id=uuid4(),
    )


def session(
    starts_at: datetime, capacity: int = 10, session_id: UUID | None = None
) -> CareerEventSession:
    return CareerEventSession(
        session_id=session_id or uuid4(),
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=2),
        capacity=capacity,
    )


def career_event(
    *sessions: CareerEventSession,
    career_event_id: UUID | None = None,
    region_id: UUID = REGION,
    municipality: str = LUGA,
    environments: tuple[Environment, ...] = (Environment.AGRARIAN,),
    grades: tuple[int, int] = (8, 11),
    format: CareerEventFormat = CareerEventFormat.IN_PERSON,
) -> CareerEventPublished:
    in_person = format is CareerEventFormat.IN_PERSON
    return CareerEventPublished(
        career_event_id=career_event_id or uuid4(),
        region_id=region_id,
        season=2019,
        organiser_id=UUID(int=7),
        title="Мастер сельскохозяйственного производства",
        description="Знакомство с профессией и практическое задание.",
        profession="agricultural_master",
        environments=environments,
        level=CareerEventLevel.INTRODUCTORY,
        format=format,
        venue=Venue(
            kind=VenueKind.COLLEGE,
            name="ГАПОУ ЛО «Лужский агропромышленный техникум»",
            address="г. Луга, ул. Дзержинского, 1",
            municipality=municipality,
        )
        if in_person
        else None,
        municipality=municipality,
        sessions=sessions,
        eligible_grades=GradeRange(lowest=grades[0], highest=grades[1]),
        accommodates=(AccessibilityNeed.STEP_FREE_ACCESS,),
        mentors=(),
    )


def booked(
    published: CareerEventPublished, session_id: UUID, booking_id: UUID | None = None
) -> SeatBooked:
    return SeatBooked(
        career_event_id=published.career_event_id,
        session_id=session_id,
        booking_id=booking_id or uuid4(),
        participant_id=uuid4(),
        season=published.season,
        route=BookingRoute.PROMOTED_FROM_WAITLIST if booking_id else BookingRoute.BOOKED,
    )


def waitlisted(
    published: CareerEventPublished, session_id: UUID, position: int = 1
) -> WaitlistJoined:
    return WaitlistJoined(
        career_event_id=published.career_event_id,
        session_id=session_id,
        booking_id=uuid4(),
        participant_id=uuid4(),
        season=published.season,
        position=position,
    )


def recorded(events: Sequence[DomainEvent]) -> list[RecordedEvent]:
    """As one store would record them (for a topic): versions per stream, positions rising."""
    versions: dict[str, int] = {}
    out = []
    for position, event in enumerate(events, start=1):
        new = encode(event, EventMetadata(actor="test"))
        version = versions[event.stream_id] = versions.get(event.stream_id, -1) + 1
        out.append(
            RecordedEvent(
                stream_id=event.stream_id,
                version=version,
                position=position,
                event_id=uuid4(),
                type=new.type,
                data=new.data,
                metadata=new.metadata,
                recorded_at=datetime.now(UTC),
            )
        )
    return out


class FactsHistory:
    """Identity's, consent's and the events service's stores (in memory), the projection fed from
    them into `read_model`, and the facts and catalogue it answers."""

    def __init__(self, read_model: ReadModel) -> None:
        self.stores: dict[str, EventStore] = {
            IDENTITY: InMemoryEventStore(),
            CONSENT: InMemoryEventStore(),
            EVENTS: InMemoryEventStore(),
        }
        self.feed = EmbeddedFeed(read_model, FACTS_PROJECTION, self.stores)
        self.facts = ReadModelFacts(read_model)
        self.catalogue = ReadModelCatalogue(read_model)

    async def given(self, *events: DomainEvent) -> None:
        """Append each event to its service's store, then feed everything appended so far."""
        for event in events:
            store = self.stores[type(event).service]
            await store.append(event.stream_id, [encode(event, EventMetadata())], ANY)
        await self.feed.catch_up({})


@contextlib.asynccontextmanager
async def facts_on_sqlite(folder: Path) -> AsyncIterator[FactsHistory]:
    """A `FactsHistory` over a new SQLite read model in `folder`, closed on exit."""
    read_model = await SqliteReadModel.open(folder / "events-readmodel.sqlite3")
    try:
        yield FactsHistory(read_model)
    finally:
        await read_model.close()
