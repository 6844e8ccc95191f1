"""The rows a participant's portfolio document is rendered from (adapters/document.py): every
section read in one statement, as named rows, each section in a total order of its own that does
not depend on the database or on the order the rows were written in."""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Generic, NamedTuple, TypeVar

from bilet.projections import ReadModelTx, Row

# The history shown: the participant's first events, the same on every rebuild.
HISTORY_LIMIT: Final = 500

# The rows of each section as the statement below reads them: every value as text (typed here,
# so both databases give the same values), NULL as None.


class AttemptRow(NamedTuple):
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


class BookingRow(NamedTuple):
    """A booking, the career event and the session it is on (NULLs while that has not
    arrived)."""

    booking_id: str
    career_event_id: str
    session_id: str | None
    season: str | None
    status: str
    waitlist_position: str | None
    route: str | None
    cancellation_reason: str | None
    booked_at: str | None
    attended_at: str | None
    cancelled_at: str | None
    event_title: str | None
    event_profession: str | None
    event_environments: str | None
    event_level: str | None
    event_format: str | None
    event_venue: str | None
    event_starts_at: str | None
    event_ends_at: str | None
    event_cancelled: str | None
    event_cancellation_reason: str | None
    session_starts_at: str | None
    session_ends_at: str | None


class FeedbackRow(NamedTuple):
    feedback_id: str
    booking_id: str
    career_event_id: str
    task_completion: str
    interest_shown: str
    skills_shown: str
    suggested_environments: str
    sealed_comment: str | None
    given_at: str


class RecommendationRow(NamedTuple):
    season: str
    recommendation_set_id: str
    rules: str
    basis: str
    leading_environments: str
    study_plan: str
    opportunities: str
    supersedes: str | None
    issued_at: str
    environment_scores: str | None
    profile_classes: str | None
    routes: str | None


class GuardianRow(NamedTuple):
    guardian_id: str
    relationship: str
    linked_at: str


class HistoryRow(NamedTuple):
    source: str
    position: str
    stream_id: str
    stream_version: str
    event_type: str
    recorded_at: str


SectionRow = TypeVar("SectionRow")
# A UNION needs one shape: every branch is padded to the widest section's number of columns.
_WIDTH: Final = len(BookingRow._fields)


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
    AttemptRow._make,
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
    BookingRow._make,
    (
        "b.booking_id",
        "b.career_event_id",
        "b.session_id",
        "b.season",
        "b.status",
        "b.waitlist_position",
        "b.route",
        "b.cancellation_reason",
        "b.booked_at",
        "b.attended_at",
        "b.cancelled_at",
        "c.title",
        "c.profession",
        "c.environments",
        "c.level",
        "c.format",
        "c.venue",
        "c.starts_at",
        "c.ends_at",
        "c.cancelled",
        "c.cancellation_reason",
        "s.starts_at",
        "s.ends_at",
    ),
    "FROM {bookings} b LEFT JOIN {career_events} c "
    "ON c.career_event_id = b.career_event_id "
    "LEFT JOIN {career_event_sessions} s ON s.session_id = b.session_id "
    "WHERE b.participant_id = $1",
)
_FEEDBACK: Final = _Section(
    "feedback",
    FeedbackRow._make,
    (
        "feedback_id",
        "booking_id",
        "career_event_id",
        "task_completion",
        "interest_shown",
        "skills_shown",
        "suggested_environments",
        "comment",
        "given_at",
    ),
    "FROM {feedback} WHERE participant_id = $1",
)
_RECOMMENDATIONS: Final = _Section(
    "recommendations",
    RecommendationRow._make,
    (
        "r.season",
        "r.recommendation_set_id",
        "r.rules",
        "r.basis",
        "r.leading_environments",
        "r.study_plan",
        "r.opportunities",
        "r.supersedes",
        "r.issued_at",
        "o.environment_scores",
        "o.profile_classes",
        "o.routes",
    ),
    "FROM {recommendations} r LEFT JOIN {recommendation_outlooks} o "
    "ON o.participant_id = r.participant_id AND o.season = r.season "
    "WHERE r.participant_id = $1",
)
_GUARDIANS: Final = _Section(
    "guardians",
    GuardianRow._make,
    ("guardian_id", "relationship", "linked_at"),
    "FROM {guardians} WHERE participant_id = $1",
)
_HISTORY: Final = _Section(
    "history",
    HistoryRow._make,
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


def _nulls_first(*values: str | None) -> tuple[tuple[bool, str], ...]:
    """A total order with NULLs first, the same on both databases."""
    return tuple((value is not None, value or "") for value in values)


class SectionRows(NamedTuple):
    """A participant's rows of every section, each in its order."""

    attempts: list[AttemptRow]
    bookings: list[BookingRow]
    feedback: list[FeedbackRow]
    recommendations: list[RecommendationRow]
    guardians: list[GuardianRow]
    history: list[HistoryRow]


async def read_section_rows(tx: ReadModelTx, participant_id: str) -> SectionRows:
    tagged: dict[str, list[Row]] = {section.name: [] for section in _SECTIONS}
    for row in await tx.fetch(_READ_SECTIONS, participant_id, HISTORY_LIMIT):
        tagged[row[0]].append(row)
    return SectionRows(
        attempts=sorted(_ATTEMPTS.rows(tagged), key=lambda row: row.attempt_id),
        bookings=sorted(
            _BOOKINGS.rows(tagged), key=lambda row: _nulls_first(row.booked_at, row.booking_id)
        ),
        feedback=sorted(_FEEDBACK.rows(tagged), key=lambda row: (row.given_at, row.feedback_id)),
        recommendations=sorted(_RECOMMENDATIONS.rows(tagged), key=lambda row: int(row.season)),
        guardians=sorted(_GUARDIANS.rows(tagged), key=lambda row: row.guardian_id),
        history=sorted(
            _HISTORY.rows(tagged),
            key=lambda row: (row.recorded_at, row.source, int(row.position)),
        ),
    )
