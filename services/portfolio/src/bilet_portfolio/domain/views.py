"""What the read model holds about a participant, as plain values (personal fields still sealed:
the envelope text, opened only by the application for roles entitled to it)."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bilet_portfolio.domain.consent import ConsentFacts
from bilet_portfolio.domain.progress import Progress

JsonValue = Any


@dataclass(frozen=True, slots=True)
class ParticipantRecord:
    participant_id: str
    school_id: str | None
    region_id: str | None
    season: int | None
    grade: int | None
    sealed_name: str | None  # the ФИО envelope (JSON text); None once erased
    consent: ConsentFacts
    erased: bool
    erased_at: str | None
    progress: Progress
    version: int  # bumped by every event that changed the portfolio: part of the ETag
    updated_at: str


@dataclass(frozen=True, slots=True)
class SchoolInfo:
    school_id: str
    region_id: str
    name: str
    municipality: str


@dataclass(frozen=True, slots=True)
class RegionInfo:
    region_id: str
    region_code: str
    name: str


@dataclass(frozen=True, slots=True)
class Window:
    season: int
    stage: str
    opens_on: str
    closes_on: str


@dataclass(frozen=True, slots=True)
class StageAttempt:
    attempt_id: str
    season: int
    stage: str
    status: str  # started | completed
    instruments: list[JsonValue]
    answer_sheet: JsonValue | None
    result: JsonValue | None
    started_position: int | None
    completed_position: int | None
    started_at: str | None
    completed_at: str | None


@dataclass(frozen=True, slots=True)
class CareerEventInfo:
    career_event_id: str
    title: str
    profession: str
    environments: list[str]
    level: str  # introductory | advanced
    format: str  # online | in_person
    venue: JsonValue  # null when online
    starts_at: str
    ends_at: str
    cancelled: bool
    cancellation_reason: str | None


@dataclass(frozen=True, slots=True)
class BookingRecord:
    booking_id: str
    career_event_id: str
    session: dict[str, str] | None  # session_id, starts_at, ends_at
    season: int | None
    status: str  # waitlisted | booked | cancelled | attended | missed
    waitlist_position: int | None  # while waitlisted
    route: str | None  # booked | promoted_from_waitlist, once booked
    cancellation_reason: str | None
    booked_at: str | None
    attended_at: str | None
    cancelled_at: str | None
    career_event: CareerEventInfo | None


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    feedback_id: str
    booking_id: str
    career_event_id: str
    task_completion: str
    interest_shown: str
    skills_shown: list[dict[str, str | None]]  # skill, level (null in version 1 feedback)
    suggested_environments: list[str]
    sealed_comment: str | None
    given_at: str


@dataclass(frozen=True, slots=True)
class RecommendationRecord:
    season: int
    recommendation_set_id: str
    rules: JsonValue
    basis: JsonValue
    leading_environments: list[str]
    study_plan: list[JsonValue]
    opportunities: list[JsonValue]
    supersedes: str | None
    issued_at: str
    # Published since RecommendationsIssued v2 (docs/adr/0048); None: a set issued as v1.
    environment_scores: list[JsonValue] | None = None
    profile_classes: list[JsonValue] | None = None
    routes: list[JsonValue] | None = None


@dataclass(frozen=True, slots=True)
class GuardianRecord:
    """A guardian a verified consent in force names (shown, never a grant of access)."""

    guardian_id: str
    relationship: str
    linked_at: str


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    source: str
    position: int
    stream_id: str
    stream_version: int
    event_type: str
    recorded_at: str


@dataclass(frozen=True, slots=True)
class PortfolioRecord:
    participant: ParticipantRecord
    school: SchoolInfo | None
    region: RegionInfo | None
    stages_of_season: tuple[str, ...]
    windows: list[Window]
    attempts: list[StageAttempt]
    bookings: list[BookingRecord]
    feedback: list[FeedbackRecord]
    recommendations: list[RecommendationRecord]
    guardians: list[GuardianRecord]
    history: list[HistoryEntry] = field(default_factory=list)


def stages_shown(attempts: Iterable[StageAttempt]) -> list[StageAttempt]:
    """One attempt per (season, stage): the completed one recorded last, else the started one
    recorded last. Positions are the diagnostics store's, a total order that does not depend on
    the order in which a feed delivered the attempts."""
    best: dict[tuple[int, str], StageAttempt] = {}

    def rank(attempt: StageAttempt) -> tuple[int, int]:
        if attempt.status == "completed":
            return (1, attempt.completed_position or 0)
        return (0, attempt.started_position or 0)

    for attempt in attempts:
        key = (attempt.season, attempt.stage)
        held = best.get(key)
        if held is None or rank(attempt) > rank(held):
            best[key] = attempt
    return sorted(best.values(), key=lambda a: (a.season, a.stage))


def stage_order(stages: Sequence[str], stage: str) -> int:
    return stages.index(stage) if stage in stages else len(stages)
