"""Superseded versions of the events service's events (docs/adr/0006: a published version is
never edited). They stay registered so their schemas stay checked and their golden samples
validated; readers get the newest version through the upcasters in `events`."""

from typing import Annotated, ClassVar, Self
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, Field, model_validator

from bilet.contracts.catalogue.events import EventsEvent, Venue
from bilet.contracts.registry import published
from bilet.contracts.sealed import Sealed, personal
from bilet.contracts.vocabulary import (
    AccessibilityNeeds,
    Code,
    Environment,
    Environments,
    GradeRange,
    Season,
    distinct,
    public_text,
)

Rating = Annotated[int, Field(ge=1, le=5)]


@published
class CareerEventPublishedV1(EventsEvent):
    """An organiser published a career event (профпроба) in a region: meeting a profession, a
    hands-on task and feedback, at a venue, for a range of grades and a number of seats. It
    states which accessibility needs the venue accommodates, so participants are offered only
    events that are safe and accessible for them.

    Superseded by version 2 (sessions, level, format, mentors); read through the upcaster."""

    event_type: ClassVar[str] = "CareerEventPublished"

    career_event_id: UUID
    region_id: UUID
    season: Season
    organiser_id: UUID = Field(description="The organising organisation (opaque id).")
    title: str = public_text(
        "What the participant will try, e.g. «Мастер сельскохозяйственного производства»."
    )
    profession: Code = Field(description="The profession tried, as a code of the catalogue.")
    environments: Environments = Field(description="The environments (среды) it belongs to.")
    venue: Venue
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    capacity: int = Field(ge=1, le=1000, description="Seats.")
    eligible_grades: GradeRange
    accommodates: AccessibilityNeeds = Field(
        description="The accessibility needs the venue and programme can meet."
    )

    @model_validator(mode="after")
    def _in_order(self) -> Self:
        if self.ends_at <= self.starts_at:
            raise ValueError("a career event ends after it starts")
        return self


@published
class SeatBookedV1(EventsEvent):
    """A participant with a verified consent booked a seat at a career event of their region,
    within the season's limit of career events. The organiser sees the participant's
    accessibility-needs summary to prepare for them, nothing more.

    Never written: superseded by version 2 (a session, the summary sealed with the health key,
    docs/adr/0017) before any events service ran; read through the upcaster."""

    event_type: ClassVar[str] = "SeatBooked"

    career_event_id: UUID
    booking_id: UUID
    participant_id: UUID
    season: Season
    accessibility_needs: AccessibilityNeeds


@published
class CareerEventAttendedV1(EventsEvent):
    """The organiser marked the participant present at the career event (отметка о посещении);
    it goes into the portfolio and counts for the recommendations.

    Superseded by version 2 (the session attended); read through the upcaster."""

    event_type: ClassVar[str] = "CareerEventAttended"

    career_event_id: UUID
    booking_id: UUID
    participant_id: UUID


@published
class MentorFeedbackGivenV1(EventsEvent):
    """A mentor gave feedback to a participant after a career event: how engaged they were, which
    skills showed, which environments to explore. A free-text comment about a child is personal
    data: it is sealed with the participant's key.

    Superseded by version 2 (a structured rubric); read through the upcaster."""

    event_type: ClassVar[str] = "MentorFeedbackGiven"

    career_event_id: UUID
    feedback_id: UUID
    booking_id: UUID
    participant_id: UUID
    mentor_id: UUID
    engagement: Rating = Field(description="How engaged the participant was, 1–5.")
    task_result: Rating = Field(description="How well the hands-on task went, 1–5.")
    observed_skills: tuple[Code, ...] = Field(
        max_length=10, description="Soft skills the mentor saw, codes of the soft-skills bank."
    )
    suggested_environments: Annotated[tuple[Environment, ...], AfterValidator(distinct)] = Field(
        max_length=len(Environment),
        json_schema_extra={"uniqueItems": True},
        description="Environments (среды) the mentor suggests exploring.",
    )
    comment: Sealed | None = personal(
        "The mentor's words to the participant.", "string", default=None
    )
