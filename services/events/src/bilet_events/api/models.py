"""Request bodies of `/events/v1` and the answers of its commands. Every constraint the server
enforces on a request is in its schema (the cross-field rules — a session ends after it starts, a
venue exactly when in person, ids each once — are checked by the model and answered 422
`invalid_request` like the others). The answers of its reads are in `views.py`."""

from collections.abc import Sequence
from typing import Annotated, Literal, Self
from uuid import UUID, uuid5

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from bilet.contracts.catalogue.events import (
    CareerEventCancellationReason,
    CareerEventFormat,
    CareerEventLevel,
    CareerEventPublished,
    CareerEventRevised,
    CareerEventSession,
    InterestShown,
    SkillShown,
    TaskCompletion,
    Venue,
    VenueKind,
)
from bilet.contracts.vocabulary import (
    PUBLIC_KEYWORD,
    AccessibilityNeed,
    Environment,
    GradeRange,
    Level,
)

Grade = Annotated[int, Field(ge=1, le=11)]
Season = Annotated[int, Field(ge=2018, le=2100, description="The school year's first year.")]
Position = Annotated[
    int,
    Field(
        ge=0,
        description="Where the change was recorded in the events service's store (also in the "
        "`BVB-Position` header). A read at or past it shows the change.",
    ),
]
PublicText = Annotated[
    str, Field(min_length=1, max_length=300, json_schema_extra={PUBLIC_KEYWORD: True})
]
CodeText = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Mentors = Annotated[
    list[UUID],
    Field(
        max_length=20,
        json_schema_extra={"uniqueItems": True},
        description="The mentors' accounts (their tokens' `sub`): they see the roster, record "
        "attendance and give feedback. Each once.",
    ),
]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _once(values: Sequence[object], what: str) -> None:
    if len(set(values)) != len(values):
        raise ValueError(f"each of the {what} is given once")


# ---------------------------------------------------------------------- publishing
class VenueModel(_Request):
    kind: VenueKind
    name: PublicText = Field(description="The venue organisation, in Russian.")
    address: PublicText = Field(description="Public street address of the venue.")
    municipality: PublicText = Field(description="Municipal district or city.")


class GradeRangeModel(_Request):
    lowest: Grade
    highest: Grade


class SessionRequest(_Request):
    session_id: UUID | None = Field(
        default=None,
        description="Keep a session's id when revising; default: derived from the career "
        "event's id and the session's place in the list.",
    )
    starts_at: AwareDatetime
    ends_at: AwareDatetime = Field(description="After `starts_at`.")
    capacity: int = Field(ge=1, le=1000, description="Seats of this session.")


class CareerEventDetailsRequest(_Request):
    """What an organiser states about a career event (and may revise before the first
    booking)."""

    title: PublicText = Field(description="What the pupil will try, in Russian.")
    description: Annotated[
        str, Field(min_length=1, max_length=4000, json_schema_extra={PUBLIC_KEYWORD: True})
    ] = Field(description="What happens there, in Russian.")
    profession: CodeText = Field(description="The profession tried, as a catalogue code.")
    environments: list[Environment] = Field(
        min_length=1,
        max_length=len(Environment),
        json_schema_extra={"uniqueItems": True},
        description="The environments (среды) it belongs to, each once.",
    )
    level: CareerEventLevel
    format: CareerEventFormat
    venue: VenueModel | None = Field(
        default=None, description="Where it takes place: given exactly when `in_person`."
    )
    municipality: PublicText = Field(description="The municipal district or city it is offered in.")
    sessions: list[SessionRequest] = Field(
        min_length=1, max_length=50, description="The sittings, each with its own seats."
    )
    eligible_grades: GradeRangeModel = Field(description="`lowest` ≤ `highest`.")
    accommodates: list[AccessibilityNeed] = Field(
        default=[],
        max_length=len(AccessibilityNeed),
        json_schema_extra={"uniqueItems": True},
        description="The accommodations the venue and the format provide, each once: a pupil "
        "whose needs they do not cover cannot book.",
    )
    mentors: Mentors = []

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.format is CareerEventFormat.IN_PERSON) != (self.venue is not None):
            raise ValueError("a venue is given exactly when the career event is in person")
        if self.eligible_grades.highest < self.eligible_grades.lowest:
            raise ValueError("eligible_grades: highest is not below lowest")
        for session in self.sessions:
            if session.ends_at <= session.starts_at:
                raise ValueError("a session ends after it starts")
        _once(self.environments, "environments")
        _once(self.accommodates, "accommodations")
        _once(self.mentors, "mentors")
        _once([s.session_id for s in self.sessions if s.session_id is not None], "session ids")
        return self

    def details(self, career_event_id: UUID) -> dict[str, object]:
        """The contract's fields: the sessions with their ids (given or derived)."""
        return {
            "title": self.title,
            "description": self.description,
            "profession": self.profession,
            "environments": tuple(self.environments),
            "level": self.level,
            "format": self.format,
            "venue": None if self.venue is None else Venue(**self.venue.model_dump()),
            "municipality": self.municipality,
            "sessions": tuple(
                CareerEventSession(
                    session_id=session.session_id or uuid5(career_event_id, f"session-{number}"),
                    starts_at=session.starts_at,
                    ends_at=session.ends_at,
                    capacity=session.capacity,
                )
                for number, session in enumerate(self.sessions, start=1)
            ),
            "eligible_grades": GradeRange(**self.eligible_grades.model_dump()),
            "accommodates": tuple(self.accommodates),
            "mentors": tuple(self.mentors),
        }


