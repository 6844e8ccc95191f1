"""For tests of the read side: published events of identity, consent and the events service built
with few words, and `FactsHistory`, which appends them to in-memory stores of their services and
feeds the projection from them as the embedded path does (identity's and consent's own from
`bilet.facts.testing`, with the events service's defaults). Sealed fields are well-formed envelopes
of no key: nothing here is a real person."""

import contextlib
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Final
from uuid import UUID, uuid4

from bilet.contracts.catalogue.consent import Purpose
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
    SchoolRegistered,
    SeasonRulesPublished,
)
from bilet.contracts.vocabulary import AccessibilityNeed, Environment, GradeRange, Stage
from bilet.facts import testing
from bilet.facts.testing import (
    OTHER_REGION,
    REGION,
    SCHOOL,
    envelope,
    erased,
    purposes_withdrawn,
    recorded,
    withdrawn,
)
from bilet.projections import ReadModel
from bilet_events.adapters.facts import (
    FACTS_PROJECTION,
    SOURCES,
    ReadModelCatalogue,
    ReadModelFacts,
)

__all__ = [
    "LUGA",
    "OTHER_REGION",
    "PARTICIPATION",
    "REGION",
    "SCHOOL",
    "FactsHistory",
    "booked",
    "career_event",
    "envelope",
    "erased",
    "facts_on_sqlite",
    "needs_corrected",
    "purposes_withdrawn",
    "recorded",
    "registered",
    "rules",
    "school",
    "session",
    "verified",
    "waitlisted",
    "withdrawn",
]

LUGA = "Лужский муниципальный район"
PARTICIPATION = (Purpose.PROGRAMME_PARTICIPATION, Purpose.CAREER_EVENTS)

# A pupil registers in the 8th grade; a consent covers career events.
_EVENTS: Final = testing.FactsEvents(grade=8, purposes=PARTICIPATION)
registered = _EVENTS.registered
verified = _EVENTS.verified


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


class FactsHistory(testing.FactsHistory):
    """Identity's, consent's and the events service's stores (in memory), the projection fed from
    them into `read_model`, and the facts and catalogue it answers."""

    def __init__(self, read_model: ReadModel) -> None:
        super().__init__(read_model, FACTS_PROJECTION, SOURCES)
        self.facts = ReadModelFacts(read_model)
        self.catalogue = ReadModelCatalogue(read_model)


def facts_on_sqlite(folder: Path) -> contextlib.AbstractAsyncContextManager[FactsHistory]:
    """A `FactsHistory` over a new SQLite read model in `folder`, closed on exit."""
    return testing.history_on_sqlite(folder / "events-readmodel.sqlite3", FactsHistory)
