"""Events of the events service (topic `bilet.events`): career events (профпробы) — their
catalogue and sessions, seat booking and the waitlist, attendance and mentor feedback
(docs/adr/0027). Superseded versions are in `events_superseded`.

All facts about one career event are one stream, `career_event-<career event id>`, so bookings,
cancellations, attendance and feedback arrive in order. A booking carries the participant's
venue-requirements summary only sealed with their health key (docs/adr/0017), never in the clear.
"""

from enum import StrEnum
from typing import Annotated, ClassVar, Final, Self
from uuid import UUID, uuid5

from pydantic import AfterValidator, AwareDatetime, Field, model_validator

from bilet.contracts.base import ContractModel, DomainEvent
from bilet.contracts.registry import JsonObject, published, upcaster
from bilet.contracts.sealed import ERASED_VALUE, KeyScope, Sealed, key_generation_field, personal
from bilet.contracts.vocabulary import (
    PUBLIC_KEYWORD,
    AccessibilityNeeds,
    Code,
    Environment,
    Environments,
    GradeRange,
    Level,
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
class CareerEventCancelled(EventsEvent):
    """The organiser cancelled a career event; every seat booked on it is released (each with
    its own BookingCancelled)."""

    event_type: ClassVar[str] = "CareerEventCancelled"

    career_event_id: UUID
    reason: CareerEventCancellationReason


@published
class BookingCancelled(EventsEvent):
    """A booked seat was released; it counts no more against the participant's limit."""

    event_type: ClassVar[str] = "BookingCancelled"

    career_event_id: UUID
    booking_id: UUID
    participant_id: UUID
    reason: BookingCancellationReason


# ---------------------------------------------------------------------- version 2 (issue #14)
class CareerEventLevel(StrEnum):
    """How deep a career event goes."""

    INTRODUCTORY = "introductory"  # ознакомительный
    ADVANCED = "advanced"  # углубленный


class CareerEventFormat(StrEnum):
    ONLINE = "online"
    IN_PERSON = "in_person"


class CareerEventSession(ContractModel):
    """One sitting of a career event: its own time and seats; a booking names one."""

    session_id: UUID
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    capacity: int = Field(ge=1, le=1000, description="Seats of this session.")

    @model_validator(mode="after")
    def _in_order(self) -> Self:
        if self.ends_at <= self.starts_at:
            raise ValueError("a session ends after it starts")
        return self


def _distinct_sessions(sessions: tuple[CareerEventSession, ...]) -> tuple[CareerEventSession, ...]:
    distinct(tuple(session.session_id for session in sessions))
    return sessions


Sessions = Annotated[
    tuple[CareerEventSession, ...],
    Field(min_length=1, max_length=50, description="The sittings, each with its own id."),
    AfterValidator(_distinct_sessions),
]
Mentors = Annotated[
    tuple[UUID, ...],
    Field(
        max_length=20,
        json_schema_extra={"uniqueItems": True},
        description="The mentors' accounts (opaque ids): they see the roster and give feedback.",
    ),
    AfterValidator(distinct),
]


# Public, organisational text (never about a person); the marker sits on the string itself, so a
# null description is still declared public.
_Description = Annotated[
    str, Field(min_length=1, max_length=4000, json_schema_extra={PUBLIC_KEYWORD: True})
]


class _CareerEventDetails(EventsEvent):
    """What an organiser states about a career event, and may revise before the first booking."""

    title: str = public_text(
        "What the participant will try, in Russian, e.g. «Мастер сельскохозяйственного "
        "производства»."
    )
    description: _Description | None = Field(
        description="What happens there, in Russian; null only for career events published "
        "before it was asked (version 1)."
    )
    profession: Code = Field(description="The profession tried, as a code of the catalogue.")
    environments: Environments = Field(description="The environments (среды) it belongs to.")
    level: CareerEventLevel
    format: CareerEventFormat
    venue: Venue | None = Field(description="Where it takes place: set exactly when in person.")
    municipality: str = public_text(
        "The municipal district or city it is offered in (the venue's, or the audience's when "
        "online)."
    )
    sessions: Sessions
    eligible_grades: GradeRange
    accommodates: AccessibilityNeeds = Field(
        description="The accommodations the venue and the format provide (AccessibilityNeed: "
        "the same closed list as a participant's needs, so one covers the other)."
    )
    mentors: Mentors

    @model_validator(mode="after")
    def _venue_when_in_person(self) -> Self:
        if (self.format is CareerEventFormat.IN_PERSON) != (self.venue is not None):
            raise ValueError("a venue is given exactly when the career event is in person")
        return self


@published
class CareerEventPublished(_CareerEventDetails):
    """An organiser published a career event (профпроба) in a region: meeting a profession, a
    hands-on task and feedback, online or at a venue, in one or more sessions with their own
    seats, for a range of grades. It states which accommodations the venue and the format
    provide, so participants are offered only career events that are safe and accessible for
    them.

    Version 2 has sessions, a level, a format, a description and mentors. A version 1 career
    event reads as an in-person one of one session (its id derived from the career event's, see
    `first_session_id`), of the introductory level (the only level of the 2019 pilot), with no
    description and no mentors named."""

    event_type: ClassVar[str] = "CareerEventPublished"
    schema_version: ClassVar[int] = 2

    career_event_id: UUID
    region_id: UUID
    season: Season
    organiser_id: UUID = Field(description="The organising organisation (opaque id).")


@published
class CareerEventRevised(_CareerEventDetails):
    """The organiser revised a career event before its first booking: every stated detail is
    replaced by these (a session left out is withdrawn; one kept keeps its id)."""

    event_type: ClassVar[str] = "CareerEventRevised"

    career_event_id: UUID


def _without(data: JsonObject, *names: str) -> JsonObject:
    """The data of an older version without the fields its next version no longer has."""
    return {name: value for name, value in data.items() if name not in names}


def first_session_id(career_event_id: UUID | str) -> UUID:
    """The session a version 1 career event (one time, one capacity) reads as: derived from the
    career event's id, so every reader and every replay names it alike."""
    return uuid5(UUID(str(career_event_id)), "session-1")


@upcaster("CareerEventPublished", from_version=1)
def _career_event_published_v1_to_v2(data: JsonObject) -> JsonObject:
    out = _without(data, "starts_at", "ends_at", "capacity")
    session = {
        "session_id": str(first_session_id(data["career_event_id"])),
        "starts_at": data["starts_at"],
        "ends_at": data["ends_at"],
        "capacity": data["capacity"],
    }
    return {
        **out,
        "description": None,
        "level": CareerEventLevel.INTRODUCTORY.value,
        "format": CareerEventFormat.IN_PERSON.value,
        "municipality": data["venue"]["municipality"],
        "sessions": [session],
        "mentors": [],
    }


class BookingRoute(StrEnum):
    """How a seat came to be booked."""

    BOOKED = "booked"  # a seat was free when asked for
    PROMOTED_FROM_WAITLIST = "promoted_from_waitlist"  # a seat was released to the first waiting


_SUMMARY: Final = (
    "array of strings from the closed list AccessibilityNeed, each once: what the venue must "
    "arrange for this participant, never why (derived from health data: special category data)"
)


@published
class WaitlistJoined(EventsEvent):
    """A participant asked for a seat of a full session: they wait in line at `position`
    (1: next). A released seat goes to the first eligible one, as `SeatBooked` with the same
    booking id and the route `promoted_from_waitlist`; leaving the line is `BookingCancelled`."""

    event_type: ClassVar[str] = "WaitlistJoined"

    career_event_id: UUID
    session_id: UUID
    booking_id: UUID
    participant_id: UUID
    season: Season
    position: int = Field(ge=1, description="The place in the session's line when joining.")


@published
class SeatBooked(EventsEvent):
    """A participant with a verified consent has a seat in a session of a career event of their
    region, within the season's limit of career events: booked at once, or promoted from the
    waitlist (then with the booking id of their `WaitlistJoined`).

    Version 2 names the session and carries the venue-requirements summary only sealed with the
    participant's health key (docs/adr/0017), and only while a verified consent covers health
    data and career events; otherwise it is absent, and the organiser prepares nothing
    particular. Version 1 (the list in the clear) was never written; the upcaster gives its
    one-session career event's session and withholds the list."""

    event_type: ClassVar[str] = "SeatBooked"
    schema_version: ClassVar[int] = 2

    career_event_id: UUID
    session_id: UUID
    booking_id: UUID
    participant_id: UUID
    season: Season
    route: BookingRoute
    accessibility_needs: Sealed | None = personal(
        "What the venue must arrange for the participant.",
        _SUMMARY,
        scope=KeyScope.HEALTH,
        default=None,
    )
    key_generation: int | None = key_generation_field(
        KeyScope.HEALTH,
        "The generation of the health key that seals the summary; set exactly when it is.",
        default=None,
    )

    @model_validator(mode="after")
    def _generation_with_summary(self) -> Self:
        if (self.accessibility_needs is None) != (self.key_generation is None):
            raise ValueError("the key generation is set exactly when the summary is")
        return self


@upcaster("SeatBooked", from_version=1)
def _seat_booked_v1_to_v2(data: JsonObject) -> JsonObject:
    # An upcaster holds no key: the clear list is withheld (erased), never carried on; version 1
    # was never written, so this reads only the example and its golden sample.
    out = _without(data, "accessibility_needs")
    return {
        **out,
        "session_id": str(first_session_id(data["career_event_id"])),
        "route": BookingRoute.BOOKED.value,
        "accessibility_needs": ERASED_VALUE.model_dump(mode="json"),
        "key_generation": 1,
    }


@published
class CareerEventAttended(EventsEvent):
    """The organiser or a mentor marked the participant present at a session of the career event
    (отметка о посещении); it goes into the portfolio and counts for the recommendations.

    Version 2 names the session; a version 1 attendance is of its one-session career event."""

    event_type: ClassVar[str] = "CareerEventAttended"
    schema_version: ClassVar[int] = 2

    career_event_id: UUID
    session_id: UUID
    booking_id: UUID
    participant_id: UUID


@upcaster("CareerEventAttended", from_version=1)
def _career_event_attended_v1_to_v2(data: JsonObject) -> JsonObject:
    return {**data, "session_id": str(first_session_id(data["career_event_id"]))}


@published
class CareerEventMissed(EventsEvent):
    """The organiser or a mentor marked a booked participant absent from their session (неявка):
    the portfolio shows it as missed, not attended."""

    event_type: ClassVar[str] = "CareerEventMissed"

    career_event_id: UUID
    session_id: UUID
    booking_id: UUID
    participant_id: UUID


class TaskCompletion(StrEnum):
    """How far the participant got with the hands-on task."""

    COMPLETED = "completed"
    PARTLY_COMPLETED = "partly_completed"
    NOT_COMPLETED = "not_completed"


class InterestShown(StrEnum):
    """How much interest in the profession the mentor saw."""

    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"


class SkillShown(ContractModel):
    """A skill the mentor saw, at a criterion-referenced level."""

    skill: Code = Field(description="A soft skill, as a code of the soft-skills bank.")
    level: Level | None = Field(
        description="The level shown; null only in feedback given before levels were asked "
        "(version 1)."
    )


def _distinct_skills(skills: tuple[SkillShown, ...]) -> tuple[SkillShown, ...]:
    distinct(tuple(shown.skill for shown in skills))
    return skills


@published
class MentorFeedbackGiven(EventsEvent):
    """A mentor of the career event gave an attended participant feedback as a rubric: whether
    the task was completed, which skills showed at which level, how much interest the
    participant showed, which environments to explore. A free-text comment about a child is
    personal data: it is sealed with the participant's key.

    Version 2 replaces the two 1–5 ratings by the rubric. The upcaster reads a version 1 task
    result of 4–5 as completed, 3 as partly, 1–2 as not completed; an engagement of 4–5 as high
    interest, 3 as moderate, 1–2 as low; its skills with no level."""

    event_type: ClassVar[str] = "MentorFeedbackGiven"
    schema_version: ClassVar[int] = 2

    career_event_id: UUID
    feedback_id: UUID
    booking_id: UUID
    participant_id: UUID
    mentor_id: UUID
    task_completion: TaskCompletion
    skills_shown: Annotated[tuple[SkillShown, ...], AfterValidator(_distinct_skills)] = Field(
        max_length=10, description="The skills the mentor saw, each once."
    )
    interest_shown: InterestShown
    suggested_environments: Annotated[tuple[Environment, ...], AfterValidator(distinct)] = Field(
        max_length=len(Environment),
        json_schema_extra={"uniqueItems": True},
        description="Environments (среды) the mentor suggests exploring.",
    )
    comment: Sealed | None = personal(
        "The mentor's short words to the participant.", "string", default=None
    )


def _from_rating(rating: int, low: str, middle: str, high: str) -> str:
    return high if rating >= 4 else middle if rating == 3 else low


@upcaster("MentorFeedbackGiven", from_version=1)
def _mentor_feedback_given_v1_to_v2(data: JsonObject) -> JsonObject:
    out = _without(data, "engagement", "task_result", "observed_skills")
    return {
        **out,
        "task_completion": _from_rating(
            data["task_result"],
            TaskCompletion.NOT_COMPLETED.value,
            TaskCompletion.PARTLY_COMPLETED.value,
            TaskCompletion.COMPLETED.value,
        ),
        "interest_shown": _from_rating(
            data["engagement"],
            InterestShown.LOW.value,
            InterestShown.MODERATE.value,
            InterestShown.HIGH.value,
        ),
        "skills_shown": [{"skill": skill, "level": None} for skill in data["observed_skills"]],
    }
