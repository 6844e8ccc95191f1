"""The participant's portfolio document: every section of the portfolio that is the participant's
own (stages shown, bookings with their career events, feedback, recommendations, guardians,
history), rendered by the projection from its tables into one JSON text per participant
(`portfolio_documents`), so a read is one row.

Rendered again, from the tables, whenever the participant's portfolio changes (`_Apply.touched`,
which every event of theirs and every change of a career event they booked goes through): the
document is a function of the rows, so it is as deterministic as they are, the same on SQLite and
PostgreSQL, and rebuilt with them. What the document leaves out is read beside it, on the same
read: reference data many portfolios share (school, region, the season's stages, testing windows:
a school's rename must not rewrite thousands of documents) and the sealed ФИО (its column on the
participant's row, decrypted per request). A mentor's comment is held only as its sealed envelope,
as in `feedback`; erasure deletes it there and the document is rendered again without it.
"""

import json
from typing import Any, Final

from bilet.projections import ReadModelTx
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


def _canonical(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _json(text: str | None, default: Any = None) -> Any:
    return default if text is None else json.loads(text)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _t(expression: str) -> str:
    return f"CAST({expression} AS TEXT)"


_WIDTH: Final = 16


def _branch(section: str, columns: list[str], rest: str) -> str:
    """One section's rows, as text, padded to the common width (a UNION needs one shape)."""
    padded = [_t(c) for c in columns] + [_t("NULL")] * (_WIDTH - len(columns))
    return f"SELECT '{section}', {', '.join(padded)} {rest}"


# Every section of one participant in ONE statement (one round trip on PostgreSQL, where the
# projection's other statements are pipelined): rows of several tables, tagged, as text; each
# section is ordered here, in Python, by a total order of its own.
_SECTIONS: Final = " UNION ALL ".join(
    (
        _branch(
            "a",
            [
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
            ],
            "FROM {stage_attempts} WHERE participant_id = $1",
        ),
        _branch(
            "b",
            [
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
            ],
            "FROM {bookings} b LEFT JOIN {career_events} c "
            "ON c.career_event_id = b.career_event_id WHERE b.participant_id = $1",
        ),
        _branch(
            "f",
            [
                "feedback_id",
                "booking_id",
                "career_event_id",
                "engagement",
                "task_result",
                "observed_skills",
                "suggested_environments",
                "comment",
                "given_at",
            ],
            "FROM {feedback} WHERE participant_id = $1",
        ),
        _branch(
            "r",
            [
                "season",
                "recommendation_set_id",
                "rules",
                "basis",
                "leading_environments",
                "study_plan",
                "opportunities",
                "supersedes",
                "issued_at",
            ],
            "FROM {recommendations} WHERE participant_id = $1",
        ),
        _branch(
            "g",
            ["guardian_id", "relationship", "linked_at"],
            "FROM {guardians} WHERE participant_id = $1",
        ),
        _branch(
            "h",
            ["source", "position", "stream_id", "stream_version", "event_type", "recorded_at"],
            "FROM (SELECT * FROM {history} WHERE participant_id = $1 "
            "ORDER BY recorded_at, source, position LIMIT $2) h",
        ),
    )
)


def _true(text: str | None) -> bool:
    return text in ("1", "true", "t")  # SQLite's 1, PostgreSQL's true, as text


def _key(*values: Any) -> tuple[Any, ...]:
    """A total order with NULLs first, the same on both databases."""
    return tuple((v is not None, v or "") for v in values)


async def render(tx: ReadModelTx, participant_id: str) -> str:
    """The participant's sections, from the tables, as canonical JSON (byte-equal on both
    databases: every value is read as text and typed here, JSON columns re-encoded)."""
    rows: dict[str, list[Any]] = {tag: [] for tag in "abfrgh"}
    for row in await tx.fetch(_SECTIONS, participant_id, HISTORY_LIMIT):
        rows[row[0]].append(row[1:])
    attempts = [
        StageAttempt(
            attempt_id=r[0],
            season=int(r[1]),
            stage=r[2],
            status=r[3],
            instruments=_json(r[4], []),
            answer_sheet=_json(r[5]),
            result=_json(r[6]),
            started_position=_int(r[7]),
            completed_position=_int(r[8]),
            started_at=r[9],
            completed_at=r[10],
        )
        for r in sorted(rows["a"], key=lambda r: r[0])
    ]
    bookings = [
        {
            "booking_id": r[0],
            "career_event_id": r[1],
            "season": _int(r[2]),
            "status": r[3],
            "cancellation_reason": r[4],
            "booked_at": r[5],
            "attended_at": r[6],
            "cancelled_at": r[7],
            "career_event": None
            if r[8] is None
            else {
                "career_event_id": r[1],
                "title": r[8],
                "profession": r[9],
                "environments": _json(r[10], []),
                "venue": _json(r[11]),
                "starts_at": r[12],
                "ends_at": r[13],
                "cancelled": _true(r[14]),
                "cancellation_reason": r[15],
            },
        }
        for r in sorted(rows["b"], key=lambda r: _key(r[5], r[0]))
    ]
    feedback = [
        {
            "feedback_id": r[0],
            "booking_id": r[1],
            "career_event_id": r[2],
            "engagement": int(r[3]),
            "task_result": int(r[4]),
            "observed_skills": _json(r[5], []),
            "suggested_environments": _json(r[6], []),
            "sealed_comment": r[7],
            "given_at": r[8],
        }
        for r in sorted(rows["f"], key=lambda r: (r[8], r[0]))
    ]
    recommendations = [
        {
            "season": int(r[0]),
            "recommendation_set_id": r[1],
            "rules": _json(r[2]),
            "basis": _json(r[3]),
            "leading_environments": _json(r[4], []),
            "study_plan": _json(r[5], []),
            "opportunities": _json(r[6], []),
            "supersedes": r[7],
            "issued_at": r[8],
        }
        for r in sorted(rows["r"], key=lambda r: int(r[0]))
    ]
    guardians = [
        {"guardian_id": r[0], "relationship": r[1], "linked_at": r[2]}
        for r in sorted(rows["g"], key=lambda r: r[0])
    ]
    history = [
        {
            "source": r[0],
            "position": int(r[1]),
            "stream_id": r[2],
            "stream_version": int(r[3]),
            "event_type": r[4],
            "recorded_at": r[5],
        }
        for r in sorted(rows["h"], key=lambda r: (r[5], r[0], int(r[1])))
    ]
    return _canonical(
        {
            # Only the attempt shown of each stage (the choice depends on store positions, not
            # on delivery order).
            "stages": [_attempt(a) for a in stages_shown(attempts)],
            "bookings": bookings,
            "feedback": feedback,
            "recommendations": recommendations,
            "guardians": guardians,
            "history": history,
        }
    )


def _attempt(a: StageAttempt) -> dict[str, Any]:
    return {
        "attempt_id": a.attempt_id,
        "season": a.season,
        "stage": a.stage,
        "status": a.status,
        "instruments": a.instruments,
        "answer_sheet": a.answer_sheet,
        "result": a.result,
        "started_position": a.started_position,
        "completed_position": a.completed_position,
        "started_at": a.started_at,
        "completed_at": a.completed_at,
    }


class Sections:
    """A document read back: the sections as the portfolio record holds them."""

    __slots__ = ("bookings", "feedback", "guardians", "history", "recommendations", "stages")

    def __init__(self, text: str | None) -> None:
        doc: dict[str, Any] = {} if text is None else json.loads(text)
        self.stages = [StageAttempt(**a) for a in doc.get("stages", ())]
        self.bookings = [
            BookingRecord(
                **{
                    **b,
                    "career_event": None
                    if b["career_event"] is None
                    else CareerEventInfo(**b["career_event"]),
                }
            )
            for b in doc.get("bookings", ())
        ]
        self.feedback = [FeedbackRecord(**f) for f in doc.get("feedback", ())]
        self.recommendations = [RecommendationRecord(**r) for r in doc.get("recommendations", ())]
        self.guardians = [GuardianRecord(**g) for g in doc.get("guardians", ())]
        self.history = [HistoryEntry(**h) for h in doc.get("history", ())]
