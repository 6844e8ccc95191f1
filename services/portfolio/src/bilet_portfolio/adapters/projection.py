"""The portfolio projection: every published event of the catalogue, folded into SQL tables that
answer the portfolio API in one indexed read: the participant's row, their document (the
sections that are theirs alone, rendered here whenever they change: adapters/document.py) and the
reference data it names.

One `bilet.projections` projection (`portfolio`), run by the worker from Kafka or in-process from
the stores (`make run`). Its SQL is the portable subset (`bilet.projections.port`), so it builds
the same rows on SQLite and PostgreSQL.

Determinism. Events of one stream arrive in order (the runtime dedupes per stream version and
stops at gaps), but streams — and sources — interleave differently on every feed. Every change
here is therefore either confined to one stream (a participant's consent history, one career
event, one attempt), commutative (counts recomputed from rows, `version + 1`, the latest time),
or decided by a total order that does not depend on arrival (two attempts of one stage: the one
with the higher diagnostics store position wins, chosen when read).

Personal data. Only sealed envelopes are kept (the ФИО of the participant, a mentor's comment),
never plaintext; the API opens them for entitled roles. `ParticipantErased` deletes them and marks
the participant erased; a sealed field that arrives after the erasure (another source, later) is
not stored. Pseudonymous facts (grades, results, attendance) stay.
"""

import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any, Final

from bilet.contracts import CATALOGUE, decode
from bilet.contracts.catalogue import consent, diagnostics, events, identity, recommender
from bilet.contracts.sealed import SealedValue
from bilet.eventstore import RecordedEvent
from bilet.projections import ReadModelTx, Table
from bilet_portfolio.adapters import document
from bilet_portfolio.domain.consent import ConsentRecord, ConsentStatus, summarise
from bilet_portfolio.settings import PROJECTION_NAME

