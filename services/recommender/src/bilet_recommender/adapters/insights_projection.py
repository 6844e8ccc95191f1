"""The projection behind the coordinators' insights (`adapters/insights.py`): per participant
and ISO week, what they did (registered, had a consent verified, completed a stage, attended a
career event, were issued recommendations led by an environment), and where they study (school →
region and municipality), so the counts per municipality and week are a SQL `GROUP BY` at read
time. It also keeps each career event's environments, which an explanation of a set needs to
show what an attendance contributed.

Fed by the same feed as the issuing projection (identity's, consent's, diagnostics', events' and
the recommender's own published events), in-process (embedded) or from Kafka (`python -m
bilet.projections run --projection bilet_recommender.adapters.insights_projection:INSIGHTS`).
No readable personal data: participant ids, school ids, the schools' public municipality names,
weeks and closed-list codes. The week is that of the event's recording (`recorded_at`), the same
on every feed.

In production the faust worker counts the four marks that come from Kafka (registered, consent
verified, stage completed, career event attended) in tumbling weekly windows
(`worker_insights.py`, ADR 0048) and writes each window's result here with `mark`; its kernel
feed then runs `PLACES_AND_SETS`, this projection without those marks (the same name and tables).

Determinism: sources interleave differently on every feed, so a mark never depends on another
stream's row: the municipality is joined at read time, and an erasure (which deletes the
participant's marks) also remembers the participant as erased, so a mark applied after it is
never counted.
"""

from datetime import datetime
from typing import Final

from bilet.contracts import CATALOGUE, decode
from bilet.contracts.catalogue.consent import ConsentVerified, ParticipantErased
from bilet.contracts.catalogue.diagnostics import StageCompleted
from bilet.contracts.catalogue.events import (
    CareerEventAttended,
    CareerEventPublished,
    CareerEventRevised,
)
from bilet.contracts.catalogue.identity import (
    ParticipantEnrolledInSeason,
    ParticipantMovedToSchool,
    ParticipantRegistered,
    SchoolRegistered,
)
from bilet.eventstore import RecordedEvent
from bilet.projections import ReadModelTx, Table
from bilet_recommender.application.issued_head import ISSUED, issued_head

PROJECTION: Final = "recommender_insights"

# The metrics a mark counts for (one mark per participant, metric and week).
REGISTERED: Final = "registered"
CONSENT_VERIFIED: Final = "consent_verified"
STAGE_COMPLETED: Final = "stage_completed"
CAREER_EVENT_ATTENDED: Final = "career_event_attended"
LEADING_ENVIRONMENT: Final = "leading_environment"  # detail: the set's first environment

HANDLED: Final = frozenset(
    {
        "SchoolRegistered",
        "ParticipantRegistered",
        "ParticipantEnrolledInSeason",
        "ParticipantMovedToSchool",
        "ConsentVerified",
        "ParticipantErased",
        "StageCompleted",
        "CareerEventAttended",
        "CareerEventPublished",
        "CareerEventRevised",
        "RecommendationsIssued",
    }
)

TABLES: Final = (
    Table(
        "rec_ins_schools",
        "school_id TEXT PRIMARY KEY, region_id TEXT NOT NULL, municipality TEXT NOT NULL",
    ),
    Table(
        "rec_ins_pupils",
        "participant_id TEXT PRIMARY KEY, school_id TEXT, season BIGINT, erased BOOLEAN NOT NULL",
        indexes=("school_id",),
    ),
    Table(
        "rec_ins_marks",
        "metric TEXT NOT NULL, week TEXT NOT NULL, participant_id TEXT NOT NULL, "
        "detail TEXT NOT NULL, PRIMARY KEY (metric, week, participant_id)",
        indexes=("participant_id",),
    ),
    Table(
        "rec_career_event_environments",
        "career_event_id TEXT PRIMARY KEY, environments TEXT NOT NULL",
    ),
)

# A later season's placement is the current one; the erased stay erased.
_PLACE: Final = (
    "INSERT INTO {rec_ins_pupils} (participant_id, school_id, season, erased) "
    "VALUES ($1, $2, $3, FALSE) ON CONFLICT (participant_id) DO UPDATE SET "
    "school_id = excluded.school_id, season = excluded.season "
    "WHERE {rec_ins_pupils}.season IS NULL OR {rec_ins_pupils}.season <= excluded.season"
)
# The marks the faust worker's windows write in production (worker_insights.py).
SOURCE_MARKS: Final = {
    "ParticipantRegistered": REGISTERED,
    "ConsentVerified": CONSENT_VERIFIED,
    "StageCompleted": STAGE_COMPLETED,
    "CareerEventAttended": CAREER_EVENT_ATTENDED,
}

