"""The participant's portfolio document: every section of the portfolio that is the participant's
own (stages shown, bookings with their career events, feedback, recommendations, guardians,
history), rendered by the projection from its tables into one JSON text per participant
(`portfolio_documents`), so a read is one row.

Rendered again, from the tables, whenever the participant's portfolio changes
(`Step.portfolio_changed`, which every event of theirs and every change of a career event they
booked goes through): the document is a function of the rows, so it is as deterministic as they
are, the same on SQLite and PostgreSQL, and rebuilt with them. What the document leaves out is
read beside it, on the same read: reference data many portfolios share (school, region, the
season's stages, testing windows: a school's rename must not rewrite thousands of documents) and
the sealed ФИО (its column on the participant's row, decrypted per request). A mentor's comment
is held only as its sealed envelope, as in `feedback`; erasure deletes it there and the document
is rendered again without it.
"""

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Generic, NamedTuple, TypeVar

from bilet.projections import ReadModelTx, Row
from bilet_portfolio.adapters.json_text import from_json, to_json
from bilet_portfolio.domain.views import (
    BookingRecord,
    CareerEventInfo,
    FeedbackRecord,
    GuardianRecord,
    HistoryEntry,
    RecommendationRecord,
    StageAttempt,
    stages_shown,
)

HISTORY_LIMIT: Final = 500

# The rows of each section as the statement below reads them: every value as text (typed here,
# so both databases give the same values), NULL as None.


class _AttemptRow(NamedTuple):
    attempt_id: str
    season: str
    stage: str
    status: str
    instruments: str
    answer_sheet: str | None
    result: str | None
    started_position: str | None
    completed_position: str | None
    started_at: str | None
    completed_at: str | None


class _BookingRow(NamedTuple):
    """A booking and the career event it is on (NULLs while that has not arrived)."""

    booking_id: str
    career_event_id: str
    season: str | None
    status: str
    cancellation_reason: str | None
    booked_at: str | None
    attended_at: str | None
    cancelled_at: str | None
    event_title: str | None
    event_profession: str | None
    event_environments: str | None
    event_venue: str | None
    event_starts_at: str | None
    event_ends_at: str | None
    event_cancelled: str | None
    event_cancellation_reason: str | None


class _FeedbackRow(NamedTuple):
    feedback_id: str
    booking_id: str
    career_event_id: str
    engagement: str
    task_result: str
    observed_skills: str
    suggested_environments: str
    sealed_comment: str | None
    given_at: str


class _RecommendationRow(NamedTuple):
    season: str
    recommendation_set_id: str
    rules: str
    basis: str
    leading_environments: str
    study_plan: str
    opportunities: str
    supersedes: str | None
    issued_at: str


class _GuardianRow(NamedTuple):
    guardian_id: str
    relationship: str
    linked_at: str


class _HistoryRow(NamedTuple):
    source: str
    position: str
    stream_id: str
    stream_version: str
    event_type: str
    recorded_at: str


SectionRow = TypeVar("SectionRow")
# A UNION needs one shape: every branch is padded to the widest section's number of columns.
_WIDTH: Final = len(_BookingRow._fields)


@dataclass(frozen=True)
class _Section(Generic[SectionRow]):
    """One section's branch of the statement: its columns (in the order of its row's fields)
    from its tables, its rows tagged with its name."""

    name: str
    make_row: Callable[[Iterable[Any]], SectionRow]  # the row type's `_make`
    columns: tuple[str, ...]
    source: str  # FROM … WHERE the participant's

    def select(self) -> str:
        padded = [*self.columns, *("NULL",) * (_WIDTH - len(self.columns))]
        texts = ", ".join(f"CAST({column} AS TEXT)" for column in padded)
        return f"SELECT '{self.name}', {texts} {self.source}"

    def rows(self, tagged: Mapping[str, Sequence[Row]]) -> list[SectionRow]:
        """This section's rows among those read, without the tag and the padding."""
        end = 1 + len(self.columns)
        return [self.make_row(row[1:end]) for row in tagged[self.name]]