PARTICIPANTS: Final = "participants"
ATTEMPTS: Final = "stage_attempts"
CAREER_EVENTS: Final = "career_events"
BOOKINGS: Final = "bookings"
FEEDBACK: Final = "feedback"
RECOMMENDATIONS: Final = "recommendations"
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
        "venue TEXT NOT NULL, starts_at TEXT NOT NULL, ends_at TEXT NOT NULL, "
        "cancelled BOOLEAN NOT NULL, cancellation_reason TEXT",
    ),
    Table(
        BOOKINGS,
        "booking_id TEXT PRIMARY KEY, participant_id TEXT NOT NULL, "
        "career_event_id TEXT NOT NULL, season INTEGER, status TEXT NOT NULL, "
        "cancellation_reason TEXT, booked_at TEXT, attended_at TEXT, cancelled_at TEXT",
        indexes=("participant_id", "career_event_id"),
    ),
    Table(
        FEEDBACK,
        "feedback_id TEXT PRIMARY KEY, participant_id TEXT NOT NULL, booking_id TEXT NOT NULL, "
        "career_event_id TEXT NOT NULL, mentor_id TEXT NOT NULL, engagement INTEGER NOT NULL, "
        "task_result INTEGER NOT NULL, observed_skills TEXT NOT NULL, "
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


def to_json(value: Any) -> str:
    """One canonical JSON text per value, so both databases hold byte-equal rows."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def timestamp(moment: datetime) -> str:
    """Fixed-width UTC text: sorts as time does, and max() of two is the later one."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _sealed(value: object) -> str | None:
    """A sealed field as stored: its envelope, or nothing once erased (or when absent)."""
    return to_json(value.envelope()) if isinstance(value, SealedValue) else None


def _dump(model: Any) -> Any:
    return None if model is None else model.model_dump(mode="json")


# Everything a participant's row starts with, whatever event of theirs arrives first.
_NEW_PARTICIPANT: Final = (
    "INSERT INTO {participants} (participant_id, consent_state, erased, stages_completed, "
    "bookings_open, attended, recommendations, version, updated_at) "
    "VALUES ($1, 'none', FALSE, 0, 0, 0, 0, 0, $2) ON CONFLICT (participant_id) DO NOTHING"
)
# Counts of the participant's current season, recomputed from the rows (so they never drift, in
# whatever order the rows came), the version — the number of distinct events in their history,
# the ETag — and the latest time kept. All of it is the same however often an event is applied.
_REFRESH: Final = (
    "UPDATE {participants} SET "
    "stages_completed = (SELECT COUNT(DISTINCT a.stage) FROM {stage_attempts} a "
    "WHERE a.participant_id = {participants}.participant_id "
    "AND a.season = {participants}.season AND a.status = 'completed'), "
    "bookings_open = (SELECT COUNT(*) FROM {bookings} b "
    "WHERE b.participant_id = {participants}.participant_id "
    "AND b.season = {participants}.season AND b.status = 'booked'), "
    "attended = (SELECT COUNT(*) FROM {bookings} b "
    "WHERE b.participant_id = {participants}.participant_id "
    "AND b.season = {participants}.season AND b.status = 'attended'), "
    "recommendations = (SELECT COUNT(*) FROM {recommendations} r "
    "WHERE r.participant_id = {participants}.participant_id "
    "AND r.season = {participants}.season), "
    "version = (SELECT COUNT(*) FROM {history} h "
    "WHERE h.participant_id = {participants}.participant_id), "
    "updated_at = CASE WHEN updated_at < $2 THEN $2 ELSE updated_at END "
    "WHERE participant_id = $1"
)
_HISTORY: Final = (
    "INSERT INTO {history} (participant_id, source, position, stream_id, stream_version, "
    "event_type, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
    "ON CONFLICT (participant_id, source, position) DO NOTHING"
)

# The participant's document, rendered again from the tables (with the version just counted).
_DOCUMENT: Final = (
    "INSERT INTO {portfolio_documents} (participant_id, version, sections) "
    "SELECT participant_id, version, $2 FROM {participants} WHERE participant_id = $1 "
    "ON CONFLICT (participant_id) DO UPDATE SET version = excluded.version, "
    "sections = excluded.sections"
)

Handler = Callable[["_Apply", Any], Awaitable[None]]


class _Apply:
    """One event being applied: the transaction, the envelope and what it touched."""

    def __init__(self, tx: ReadModelTx, recorded: RecordedEvent, source: str) -> None:
        self.tx = tx
        self.recorded = recorded
        self.source = source
        self.at = timestamp(recorded.recorded_at)

    async def participant(self, participant_id: object) -> bool:
        """Make sure the participant's row exists; whether they were erased."""
        pid = str(participant_id)
        await self.tx.execute(_NEW_PARTICIPANT, pid, self.at)
        erased = await self.tx.fetchval(
            "SELECT erased FROM {participants} WHERE participant_id = $1", pid
        )
        return bool(erased)

    async def touched(self, participant_id: object) -> None:
        """The participant's portfolio changed with this event: counts, version, history."""
        pid = str(participant_id)
        recorded = self.recorded
        await self.tx.execute(
            _HISTORY,
            pid,
            self.source,
            recorded.position,
            recorded.stream_id,
            recorded.version,
            recorded.type,
            self.at,
        )
        await self.tx.execute(_REFRESH, pid, self.at)
        await self.tx.execute(_DOCUMENT, pid, await document.render(self.tx, pid))

    async def reference_changed(self) -> None:
        """Reference data shown on portfolios changed (a school's name, a region's, a season's
        rules, a testing window): the count of such events, in every ETag, moves on. A count is
        the same whatever order the events came in."""
        await self.tx.execute(
            "INSERT INTO {reference_data} (name, version) VALUES ($1, 1) ON CONFLICT (name) "
            "DO UPDATE SET version = {reference_data}.version + 1",
            REFERENCE_ROW,
        )


# ---------------------------------------------------------------------- identity
async def _season_rules(a: _Apply, e: identity.SeasonRulesPublished) -> None:
    # The highest rules version of a season is in force (one stream per season: in order).
    await a.tx.execute(
        "INSERT INTO {seasons} (season, rules_version, max_career_events, stages, stage_count, "
        "starts_on, ends_on) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (season) DO UPDATE "
        "SET rules_version = excluded.rules_version, "
        "max_career_events = excluded.max_career_events, stages = excluded.stages, "
        "stage_count = excluded.stage_count, starts_on = excluded.starts_on, "
        "ends_on = excluded.ends_on WHERE {seasons}.rules_version <= excluded.rules_version",
        e.season,
        e.rules_version,
        e.max_career_events,
        to_json([stage.value for stage in e.diagnostics_stages]),
        len(e.diagnostics_stages),
        e.starts_on.isoformat(),
        e.ends_on.isoformat(),
    )
    await a.reference_changed()


async def _region_admitted(a: _Apply, e: identity.RegionAdmitted) -> None:
    await a.tx.execute(
        "INSERT INTO {regions} (region_id, region_code, name, time_zone, coordinator) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (region_id) DO UPDATE SET "
        "region_code = excluded.region_code, name = excluded.name, "
        "time_zone = excluded.time_zone, coordinator = excluded.coordinator",
        str(e.region_id),
        e.region_code,
        e.name,
        e.time_zone,
        e.coordinator,
    )
    await a.reference_changed()


async def _window(a: _Apply, e: identity.DiagnosticsWindowScheduled) -> None:
    await a.tx.executemany(
        "INSERT INTO {diagnostics_windows} (region_id, season, stage, opens_on, closes_on) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (region_id, season, stage) DO UPDATE SET "
        "opens_on = excluded.opens_on, closes_on = excluded.closes_on",
        [
            (
                str(e.region_id),
                e.season,
                stage.value,
                e.opens_on.isoformat(),
                e.closes_on.isoformat(),
            )
            for stage in e.stages
        ],
    )
    await a.reference_changed()


async def _school(a: _Apply, e: identity.SchoolRegistered) -> None:
    await a.tx.execute(
        "INSERT INTO {schools} (school_id, region_id, name, municipality) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (school_id) DO UPDATE SET "
        "region_id = excluded.region_id, name = excluded.name, "
        "municipality = excluded.municipality",
        str(e.school_id),
        str(e.region_id),
        e.name,
        e.municipality,
    )
    await a.reference_changed()


async def _registered(a: _Apply, e: identity.ParticipantRegistered) -> None:
    erased = await a.participant(e.participant_id)
    await a.tx.execute(
        "UPDATE {participants} SET school_id = $2, region_id = $3, season = $4, grade = $5, "
        "full_name = $6 WHERE participant_id = $1",
        str(e.participant_id),
        str(e.school_id),
        str(e.region_id),
        e.season,
        e.grade,
        None if erased else _sealed(e.full_name),
    )
    await a.touched(e.participant_id)


async def _corrected(a: _Apply, e: identity.ParticipantDetailsCorrected) -> None:
    erased = await a.participant(e.participant_id)
    pid = str(e.participant_id)
    if e.grade is not None:
        await a.tx.execute(
            "UPDATE {participants} SET grade = $2 WHERE participant_id = $1", pid, e.grade
        )
    if e.full_name is not None and not erased:
        await a.tx.execute(
            "UPDATE {participants} SET full_name = $2 WHERE participant_id = $1",
            pid,
            _sealed(e.full_name),
        )
    await a.touched(pid)


async def _moved(a: _Apply, e: identity.ParticipantMovedToSchool) -> None:
    await a.participant(e.participant_id)
    await a.tx.execute(
        "UPDATE {participants} SET school_id = $2, region_id = $3, grade = $4 "
        "WHERE participant_id = $1",
        str(e.participant_id),
        str(e.to_school_id),
        str(e.to_region_id),
        e.grade,
    )
    await a.touched(e.participant_id)


async def _enrolled(a: _Apply, e: identity.ParticipantEnrolledInSeason) -> None:
    await a.participant(e.participant_id)
    await a.tx.execute(
        "UPDATE {participants} SET season = $2, school_id = $3, region_id = $4, grade = $5 "
        "WHERE participant_id = $1",
        str(e.participant_id),
        e.season,
        str(e.school_id),
        str(e.region_id),
        e.grade,
    )
    await a.touched(e.participant_id)


# ---------------------------------------------------------------------- consent
# A participant's whole consent history is one stream, so these run in its order: each consent
# is kept as its events left it (`consents`, in stream order), and the participant's consent
# columns are summed up from them after every consent event, as the consent service labels them.
_NEW_CONSENT: Final = (
    "INSERT INTO {consents} (participant_id, consent_id, seq, status, purposes, valid_until, "
    "reasons) VALUES ($1, $2, $3, $4, $5, $6, '[]') ON CONFLICT (participant_id, consent_id) "
)


def _purposes(values: Sequence[Any]) -> str:
    return to_json(sorted(str(getattr(p, "value", p)) for p in values))


async def _consent_summary(a: _Apply, participant_id: str) -> None:
    """The participant's consent columns, from their consents and whether one was withdrawn."""
    rows = await a.tx.fetch(
        "SELECT consent_id, status, purposes, valid_until, reasons FROM {consents} "
        "WHERE participant_id = $1 ORDER BY seq, consent_id",
        participant_id,
    )
    erase_by = await a.tx.fetchval(
        "SELECT consent_erase_by FROM {participants} WHERE participant_id = $1", participant_id
    )
    summary = summarise(
        [
            ConsentRecord(
                consent_id=r[0],
                status=ConsentStatus(r[1]),
                purposes=tuple(json.loads(r[2])),
                valid_until=None if r[3] is None else date.fromisoformat(r[3]),
                rejection_reasons=tuple(json.loads(r[4])),
            )
            for r in rows
        ],
        withdrawn=erase_by is not None,
    )
    shown = summary.shown
    await a.tx.execute(
        "UPDATE {participants} SET consent_state = $2, consent_id = $3, consent_purposes = $4, "
        "consent_valid_until = $5, consent_reasons = $6, consent_pending_id = $7 "
        "WHERE participant_id = $1",
        participant_id,
        summary.state.value,
        None if shown is None else shown.consent_id,
        None if shown is None else to_json(list(shown.purposes)),
        None if shown is None or shown.valid_until is None else shown.valid_until.isoformat(),
        None
        if shown is None or not shown.rejection_reasons
        else to_json(list(shown.rejection_reasons)),
        summary.pending_id,
    )


async def _consent_submitted(a: _Apply, e: consent.ConsentSubmitted) -> None:
    await a.participant(e.participant_id)
    pid = str(e.participant_id)
    await a.tx.execute(
        _NEW_CONSENT + "DO NOTHING",
        pid,
        str(e.consent_id),
        a.recorded.version,
        ConsentStatus.PENDING.value,
        _purposes(e.purposes),
        e.valid_until.isoformat(),
    )
    await _consent_summary(a, pid)
    await a.touched(pid)


async def _consent_verified(a: _Apply, e: consent.ConsentVerified) -> None:
    await a.participant(e.participant_id)
    pid, cid = str(e.participant_id), str(e.consent_id)
    await a.tx.execute(
        _NEW_CONSENT + "DO UPDATE SET status = excluded.status, purposes = excluded.purposes, "
        "valid_until = excluded.valid_until",
        pid,
        cid,
        a.recorded.version,
        ConsentStatus.VERIFIED.value,
        _purposes(e.purposes),
        e.valid_until.isoformat(),
    )
    # It supersedes every earlier consent still pending or in force — not a later one pending.
    await a.tx.execute(
        "UPDATE {consents} SET status = 'superseded' WHERE participant_id = $1 "
        "AND status IN ('pending', 'verified') AND seq < (SELECT c.seq FROM {consents} c "
        "WHERE c.participant_id = $1 AND c.consent_id = $2)",
        pid,
        cid,
    )
    # The guardians of the consents it superseded are no longer proven by a consent in force;
    # its own guardian is linked again by the `GuardianLinked` that follows.
    await a.tx.execute(
        "DELETE FROM {guardians} WHERE participant_id = $1 AND consent_id <> $2", pid, cid
    )
    await _consent_summary(a, pid)
    await a.touched(pid)


async def _consent_rejected(a: _Apply, e: consent.ConsentRejected) -> None:
    await a.participant(e.participant_id)
    pid = str(e.participant_id)
    reasons = to_json(sorted(r.value for r in e.reasons))
    await a.tx.execute(
        "INSERT INTO {consents} (participant_id, consent_id, seq, status, purposes, "
        "valid_until, reasons) VALUES ($1, $2, $3, 'rejected', '[]', NULL, $4) "
        "ON CONFLICT (participant_id, consent_id) DO UPDATE SET status = excluded.status, "
        "reasons = excluded.reasons",
        pid,
        str(e.consent_id),
        a.recorded.version,
        reasons,
    )
    await _consent_summary(a, pid)
    await a.touched(pid)


async def _consent_withdrawn(a: _Apply, e: consent.ConsentWithdrawn) -> None:
    """A whole withdrawal closes the participant's portfolio, whichever consent it names (the one
    in force, or a newer one still pending): the guardian stopped the processing of the child's
    data. The earliest destruction deadline seen stands (the consent service may withdraw every
    consent of the participant, one event each)."""
    await a.participant(e.participant_id)
    pid = str(e.participant_id)
    await a.tx.execute(
        "INSERT INTO {consents} (participant_id, consent_id, seq, status, purposes, "
        "valid_until, reasons) VALUES ($1, $2, $3, 'withdrawn', '[]', NULL, '[]') "
        "ON CONFLICT (participant_id, consent_id) DO UPDATE SET status = excluded.status",
        pid,
        str(e.consent_id),
        a.recorded.version,
    )
    await a.tx.execute(
        "UPDATE {participants} SET consent_erase_by = CASE WHEN consent_erase_by IS NULL "
        "OR consent_erase_by > $2 THEN $2 ELSE consent_erase_by END WHERE participant_id = $1",
        pid,
        e.erase_by.isoformat(),
    )
    await a.tx.execute("DELETE FROM {guardians} WHERE participant_id = $1", pid)
    await _consent_summary(a, pid)
    await a.touched(pid)


async def _purposes_withdrawn(a: _Apply, e: Any) -> None:
    """`ConsentPurposesWithdrawn` (consent v2): the consent keeps `remaining` only; a portfolio
    whose purpose was withdrawn closes at once."""
    await a.participant(e.participant_id)
    pid = str(e.participant_id)
    await a.tx.execute(
        "UPDATE {consents} SET purposes = $3 WHERE participant_id = $1 AND consent_id = $2",
        pid,
        str(e.consent_id),
        _purposes(e.remaining),
    )
    await _consent_summary(a, pid)
    await a.touched(pid)


async def _guardian_linked(a: _Apply, e: consent.GuardianLinked) -> None:
    # Shown on the portfolio (who, and how related); it grants no access: guardians see a child
    # named in their token's `children` claim. The name and contact are not kept.
    await a.participant(e.participant_id)
    await a.tx.execute(
        "INSERT INTO {guardians} (participant_id, guardian_id, relationship, consent_id, "
        "linked_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (participant_id, guardian_id) "
        "DO UPDATE SET relationship = excluded.relationship, consent_id = excluded.consent_id, "
        "linked_at = excluded.linked_at",
        str(e.participant_id),
        str(e.guardian_id),
        e.relationship.value,
        str(e.consent_id),
        a.at,
    )
    await a.touched(e.participant_id)


async def _erased(a: _Apply, e: consent.ParticipantErased) -> None:
    await a.participant(e.participant_id)
    pid = str(e.participant_id)
    await a.tx.execute(
        "UPDATE {participants} SET full_name = NULL, erased = TRUE, erased_at = $2, "
        "erasure_reason = $3 WHERE participant_id = $1",
        pid,
        timestamp(e.erased_at),
        e.reason.value,
    )
    await a.tx.execute("UPDATE {feedback} SET comment = NULL WHERE participant_id = $1", pid)
    await a.tx.execute("DELETE FROM {guardians} WHERE participant_id = $1", pid)
    await a.touched(pid)


# ---------------------------------------------------------------------- diagnostics
async def _instrument(a: _Apply, e: diagnostics.InstrumentVersionPublished) -> None:
    await a.tx.execute(
        "INSERT INTO {instruments} (instrument, version, stage, item_count, scales) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (instrument, version) DO NOTHING",
        e.instrument.value,
        e.version,
        e.stage.value,
        e.item_count,
        to_json(list(e.scales)),
    )


def _instruments(refs: Sequence[Any]) -> str:
    return to_json([ref.model_dump(mode="json") for ref in refs])


async def _stage_started(a: _Apply, e: diagnostics.StageStarted) -> None:
    await a.participant(e.participant_id)
    await a.tx.execute(
        "INSERT INTO {stage_attempts} (attempt_id, participant_id, season, stage, status, "
        "instruments, started_position, started_at) "
        "VALUES ($1, $2, $3, $4, 'started', $5, $6, $7) ON CONFLICT (attempt_id) DO NOTHING",
        str(e.attempt_id),
        str(e.participant_id),
        e.season,
        e.stage.value,
        _instruments(e.instruments),
        a.recorded.position,
        a.at,
    )
    await a.touched(e.participant_id)


def _result(e: diagnostics.StageCompleted) -> tuple[Any, list[dict[str, Any]]]:
    """The stage's result and the instruments it names."""
    if e.interests is not None:
        refs = [r.instrument for r in (e.interests.klimov, e.interests.riasec) if r is not None]
        return _dump(e.interests), [ref.model_dump(mode="json") for ref in refs]
    if e.soft_skills is not None:
        return _dump(e.soft_skills), [e.soft_skills.instrument.model_dump(mode="json")]
    assert e.professions_knowledge is not None  # the event's validator: exactly one result
    knowledge = e.professions_knowledge
    return _dump(knowledge), [knowledge.instrument.model_dump(mode="json")]


async def _stage_completed(a: _Apply, e: diagnostics.StageCompleted) -> None:
    await a.participant(e.participant_id)
    result, refs = _result(e)
    await a.tx.execute(
        "INSERT INTO {stage_attempts} (attempt_id, participant_id, season, stage, status, "
        "instruments, answer_sheet, result, completed_position, completed_at) "
        "VALUES ($1, $2, $3, $4, 'completed', $5, $6, $7, $8, $9) "
        "ON CONFLICT (attempt_id) DO UPDATE SET status = 'completed', "
        "instruments = excluded.instruments, answer_sheet = excluded.answer_sheet, "
        "result = excluded.result, completed_position = excluded.completed_position, "
        "completed_at = excluded.completed_at",
        str(e.attempt_id),
        str(e.participant_id),
        e.season,
        e.stage.value,
        to_json(refs),
        to_json(_dump(e.answer_sheet)),
        to_json(result),
        a.recorded.position,
        a.at,
    )
    await a.touched(e.participant_id)


# ---------------------------------------------------------------------- career events
async def _career_event_published(a: _Apply, e: events.CareerEventPublished) -> None:
    await a.tx.execute(
        "INSERT INTO {career_events} (career_event_id, region_id, season, title, profession, "
        "environments, venue, starts_at, ends_at, cancelled) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, FALSE) "
        "ON CONFLICT (career_event_id) DO NOTHING",
        str(e.career_event_id),
        str(e.region_id),
        e.season,
        e.title,
        e.profession,
        to_json([env.value for env in e.environments]),
        to_json(_dump(e.venue)),
        timestamp(e.starts_at),
        timestamp(e.ends_at),
    )
    # A booking that came first (as a feed may deliver it: the events service publishes first)
    # now shows the career event.
    await _touch_booked(a, str(e.career_event_id))


async def _touch_booked(a: _Apply, career_event_id: str) -> None:
    """Every portfolio with a booking on this career event changed. Bookings are events of the
    career event's own stream, so which of them are here is the same on every feed."""
    rows = await a.tx.fetch(
        "SELECT DISTINCT participant_id FROM {bookings} WHERE career_event_id = $1 "
        "ORDER BY participant_id",
        career_event_id,
    )
    for (pid,) in rows:
        await a.touched(pid)


async def _career_event_cancelled(a: _Apply, e: events.CareerEventCancelled) -> None:
    cid = str(e.career_event_id)
    await a.tx.execute(
        "UPDATE {career_events} SET cancelled = TRUE, cancellation_reason = $2 "
        "WHERE career_event_id = $1",
        cid,
        e.reason.value,
    )
    # Everyone booked on it sees the cancellation (their own BookingCancelled follows).
    await _touch_booked(a, cid)


async def _seat_booked(a: _Apply, e: events.SeatBooked) -> None:
    await a.participant(e.participant_id)
    await a.tx.execute(
        "INSERT INTO {bookings} (booking_id, participant_id, career_event_id, season, status, "
        "booked_at) VALUES ($1, $2, $3, $4, 'booked', $5) ON CONFLICT (booking_id) DO NOTHING",
        str(e.booking_id),
        str(e.participant_id),
        str(e.career_event_id),
        e.season,
        a.at,
    )
    await a.touched(e.participant_id)


async def _booking_cancelled(a: _Apply, e: events.BookingCancelled) -> None:
    await a.participant(e.participant_id)
    await a.tx.execute(
        "UPDATE {bookings} SET status = 'cancelled', cancellation_reason = $2, "
        "cancelled_at = $3 WHERE booking_id = $1 AND status = 'booked'",
        str(e.booking_id),
        e.reason.value,
        a.at,
    )
    await a.touched(e.participant_id)


async def _attended(a: _Apply, e: events.CareerEventAttended) -> None:
    await a.participant(e.participant_id)
    await a.tx.execute(
        "UPDATE {bookings} SET status = 'attended', attended_at = $2 WHERE booking_id = $1",
        str(e.booking_id),
        a.at,
    )
    await a.touched(e.participant_id)


async def _feedback(a: _Apply, e: events.MentorFeedbackGiven) -> None:
    erased = await a.participant(e.participant_id)
    await a.tx.execute(
        "INSERT INTO {feedback} (feedback_id, participant_id, booking_id, career_event_id, "
        "mentor_id, engagement, task_result, observed_skills, suggested_environments, comment, "
        "given_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
        "ON CONFLICT (feedback_id) DO NOTHING",
        str(e.feedback_id),
        str(e.participant_id),
        str(e.booking_id),
        str(e.career_event_id),
        str(e.mentor_id),
        e.engagement,
        e.task_result,
        to_json(list(e.observed_skills)),
        to_json([env.value for env in e.suggested_environments]),
        None if erased else _sealed(e.comment),
        a.at,
    )
    await a.touched(e.participant_id)


# ---------------------------------------------------------------------- recommender
async def _recommendations(a: _Apply, e: recommender.RecommendationsIssued) -> None:
    # One stream per participant: the later set of a season replaces the earlier one.
    await a.participant(e.participant_id)
    await a.tx.execute(
        "INSERT INTO {recommendations} (participant_id, season, recommendation_set_id, rules, "
        "basis, leading_environments, study_plan, opportunities, supersedes, issued_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
        "ON CONFLICT (participant_id, season) DO UPDATE SET "
        "recommendation_set_id = excluded.recommendation_set_id, rules = excluded.rules, "
        "basis = excluded.basis, leading_environments = excluded.leading_environments, "
        "study_plan = excluded.study_plan, opportunities = excluded.opportunities, "
        "supersedes = excluded.supersedes, issued_at = excluded.issued_at",
        str(e.participant_id),
        e.season,
        str(e.recommendation_set_id),
        to_json(_dump(e.rules)),
        to_json(_dump(e.basis)),
        to_json([env.value for env in e.leading_environments]),
        to_json([_dump(item) for item in e.study_plan]),
        to_json([_dump(item) for item in e.opportunities]),
        None if e.supersedes is None else str(e.supersedes),
        a.at,
    )
    await a.touched(e.participant_id)


# By event type, which is stable across versions: `decode` upcasts and hands over the newest
# version, whatever its class is called, so a new version slots in as long as it keeps the fields
# read here (the unit tests apply the catalogue's example of every version).
HANDLERS: Final[dict[str, Handler]] = {
    cls.event_type: handler
    for cls, handler in (
        (identity.SeasonRulesPublished, _season_rules),
        (identity.RegionAdmitted, _region_admitted),
        (identity.DiagnosticsWindowScheduled, _window),
        (identity.SchoolRegistered, _school),
        (identity.ParticipantRegistered, _registered),
        (identity.ParticipantDetailsCorrected, _corrected),
        (identity.ParticipantMovedToSchool, _moved),
        (identity.ParticipantEnrolledInSeason, _enrolled),
        (consent.ConsentSubmitted, _consent_submitted),
        (consent.ConsentVerified, _consent_verified),
        (consent.ConsentRejected, _consent_rejected),
        (consent.ConsentWithdrawn, _consent_withdrawn),
        (consent.GuardianLinked, _guardian_linked),
        (consent.ParticipantErased, _erased),
        (diagnostics.InstrumentVersionPublished, _instrument),
        (diagnostics.StageStarted, _stage_started),
        (diagnostics.StageCompleted, _stage_completed),
        (events.CareerEventPublished, _career_event_published),
        (events.CareerEventCancelled, _career_event_cancelled),
        (events.SeatBooked, _seat_booked),
        (events.BookingCancelled, _booking_cancelled),
        (events.CareerEventAttended, _attended),
        (events.MentorFeedbackGiven, _feedback),
        (recommender.RecommendationsIssued, _recommendations),
    )
}
# Types newer than some deployments' catalogue are named, not imported: a handler waits for its
# type to be published (`apply` looks only at published types).
HANDLERS["ConsentPurposesWithdrawn"] = _purposes_withdrawn


class PortfolioProjection:
    """Every published event → the portfolio tables. Events that are not published (a
    service's internal streams and audit trail, seen on the embedded path) are ignored; a
    published event that does not decode (a version newer than this code, broken data) raises,
    so the runtime parks its stream and dead-letters it rather than skip it silently."""

    name = PROJECTION_NAME
    tables = TABLES

    async def apply(self, tx: ReadModelTx, event: RecordedEvent) -> None:
        handler = HANDLERS.get(event.type)
        if handler is None or not CATALOGUE.is_published(event.type):
            return
        decoded = decode(event)
        await handler(_Apply(tx, event, CATALOGUE.service_of(event.type)), decoded)
