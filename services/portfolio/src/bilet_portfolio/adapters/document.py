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
from typing import Any

from bilet.projections import ReadModelTx
from bilet_portfolio.adapters.json_text import from_json
from bilet_portfolio.adapters.json_text import to_json_fast as to_json
from bilet_portfolio.adapters.section_rows import (
    AttemptRow,
    BookingRow,
    FeedbackRow,
    GuardianRow,
    HistoryRow,
    RecommendationRow,
    read_section_rows,
)
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


def _int(text: str | None) -> int | None:
    return None if text is None else int(text)


def _true(text: str | None) -> bool:
    return text in ("1", "true", "t")  # SQLite's 1, PostgreSQL's true, as text


async def render(tx: ReadModelTx, participant_id: str) -> str:
    """The participant's sections, from the tables, as canonical JSON (byte-equal on both
    databases: every value is read as text and typed here, JSON columns re-encoded)."""
    rows = await read_section_rows(tx, participant_id)
    return to_json(
        {
            # Only the attempt shown of each stage (the choice depends on store positions, not
            # on delivery order).
            "stages": [
                _stage(attempt) for attempt in stages_shown(_attempt(row) for row in rows.attempts)
            ],
            "bookings": [_booking(row) for row in rows.bookings],
            "feedback": [_feedback(row) for row in rows.feedback],
            "recommendations": [_recommendation(row) for row in rows.recommendations],
            "guardians": [_guardian(row) for row in rows.guardians],
            "history": [_history_entry(row) for row in rows.history],
        }
    )


def _attempt(row: AttemptRow) -> StageAttempt:
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


def _booking(row: BookingRow) -> dict[str, Any]:
    return {
        "booking_id": row.booking_id,
        "career_event_id": row.career_event_id,
        "session": _session(row),
        "season": _int(row.season),
        "status": row.status,
        "waitlist_position": _int(row.waitlist_position),
        "route": row.route,
        "cancellation_reason": row.cancellation_reason,
        "booked_at": row.booked_at,
        "attended_at": row.attended_at,
        "cancelled_at": row.cancelled_at,
        "career_event": None if row.event_title is None else _career_event(row),
    }


def _session(row: BookingRow) -> dict[str, Any] | None:
    """The session booked, once the career event stating it has arrived."""
    if row.session_id is None or row.session_starts_at is None:
        return None
    return {
        "session_id": row.session_id,
        "starts_at": row.session_starts_at,
        "ends_at": row.session_ends_at,
    }


def _career_event(row: BookingRow) -> dict[str, Any]:
    return {
        "career_event_id": row.career_event_id,
        "title": row.event_title,
        "profession": row.event_profession,
        "environments": from_json(row.event_environments, []),
        "level": row.event_level,
        "format": row.event_format,
        "venue": from_json(row.event_venue),
        "starts_at": row.event_starts_at,
        "ends_at": row.event_ends_at,
        "cancelled": _true(row.event_cancelled),
        "cancellation_reason": row.event_cancellation_reason,
    }


def _feedback(row: FeedbackRow) -> dict[str, Any]:
    return {
        "feedback_id": row.feedback_id,
        "booking_id": row.booking_id,
        "career_event_id": row.career_event_id,
        "task_completion": row.task_completion,
        "interest_shown": row.interest_shown,
        "skills_shown": from_json(row.skills_shown, []),
        "suggested_environments": from_json(row.suggested_environments, []),
        "sealed_comment": row.sealed_comment,
        "given_at": row.given_at,
    }


def _recommendation(row: RecommendationRow) -> dict[str, Any]:
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
        "environment_scores": from_json(row.environment_scores),
        "profile_classes": from_json(row.profile_classes),
        "routes": from_json(row.routes),
    }


def _guardian(row: GuardianRow) -> dict[str, Any]:
    return {
        "guardian_id": row.guardian_id,
        "relationship": row.relationship,
        "linked_at": row.linked_at,
    }


def _history_entry(row: HistoryRow) -> dict[str, Any]:
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
