"""The portfolio's tables: their names and definitions, created when missing and never altered
(a layout that changes them is rebuilt: adapters/layout.py)."""

from typing import Final

from bilet.projections import Table

PARTICIPANTS: Final = "participants"
ATTEMPTS: Final = "stage_attempts"
CAREER_EVENTS: Final = "career_events"
BOOKINGS: Final = "bookings"
FEEDBACK: Final = "feedback"
SESSIONS: Final = "career_event_sessions"
RECOMMENDATIONS: Final = "recommendations"
# What a set of RecommendationsIssued v2 adds (scores, profile classes, routes; docs/adr/0048).
OUTLOOKS: Final = "recommendation_outlooks"
GUARDIANS: Final = "guardians"
HISTORY: Final = "history"
SCHOOLS: Final = "schools"
REGIONS: Final = "regions"
SEASONS: Final = "seasons"
WINDOWS: Final = "diagnostics_windows"
INSTRUMENTS: Final = "instruments"
CONSENTS: Final = "consents"
REFERENCE: Final = "reference_data"
DOCUMENTS: Final = "portfolio_documents"
# The one row of `reference_data`: how many reference events (season rules, regions, testing
# windows, schools) were applied — a part of every portfolio's ETag.
REFERENCE_ROW: Final = "reference"

