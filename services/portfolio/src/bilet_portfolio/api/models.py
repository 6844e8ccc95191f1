"""Response models of `/portfolio/v1`: what frontend gateways generate their clients from."""

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bilet_portfolio.domain.consent import ConsentState


class Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class DisplayNameModel(Model):
    """The pupil's ФИО, shown only to the pupil, their guardians, their school and their
    region's coordinator. `erased`: the pupil's data was destroyed, the name is gone."""

    last_name: str | None
    first_name: str | None
    patronymic: str | None
    erased: bool = False


class ConsentModel(Model):
    state: ConsentState = Field(
        description="none, pending (uploaded, not yet verified), verified, rejected, withdrawn "
        "(a consent was withdrawn as a whole: the data is destroyed by `erase_by`), or expired "
        "(verified, but past its validity)."
    )
    purposes: list[str] = Field(
        description="What the consent shown covers (the one in force, else the latest)."
    )
    valid_until: date | None
    rejection_reasons: list[str] = Field(description="Why the last upload was rejected.")
    erase_by: date | None = Field(description="After a withdrawal: when the data is destroyed.")
    newer_pending: bool = Field(
        description="A newer consent was uploaded and waits for verification."
    )


class SchoolModel(Model):
    school_id: str
    name: str
    municipality: str


class RegionModel(Model):
    region_id: str
    region_code: str
    name: str


class ProgressModel(Model):
    stages_completed: int
    stages_total: int
    career_events_booked: int = Field(description="Bookings neither cancelled nor attended.")
    career_events_attended: int
    max_career_events: int | None = Field(description="The season's limit, when known.")
    recommendations: bool


class InstrumentModel(Model):
    instrument: str
    version: str


class WindowModel(Model):
    opens_on: date
    closes_on: date


class StageModel(Model):
    """A diagnostics stage of a season: the completed attempt recorded last, else the one in
    progress. `result` is the stage's result as the diagnostics service published it (interests:
    ДДО/RIASEC scores and environments; soft skills and knowledge: levels)."""

    season: int
    stage: str
    status: Literal["started", "completed"]
    attempt_id: str
    instruments: list[InstrumentModel]
    result: dict[str, Any] | None
    answer_sheet_id: str | None
    started_at: datetime | None
    completed_at: datetime | None
    window: WindowModel | None = Field(description="The region's testing window for it.")


class VenueModel(Model):
    kind: str
    name: str
    address: str
    municipality: str


class CareerEventModel(Model):
    career_event_id: str
    title: str
    profession: str
    environments: list[str]
    level: Literal["introductory", "advanced"] = Field(
        description="ознакомительный (introductory) or углубленный (advanced)."
    )
    format: Literal["online", "in_person"]
    venue: VenueModel | None = Field(description="Where it takes place; null when online.")
    starts_at: datetime
    ends_at: datetime
    cancelled: bool
    cancellation_reason: str | None


class SkillShownModel(Model):
    skill: str = Field(description="A soft skill, as a code of the soft-skills bank.")
    level: Literal["initial", "basic", "proficient", "advanced"] | None = Field(
        description="The level the mentor saw; null in feedback given before levels were asked."
    )


class SessionModel(Model):
    session_id: str
    starts_at: datetime
    ends_at: datetime


class FeedbackModel(Model):
    feedback_id: str
    task_completion: Literal["completed", "partly_completed", "not_completed"]
    interest_shown: Literal["low", "moderate", "high"]
    skills_shown: list[SkillShownModel]
    suggested_environments: list[str]
    comment: str | None = Field(description="The mentor's words; shown to entitled roles only.")
    given_at: datetime


class BookingModel(Model):
    booking_id: str
    session: SessionModel | None = Field(
        description="The session booked; null until the career event stating it arrived."
    )
    status: Literal["waitlisted", "booked", "cancelled", "attended", "missed"] = Field(
        description="waitlisted: no seat yet (see waitlist_position); missed: a no-show."
    )
    waitlist_position: int | None = Field(
        description="The place in the session's line when joining, while waitlisted."
    )
    route: Literal["booked", "promoted_from_waitlist"] | None = Field(
        description="How the seat came, once booked."
    )
    season: int | None
    cancellation_reason: str | None
    booked_at: datetime | None
    attended_at: datetime | None
    cancelled_at: datetime | None
    career_event: CareerEventModel | None = Field(
        description="Null until the career event's publication reached the portfolio."
    )
    feedback: list[FeedbackModel]


class RecommendationsModel(Model):
    season: int
    recommendation_set_id: str
    leading_environments: list[str]
    study_plan: list[dict[str, Any]]
    opportunities: list[dict[str, Any]]
    rules: dict[str, Any]
    basis: dict[str, Any]
    supersedes: str | None
    issued_at: datetime
    environment_scores: list[dict[str, Any]] | None = Field(
        description="Every environment's score (0–100) with what it is made of, strongest "
        "first; null for a set issued before the recommender published scores."
    )
    profile_classes: list[dict[str, Any]] | None = Field(
        description="Profile classes the leading environments suggest, each with its reason; "
        "null for a set issued before the recommender published them."
    )
    routes: list[dict[str, Any]] | None = Field(
        description="Routes after the 9th grade (СПО) and the 11th (СПО, ВО), each with its "
        "reason; null for a set issued before the recommender published them."
    )


class GuardianModel(Model):
    """A guardian a verified consent in force names. Shown only: guardians' access comes from
    the identity provider (the token's `children` claim), never from this."""

    guardian_id: str
    relationship: str
    linked_at: datetime


class HistoryModel(Model):
    """When an entry arrived: the event behind it and where it sits in its source's store."""

    recorded_at: datetime
    source: str
    event_type: str
    stream_id: str
    stream_version: int
    position: int


class PortfolioModel(Model):
    """A participant's whole portfolio. When `open` is false (no verified consent covering the
    portfolio) the school sees the consent alone and every other field is empty; the school's
    registrar always sees the consent alone (`open` then still tells whether the portfolio is
    open)."""

    participant_id: str
    version: int = Field(description="Bumped by every change; part of the ETag.")
    open: bool
    consent: ConsentModel
    display_name: DisplayNameModel | None
    season: int | None
    grade: int | None
    school: SchoolModel | None
    region: RegionModel | None
    progress: ProgressModel | None
    diagnostics: list[StageModel]
    career_events: list[BookingModel]
    recommendations: list[RecommendationsModel]
    guardians: list[GuardianModel]
    history: list[HistoryModel]
    updated_at: datetime | None


class ParticipantSummaryModel(Model):
    """One participant of a list: `display_name`, `progress` and `updated_at` are null where the
    portfolio is closed, and in a registrar's list."""

    participant_id: str
    open: bool
    consent: ConsentModel
    display_name: DisplayNameModel | None
    season: int | None
    grade: int | None
    progress: ProgressModel | None = Field(
        description="Null while the portfolio is closed (and for a registrar)."
    )
    version: int
    updated_at: datetime | None


class SchoolParticipantsModel(Model):
    school_id: str
    items: list[ParticipantSummaryModel]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )
    total: int = Field(
        ge=0,
        description="How many participants match the filters on all pages (read with the page).",
    )


class ChildrenModel(Model):
    items: list[ParticipantSummaryModel]
