"""Events of the events service (topic `bilet.events`): career events (профпробы) — their
catalogue, seat booking, attendance and mentor feedback.

All facts about one career event are one stream, `career_event-<career event id>`, so bookings,
cancellations, attendance and feedback arrive in order. Organisers see a participant's
accessibility-needs summary, never health data.
"""

from enum import StrEnum
from typing import Annotated, ClassVar, Self
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, Field, model_validator

from bilet.contracts.base import ContractModel, DomainEvent
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


class VenueKind(StrEnum):
    COLLEGE = "college"
    UNIVERSITY = "university"
    TECHNOPARK = "technopark"
    EMPLOYER = "employer"
    OTHER = "other"


class Venue(ContractModel):
    """Where a career event takes place: an organisation's public address."""

    kind: VenueKind
    name: str = public_text(
        "The venue organisation, e.g. ГАПОУ ЛО «Лужский агропромышленный техникум»."
    )
    address: str = public_text("Public street address of the venue.")
    municipality: str = public_text("Municipal district or city.")


class CareerEventCancellationReason(StrEnum):
    ORGANISER_UNAVAILABLE = "organiser_unavailable"
    TOO_FEW_BOOKINGS = "too_few_bookings"
    VENUE_UNAVAILABLE = "venue_unavailable"
    SAFETY = "safety"


class BookingCancellationReason(StrEnum):
    """Why a seat was released."""

    PARTICIPANT_CANCELLED = "participant_cancelled"
    CAREER_EVENT_CANCELLED = "career_event_cancelled"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    PARTICIPANT_ERASED = "participant_erased"
    NO_LONGER_ELIGIBLE = "no_longer_eligible"  # e.g. moved to a school in another region


class EventsEvent(DomainEvent):
    service: ClassVar[str] = "events"
    stream_category: ClassVar[str] = "career_event"
    stream_key: ClassVar[str] = "career_event_id"


@published
class CareerEventPublished(EventsEvent):
    """An organiser published a career event (профпроба) in a region: meeting a profession, a
    hands-on task and feedback, at a venue, for a range of grades and a number of seats. It
    states which accessibility needs the venue accommodates, so participants are offered only
    events that are safe and accessible for them."""

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
class CareerEventCancelled(EventsEvent):
    """The organiser cancelled a career event; every seat booked on it is released (each with
    its own BookingCancelled)."""

    event_type: ClassVar[str] = "CareerEventCancelled"

    career_event_id: UUID
    reason: CareerEventCancellationReason


@published
class SeatBooked(EventsEvent):
    """A participant with a verified consent booked a seat at a career event of their region,
    within the season's limit of career events. The organiser sees the participant's
    accessibility-needs summary to prepare for them, nothing more."""

    event_type: ClassVar[str] = "SeatBooked"

    career_event_id: UUID
    booking_id: UUID
    participant_id: UUID
    season: Season
    accessibility_needs: AccessibilityNeeds


@published
class BookingCancelled(EventsEvent):
    """A booked seat was released; it counts no more against the participant's limit."""

    event_type: ClassVar[str] = "BookingCancelled"

    career_event_id: UUID
    booking_id: UUID
    participant_id: UUID
    reason: BookingCancellationReason


@published
class CareerEventAttended(EventsEvent):
    """The organiser marked the participant present at the career event (отметка о посещении);
    it goes into the portfolio and counts for the recommendations."""

    event_type: ClassVar[str] = "CareerEventAttended"

    career_event_id: UUID
    booking_id: UUID
    participant_id: UUID


Rating = Annotated[int, Field(ge=1, le=5)]


@published
class MentorFeedbackGiven(EventsEvent):
    """A mentor gave feedback to a participant after a career event: how engaged they were, which
    skills showed, which environments to explore. A free-text comment about a child is personal
    data: it is sealed with the participant's key."""

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