_ATTEMPTS: Final = _Section(
    "attempts",
    _AttemptRow._make,
    (
        "attempt_id",
        "season",
        "stage",
        "status",
        "instruments",
        "answer_sheet",
        "result",
        "started_position",
        "completed_position",
        "started_at",
        "completed_at",
    ),
    "FROM {stage_attempts} WHERE participant_id = $1",
)
_BOOKINGS: Final = _Section(
    "bookings",
    _BookingRow._make,
    (
        "b.booking_id",
        "b.career_event_id",
        "b.season",
        "b.status",
        "b.cancellation_reason",
        "b.booked_at",
        "b.attended_at",
        "b.cancelled_at",
        "c.title",
        "c.profession",
        "c.environments",
        "c.venue",
        "c.starts_at",
        "c.ends_at",
        "c.cancelled",
        "c.cancellation_reason",
    ),
    "FROM {bookings} b LEFT JOIN {career_events} c "
    "ON c.career_event_id = b.career_event_id WHERE b.participant_id = $1",
)
_FEEDBACK: Final = _Section(
    "feedback",
    _FeedbackRow._make,
    (
        "feedback_id",
        "booking_id",
        "career_event_id",
        "engagement",
        "task_result",
        "observed_skills",
        "suggested_environments",
        "comment",
        "given_at",
    ),
    "FROM {feedback} WHERE participant_id = $1",
)
_RECOMMENDATIONS: Final = _Section(
    "recommendations",
    _RecommendationRow._make,
    (
        "season",
        "recommendation_set_id",
        "rules",
        "basis",
        "leading_environments",
        "study_plan",
        "opportunities",
        "supersedes",
        "issued_at",
    ),
    "FROM {recommendations} WHERE participant_id = $1",
)
_GUARDIANS: Final = _Section(
    "guardians",
    _GuardianRow._make,
    ("guardian_id", "relationship", "linked_at"),
    "FROM {guardians} WHERE participant_id = $1",
)
_HISTORY: Final = _Section(
    "history",
    _HistoryRow._make,
    ("source", "position", "stream_id", "stream_version", "event_type", "recorded_at"),
    "FROM (SELECT * FROM {history} WHERE participant_id = $1 "
    "ORDER BY recorded_at, source, position LIMIT $2) h",
)
_SECTIONS: Final[tuple[_Section[Any], ...]] = (
    _ATTEMPTS,
    _BOOKINGS,
    _FEEDBACK,
    _RECOMMENDATIONS,
    _GUARDIANS,
    _HISTORY,
)
# Every section of one participant in ONE statement (one round trip on PostgreSQL, where the
# projection's other statements are pipelined): rows of several tables, tagged, as text; each
# section is ordered here, in Python, by a total order of its own.
_READ_SECTIONS: Final = " UNION ALL ".join(section.select() for section in _SECTIONS)


def _int(text: str | None) -> int | None:
    return None if text is None else int(text)


def _true(text: str | None) -> bool:
    return text in ("1", "true", "t")  # SQLite's 1, PostgreSQL's true, as text


def _nulls_first(*values: str | None) -> tuple[tuple[bool, str], ...]:
    """A total order with NULLs first, the same on both databases."""
    return tuple((value is not None, value or "") for value in values)


async def render(tx: ReadModelTx, participant_id: str) -> str:
    """The participant's sections, from the tables, as canonical JSON (byte-equal on both
    databases: every value is read as text and typed here, JSON columns re-encoded)."""
    tagged: dict[str, list[Row]] = {section.name: [] for section in _SECTIONS}
    for row in await tx.fetch(_READ_SECTIONS, participant_id, HISTORY_LIMIT):
        tagged[row[0]].append(row)
    attempts = sorted(_ATTEMPTS.rows(tagged), key=lambda row: row.attempt_id)
    bookings = sorted(
        _BOOKINGS.rows(tagged), key=lambda row: _nulls_first(row.booked_at, row.booking_id)
    )
    feedback = sorted(_FEEDBACK.rows(tagged), key=lambda row: (row.given_at, row.feedback_id))
    recommendations = sorted(_RECOMMENDATIONS.rows(tagged), key=lambda row: int(row.season))
    guardians = sorted(_GUARDIANS.rows(tagged), key=lambda row: row.guardian_id)
    history = sorted(
        _HISTORY.rows(tagged),
        key=lambda row: (row.recorded_at, row.source, int(row.position)),
    )
    return to_json(
        {
            # Only the attempt shown of each stage (the choice depends on store positions, not
            # on delivery order).
            "stages": [
                _stage(attempt) for attempt in stages_shown(_attempt(row) for row in attempts)
            ],
            "bookings": [_booking(row) for row in bookings],
            "feedback": [_feedback(row) for row in feedback],
            "recommendations": [_recommendation(row) for row in recommendations],
            "guardians": [_guardian(row) for row in guardians],
            "history": [_history_entry(row) for row in history],
        }
    )