TABLES: Final = (
    Table(
        PARTICIPANTS,
        "participant_id TEXT PRIMARY KEY, school_id TEXT, region_id TEXT, season INTEGER, "
        "grade INTEGER, full_name TEXT, "
        "consent_state TEXT NOT NULL, consent_id TEXT, consent_purposes TEXT, "
        "consent_valid_until TEXT, consent_pending_id TEXT, consent_reasons TEXT, "
        "consent_erase_by TEXT, "
        "erased BOOLEAN NOT NULL, erased_at TEXT, erasure_reason TEXT, "
        "stages_completed BIGINT NOT NULL, bookings_open BIGINT NOT NULL, "
        "attended BIGINT NOT NULL, recommendations BIGINT NOT NULL, "
        "version BIGINT NOT NULL, updated_at TEXT NOT NULL",
        indexes=("school_id, participant_id", "school_id, grade, participant_id", "region_id"),
    ),
    Table(
        ATTEMPTS,
        "attempt_id TEXT PRIMARY KEY, participant_id TEXT NOT NULL, season INTEGER NOT NULL, "
        "stage TEXT NOT NULL, status TEXT NOT NULL, instruments TEXT NOT NULL, "
        "answer_sheet TEXT, result TEXT, started_position BIGINT, completed_position BIGINT, "
        "started_at TEXT, completed_at TEXT",
        indexes=("participant_id",),
    ),
    Table(
        CAREER_EVENTS,
        "career_event_id TEXT PRIMARY KEY, region_id TEXT NOT NULL, season INTEGER NOT NULL, "
        "title TEXT NOT NULL, profession TEXT NOT NULL, environments TEXT NOT NULL, "
        "level TEXT NOT NULL, format TEXT NOT NULL, venue TEXT, "
        "starts_at TEXT NOT NULL, ends_at TEXT NOT NULL, "
        "cancelled BOOLEAN NOT NULL, cancellation_reason TEXT",
    ),
    Table(
        SESSIONS,
        "session_id TEXT PRIMARY KEY, career_event_id TEXT NOT NULL, "
        "starts_at TEXT NOT NULL, ends_at TEXT NOT NULL",
        indexes=("career_event_id",),
    ),
    Table(
        BOOKINGS,
        "booking_id TEXT PRIMARY KEY, participant_id TEXT NOT NULL, "
        "career_event_id TEXT NOT NULL, session_id TEXT, season INTEGER, status TEXT NOT NULL, "
        "waitlist_position INTEGER, route TEXT, cancellation_reason TEXT, booked_at TEXT, "
        "attended_at TEXT, cancelled_at TEXT",
        indexes=("participant_id", "career_event_id"),
    ),
    Table(
        FEEDBACK,
        "feedback_id TEXT PRIMARY KEY, participant_id TEXT NOT NULL, booking_id TEXT NOT NULL, "
        "career_event_id TEXT NOT NULL, mentor_id TEXT NOT NULL, task_completion TEXT NOT NULL, "
        "interest_shown TEXT NOT NULL, skills_shown TEXT NOT NULL, "
        "suggested_environments TEXT NOT NULL, comment TEXT, given_at TEXT NOT NULL",
        indexes=("participant_id",),
    ),
    Table(
        RECOMMENDATIONS,
        "participant_id TEXT NOT NULL, season INTEGER NOT NULL, "
        "recommendation_set_id TEXT NOT NULL, rules TEXT NOT NULL, basis TEXT NOT NULL, "
        "leading_environments TEXT NOT NULL, study_plan TEXT NOT NULL, "
        "opportunities TEXT NOT NULL, supersedes TEXT, issued_at TEXT NOT NULL, "
        "PRIMARY KEY (participant_id, season)",
    ),
    Table(
        OUTLOOKS,
        "participant_id TEXT NOT NULL, season INTEGER NOT NULL, "
        "environment_scores TEXT, profile_classes TEXT, routes TEXT, "
        "PRIMARY KEY (participant_id, season)",
    ),
    Table(
        GUARDIANS,
        "participant_id TEXT NOT NULL, guardian_id TEXT NOT NULL, relationship TEXT NOT NULL, "
        "consent_id TEXT NOT NULL, linked_at TEXT NOT NULL, "
        "PRIMARY KEY (participant_id, guardian_id)",
        indexes=("guardian_id",),
    ),
    Table(
        HISTORY,
        "participant_id TEXT NOT NULL, source TEXT NOT NULL, position BIGINT NOT NULL, "
        "stream_id TEXT NOT NULL, stream_version BIGINT NOT NULL, event_type TEXT NOT NULL, "
        "recorded_at TEXT NOT NULL, PRIMARY KEY (participant_id, source, position)",
    ),
    Table(
        SCHOOLS,
        "school_id TEXT PRIMARY KEY, region_id TEXT NOT NULL, name TEXT NOT NULL, "
        "municipality TEXT NOT NULL",
    ),
    Table(
        REGIONS,
        "region_id TEXT PRIMARY KEY, region_code TEXT NOT NULL, name TEXT NOT NULL, "
        "time_zone TEXT NOT NULL, coordinator TEXT NOT NULL",
    ),
    Table(
        SEASONS,
        "season INTEGER PRIMARY KEY, rules_version INTEGER NOT NULL, "
        "max_career_events INTEGER NOT NULL, stages TEXT NOT NULL, stage_count INTEGER NOT NULL, "
        "starts_on TEXT NOT NULL, "
        "ends_on TEXT NOT NULL",
    ),
    Table(
        WINDOWS,
        "region_id TEXT NOT NULL, season INTEGER NOT NULL, stage TEXT NOT NULL, "
        "opens_on TEXT NOT NULL, closes_on TEXT NOT NULL, PRIMARY KEY (region_id, season, stage)",
    ),
    Table(
        INSTRUMENTS,
        "instrument TEXT NOT NULL, version TEXT NOT NULL, stage TEXT NOT NULL, "
        "item_count INTEGER NOT NULL, scales TEXT NOT NULL, PRIMARY KEY (instrument, version)",
    ),
    Table(
        CONSENTS,
        "participant_id TEXT NOT NULL, consent_id TEXT NOT NULL, seq BIGINT NOT NULL, "
        "status TEXT NOT NULL, purposes TEXT NOT NULL, valid_until TEXT, reasons TEXT NOT NULL, "
        "PRIMARY KEY (participant_id, consent_id)",
    ),
    Table(REFERENCE, "name TEXT PRIMARY KEY, version BIGINT NOT NULL"),
    # The participant's own sections, rendered from the tables above (adapters/document.py):
    # a portfolio is read as this row, the participant's and the reference data it names.
    Table(
        DOCUMENTS,
        "participant_id TEXT PRIMARY KEY, version BIGINT NOT NULL, sections TEXT NOT NULL",
    ),
)