class PublishCareerEventRequest(CareerEventDetailsRequest):
    career_event_id: UUID | None = Field(
        default=None,
        description="The client's id for the career event, to retry safely (a second publish "
        "of the same id is refused `career_event_exists`); default: a new one.",
    )
    region_id: UUID = Field(description="The region it is offered in.")
    season: Season
    organiser_id: UUID = Field(
        description="The organising organisation: an organiser's own venue (`venue` claim)."
    )

    def published(self, career_event_id: UUID) -> CareerEventPublished:
        return CareerEventPublished(
            career_event_id=career_event_id,
            region_id=self.region_id,
            season=self.season,
            organiser_id=self.organiser_id,
            **self.details(career_event_id),  # type: ignore[arg-type]
        )


class ReviseCareerEventRequest(CareerEventDetailsRequest):
    def revised(self, career_event_id: UUID) -> CareerEventRevised:
        return CareerEventRevised(
            career_event_id=career_event_id,
            **self.details(career_event_id),  # type: ignore[arg-type]
        )


class CancelCareerEventRequest(_Request):
    reason: CareerEventCancellationReason


class CareerEventChangedResponse(BaseModel):
    career_event_id: UUID
    position: Position


# ---------------------------------------------------------------------- bookings
class BookRequest(_Request):
    participant_id: UUID = Field(description="The pupil who takes the seat.")
    booking_id: UUID | None = Field(
        default=None,
        description="The client's id for the booking, to retry safely (the pupil holds a "
        "booking of this career event already: `already_booked`); default: a new one.",
    )


class BookingResponse(BaseModel):
    booking_id: UUID
    career_event_id: UUID
    session_id: UUID
    participant_id: UUID
    status: Literal["booked", "waitlisted"]
    waitlist_position: int | None = Field(
        ge=1, description="The place in the session's line (1: next); null with a seat."
    )
    accessibility_checked: bool = Field(
        description="False when the pupil's accessibility needs could not be considered: no "
        "consent in force covers `health_data`, so the booking acted as if there were none."
    )
    position: Position


class BookingChangedResponse(BaseModel):
    booking_id: UUID
    position: Position


# ---------------------------------------------------------------------- on the day
class AttendanceRecordModel(_Request):
    booking_id: UUID
    attended: bool = Field(description="True: present; false: did not come (неявка).")


class AttendanceRequest(_Request):
    records: list[AttendanceRecordModel] = Field(
        min_length=1,
        max_length=1000,
        description="One per booking of the session, each booking once; recorded together or "
        "(any refused) not at all.",
    )

    @model_validator(mode="after")
    def _each_once(self) -> Self:
        _once([record.booking_id for record in self.records], "bookings")
        return self


class AttendanceResponse(BaseModel):
    session_id: UUID
    recorded: int = Field(ge=1, description="How many bookings were marked.")
    position: Position


class SkillShownModel(_Request):
    skill: CodeText = Field(description="A soft skill, as a code of the soft-skills bank.")
    level: Level


class FeedbackRequest(_Request):
    feedback_id: UUID | None = Field(
        default=None, description="The client's id for the feedback; default: a new one."
    )
    booking_id: UUID = Field(description="The attended booking the feedback is about.")
    task_completion: TaskCompletion
    skills_shown: list[SkillShownModel] = Field(
        default=[], max_length=10, description="The skills the mentor saw, each skill once."
    )
    interest_shown: InterestShown
    suggested_environments: list[Environment] = Field(
        default=[],
        max_length=len(Environment),
        json_schema_extra={"uniqueItems": True},
        description="Environments (среды) the mentor suggests exploring, each once.",
    )
    comment: str | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="A short word to the pupil, in Russian: personal data, sealed with the "
        "pupil's key (destroyed with their data).",
    )

    @model_validator(mode="after")
    def _each_once(self) -> Self:
        _once([shown.skill for shown in self.skills_shown], "skills")
        _once(self.suggested_environments, "environments")
        return self

    def skills(self) -> tuple[SkillShown, ...]:
        return tuple(SkillShown(skill=s.skill, level=s.level) for s in self.skills_shown)


class FeedbackResponse(BaseModel):
    feedback_id: UUID
    booking_id: UUID
    position: Position