def _attempt(row: _AttemptRow) -> StageAttempt:
    return StageAttempt(
        attempt_id=row.attempt_id,
        season=int(row.season),
        stage=row.stage,
        status=row.status,
        instruments=from_json(row.instruments, []),
        answer_sheet=from_json(row.answer_sheet),
        result=from_json(row.result),
        started_position=_int(row.started_position),
        completed_position=_int(row.completed_position),
        started_at=row.started_at,
        completed_at=row.completed_at,
    )


def _stage(attempt: StageAttempt) -> dict[str, Any]:
    return {
        "attempt_id": attempt.attempt_id,
        "season": attempt.season,
        "stage": attempt.stage,
        "status": attempt.status,
        "instruments": attempt.instruments,
        "answer_sheet": attempt.answer_sheet,
        "result": attempt.result,
        "started_position": attempt.started_position,
        "completed_position": attempt.completed_position,
        "started_at": attempt.started_at,
        "completed_at": attempt.completed_at,
    }


def _booking(row: _BookingRow) -> dict[str, Any]:
    return {
        "booking_id": row.booking_id,
        "career_event_id": row.career_event_id,
        "season": _int(row.season),
        "status": row.status,
        "cancellation_reason": row.cancellation_reason,
        "booked_at": row.booked_at,
        "attended_at": row.attended_at,
        "cancelled_at": row.cancelled_at,
        "career_event": None if row.event_title is None else _career_event(row),
    }


def _career_event(row: _BookingRow) -> dict[str, Any]:
    return {
        "career_event_id": row.career_event_id,
        "title": row.event_title,
        "profession": row.event_profession,
        "environments": from_json(row.event_environments, []),
        "venue": from_json(row.event_venue),
        "starts_at": row.event_starts_at,
        "ends_at": row.event_ends_at,
        "cancelled": _true(row.event_cancelled),
        "cancellation_reason": row.event_cancellation_reason,
    }


def _feedback(row: _FeedbackRow) -> dict[str, Any]:
    return {
        "feedback_id": row.feedback_id,
        "booking_id": row.booking_id,
        "career_event_id": row.career_event_id,
        "engagement": int(row.engagement),
        "task_result": int(row.task_result),
        "observed_skills": from_json(row.observed_skills, []),
        "suggested_environments": from_json(row.suggested_environments, []),
        "sealed_comment": row.sealed_comment,
        "given_at": row.given_at,
    }


def _recommendation(row: _RecommendationRow) -> dict[str, Any]:
    return {
        "season": int(row.season),
        "recommendation_set_id": row.recommendation_set_id,
        "rules": from_json(row.rules),
        "basis": from_json(row.basis),
        "leading_environments": from_json(row.leading_environments, []),
        "study_plan": from_json(row.study_plan, []),
        "opportunities": from_json(row.opportunities, []),
        "supersedes": row.supersedes,
        "issued_at": row.issued_at,
    }


def _guardian(row: _GuardianRow) -> dict[str, Any]:
    return {
        "guardian_id": row.guardian_id,
        "relationship": row.relationship,
        "linked_at": row.linked_at,
    }


def _history_entry(row: _HistoryRow) -> dict[str, Any]:
    return {
        "source": row.source,
        "position": int(row.position),
        "stream_id": row.stream_id,
        "stream_version": int(row.stream_version),
        "event_type": row.event_type,
        "recorded_at": row.recorded_at,
    }


class Sections:
    """A document read back: the sections as the portfolio record holds them."""

    __slots__ = ("bookings", "feedback", "guardians", "history", "recommendations", "stages")

    def __init__(self, text: str | None) -> None:
        doc: dict[str, Any] = {} if text is None else json.loads(text)
        self.stages = [StageAttempt(**stage) for stage in doc.get("stages", ())]
        self.bookings = [
            BookingRecord(
                **{
                    **booking,
                    "career_event": None
                    if booking["career_event"] is None
                    else CareerEventInfo(**booking["career_event"]),
                }
            )
            for booking in doc.get("bookings", ())
        ]
        self.feedback = [FeedbackRecord(**feedback) for feedback in doc.get("feedback", ())]
        self.recommendations = [
            RecommendationRecord(**recommendation)
            for recommendation in doc.get("recommendations", ())
        ]
        self.guardians = [GuardianRecord(**guardian) for guardian in doc.get("guardians", ())]
        self.history = [HistoryEntry(**entry) for entry in doc.get("history", ())]