# A participant erased meanwhile is not marked again (their id would linger).
_MARK: Final = (
    "INSERT INTO {rec_ins_marks} (metric, week, participant_id, detail) "
    "SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM {rec_ins_pupils} "
    "WHERE participant_id = $3 AND erased) "
    "ON CONFLICT (metric, week, participant_id) DO UPDATE SET detail = excluded.detail"
)
_ENVIRONMENTS: Final = (
    "INSERT INTO {rec_career_event_environments} (career_event_id, environments) "
    "VALUES ($1, $2) ON CONFLICT (career_event_id) DO UPDATE SET "
    "environments = excluded.environments"
)


def iso_week(moment: datetime) -> str:
    """`2026-W49`: the ISO year and week of `moment` (in UTC, as the store records it)."""
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


async def mark(tx: ReadModelTx, metric: str, week: str, participant_id: str, detail: str) -> None:
    """Mark the participant for `metric` in `week` (idempotent; never for the erased)."""
    await tx.execute(_MARK, metric, week, participant_id, detail)


async def erase(tx: ReadModelTx, participant_id: str) -> None:
    """Forget the participant's marks, and keep later ones from being written."""
    await tx.execute(
        "INSERT INTO {rec_ins_pupils} (participant_id, erased) VALUES ($1, TRUE) "
        "ON CONFLICT (participant_id) DO UPDATE SET erased = TRUE",
        participant_id,
    )
    await tx.execute("DELETE FROM {rec_ins_marks} WHERE participant_id = $1", participant_id)


class InsightsProjection:
    """`source_marks`: False when the faust worker's windows write the four Kafka-sourced marks
    (production); this projection then keeps the places, erasures and the sets' marks."""

    name = PROJECTION
    tables = TABLES
    # What `apply` reads of the recorded event besides the runtime's stream id, version and
    # position (ADR 0067): the Kafka feed decodes nothing else (not the event id).
    event_fields = frozenset({"type", "data", "metadata", "recorded_at"})

    def __init__(self, *, source_marks: bool = True) -> None:
        self.source_marks = source_marks

    async def apply(self, tx: ReadModelTx, event: RecordedEvent) -> None:
        if event.type not in HANDLED or not CATALOGUE.is_published(event.type):
            return
        if event.type == ISSUED:
            # The set's leading environment, not the whole set decoded (ADR 0109).
            issued = issued_head(event)
            when = iso_week(event.recorded_at)
            pid = str(issued.participant_id)
            await mark(tx, LEADING_ENVIRONMENT, when, pid, issued.leading_environments[0].value)
            return
        week = iso_week(event.recorded_at) if self.source_marks else None
        match decode(event):
            case SchoolRegistered() as school:
                await tx.execute(
                    "INSERT INTO {rec_ins_schools} (school_id, region_id, municipality) "
                    "VALUES ($1, $2, $3) ON CONFLICT (school_id) DO UPDATE SET "
                    "region_id = excluded.region_id, municipality = excluded.municipality",
                    str(school.school_id),
                    str(school.region_id),
                    school.municipality,
                )
            case ParticipantRegistered() as registered:
                pid = str(registered.participant_id)
                await tx.execute(_PLACE, pid, str(registered.school_id), registered.season)
                if week is not None:
                    await mark(tx, REGISTERED, week, pid, "")
            case ParticipantEnrolledInSeason() as enrolled:
                pid = str(enrolled.participant_id)
                await tx.execute(_PLACE, pid, str(enrolled.school_id), enrolled.season)
            case ParticipantMovedToSchool() as moved:
                await tx.execute(
                    "UPDATE {rec_ins_pupils} SET school_id = $2 WHERE participant_id = $1",
                    str(moved.participant_id),
                    str(moved.to_school_id),
                )
            case ConsentVerified() | StageCompleted() | CareerEventAttended() as done:
                if week is not None:
                    metric = SOURCE_MARKS[event.type]
                    await mark(tx, metric, week, str(done.participant_id), "")
            case CareerEventPublished() | CareerEventRevised() as stated:
                environments = ",".join(e.value for e in stated.environments)
                await tx.execute(_ENVIRONMENTS, str(stated.career_event_id), environments)
            case ParticipantErased() as erased:
                await erase(tx, str(erased.participant_id))


INSIGHTS: Final = InsightsProjection()
# The faust worker's kernel feed (production): the marks from Kafka come from its windows.
PLACES_AND_SETS: Final = InsightsProjection(source_marks=False)
