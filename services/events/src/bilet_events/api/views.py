"""The answers of `/events/v1`'s reads: a career event as the catalogue shows it, a page of the
catalogue, and the roster. Public texts, seats and counts; of a pupil, only on the roster and only
what the check-in needs (display name, school, attendance), never a birth date, a СНИЛС or a
diagnosis."""

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from bilet.contracts.catalogue.events import CareerEventFormat, CareerEventLevel, Venue
from bilet.contracts.vocabulary import AccessibilityNeed, Environment, GradeRange
from bilet_events.application.facts import CatalogueEntry, SessionSeats
from bilet_events.application.roster import Roster


# ---------------------------------------------------------------------- the catalogue
class SessionModel(BaseModel):
    session_id: UUID
    starts_at: datetime
    ends_at: datetime
    capacity: int
    seats_left: int = Field(ge=0)
    waiting: int = Field(ge=0, description="Pupils in the session's line.")

    @classmethod
    def of(cls, seats: SessionSeats) -> "SessionModel":
        return cls(
            session_id=seats.session_id,
            starts_at=seats.starts_at,
            ends_at=seats.ends_at,
            capacity=seats.capacity,
            seats_left=seats.seats_left,
            waiting=seats.waiting,
        )


class CareerEventModel(BaseModel):
    career_event_id: UUID
    region_id: UUID
    season: int
    organiser_id: UUID
    title: str
    description: str | None
    profession: str
    environments: list[Environment]
    level: CareerEventLevel
    format: CareerEventFormat
    venue: Venue | None
    municipality: str
    eligible_grades: GradeRange
    accommodates: list[AccessibilityNeed]
    mentors: list[UUID]
    cancelled: bool
    sessions: list[SessionModel] = Field(description="Every session, in start order.")
    matching_sessions: list[UUID] = Field(
        description="The sessions that met the catalogue's filters, in start order."
    )

    @classmethod
    def of(cls, entry: CatalogueEntry) -> "CareerEventModel":
        event = entry.career_event
        return cls(
            career_event_id=event.career_event_id,
            region_id=event.region_id,
            season=event.season,
            organiser_id=event.organiser_id,
            title=event.title,
            description=event.description,
            profession=event.profession,
            environments=list(event.environments),
            level=event.level,
            format=event.format,
            venue=event.venue,
            municipality=event.municipality,
            eligible_grades=event.eligible_grades,
            accommodates=list(event.accommodates),
            mentors=list(event.mentors),
            cancelled=entry.cancelled,
            sessions=[SessionModel.of(s) for s in sorted(entry.sessions, key=_start)],
            matching_sessions=list(entry.matching),
        )


def _start(seats: SessionSeats) -> datetime:
    return seats.starts_at


class CataloguePageModel(BaseModel):
    items: list[CareerEventModel]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


# ---------------------------------------------------------------------- the roster
class RosterPupilModel(BaseModel):
    booking_id: UUID
    participant_id: UUID
    display_name: str | None = Field(
        description="«Фамилия Имя» for the check-in; null once the pupil's data was erased."
    )
    school_id: UUID | None = Field(description="Null while the pupil is not known here yet.")
    school_name: str | None = Field(description="Null while the school is not known here.")
    attendance: Literal["booked", "attended", "missed"]


class NeedCountModel(BaseModel):
    need: AccessibilityNeed = Field(description="An accommodation to arrange, never why.")
    pupils: int = Field(ge=1, description="How many booked pupils of the session need it.")


class RosterSessionModel(BaseModel):
    session_id: UUID
    starts_at: datetime
    ends_at: datetime
    capacity: int
    waiting: int = Field(ge=0, description="Pupils in the session's line (not named).")
    pupils: list[RosterPupilModel] = Field(description="The pupils holding a seat.")
    accessibility: list[NeedCountModel] = Field(
        description="What to arrange for the session and for how many pupils (from the "
        "summaries of pupils whose consent covers health data and career events)."
    )


class RosterModel(BaseModel):
    career_event_id: UUID
    sessions: list[RosterSessionModel] = Field(description="In start order.")

    @classmethod
    def of(cls, roster: Roster) -> "RosterModel":
        return cls(
            career_event_id=roster.career_event_id,
            sessions=[
                RosterSessionModel(
                    session_id=session.session_id,
                    starts_at=session.starts_at,
                    ends_at=session.ends_at,
                    capacity=session.capacity,
                    waiting=session.waiting,
                    pupils=[
                        RosterPupilModel(
                            booking_id=pupil.booking_id,
                            participant_id=pupil.participant_id,
                            display_name=pupil.display_name,
                            school_id=pupil.school_id,
                            school_name=pupil.school_name,
                            attendance=pupil.attendance,
                        )
                        for pupil in session.pupils
                    ],
                    accessibility=[
                        NeedCountModel(need=count.need, pupils=count.pupils)
                        for count in session.accessibility
                    ],
                )
                for session in roster.sessions
            ],
        )
