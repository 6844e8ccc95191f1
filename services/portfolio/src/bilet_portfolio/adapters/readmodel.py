"""Queries of the portfolio tables (the `PortfolioReader` port), on SQLite or PostgreSQL.

Reads go through `ReadModel.query`, a connection that never waits for the feed's writes; the
whole portfolio is a handful of indexed reads by participant id, made in one read-only
transaction (`_one_state`), so the consent gate is decided on the very state the portfolio is
read from.
"""

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from datetime import date
from typing import Any, Final

from bilet.projections import ReadModel, ReadModelTx, Row
from bilet.projections.readmodel import CHECKPOINTS
from bilet_portfolio.adapters.projection import REFERENCE_ROW, PortfolioProjection
from bilet_portfolio.application.listing import SchoolQuery, SortKey
from bilet_portfolio.application.ports import Snapshot
from bilet_portfolio.domain.consent import ConsentFacts, ConsentState
from bilet_portfolio.domain.progress import Progress, ProgressFilter
from bilet_portfolio.domain.views import (
    BookingRecord,
    CareerEventInfo,
    FeedbackRecord,
    GuardianRecord,
    HistoryEntry,
    ParticipantRecord,
    PortfolioRecord,
    RecommendationRecord,
    RegionInfo,
    SchoolInfo,
    StageAttempt,
    Window,
)
from bilet_portfolio.settings import PROJECTION_NAME

DEFAULT_STAGES: Final = 3
MAX_CLAIMED_CHILDREN: Final = 50
HISTORY_LIMIT: Final = 500

# The participant's row with what the list and the ETag need; `p` is the participants table.
_PARTICIPANT_COLUMNS: Final = (
    "p.participant_id, p.school_id, p.region_id, p.season, p.grade, p.full_name, "
    "p.consent_state, p.consent_purposes, p.consent_valid_until, p.consent_reasons, "
    "p.consent_erase_by, p.consent_pending_id, p.erased, p.erased_at, p.stages_completed, "
    "p.bookings_open, p.attended, p.recommendations, p.version, p.updated_at, "
    "s.stage_count, s.max_career_events"
)
_FROM: Final = "FROM {participants} p LEFT JOIN {seasons} s ON s.season = p.season"
_STAGE_TOTAL: Final = f"COALESCE(s.stage_count, {DEFAULT_STAGES})"
_OPEN: Final = (
    "p.consent_state = 'verified' AND p.consent_valid_until >= {today} "
    "AND p.consent_purposes LIKE '%\"portfolio\"%'"
)
_BEGIN_POSTGRES: Final = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
# Sort keys that are part of the portfolio: a row whose portfolio the caller may not see sorts as
# if it had none (NULL, after every other row in both directions), so its order reveals nothing.
_HIDDEN_WHEN_CLOSED: Final = frozenset({"progress", "updated_at"})
_PROGRESS: Final[dict[ProgressFilter, str]] = {
    ProgressFilter.NO_DIAGNOSTICS: "p.stages_completed = 0",
    ProgressFilter.DIAGNOSTICS_INCOMPLETE: (
        f"p.stages_completed > 0 AND p.stages_completed < {_STAGE_TOTAL}"
    ),
    ProgressFilter.DIAGNOSTICS_COMPLETE: f"p.stages_completed >= {_STAGE_TOTAL}",
    ProgressFilter.NO_CAREER_EVENT: "p.attended = 0",
    ProgressFilter.CAREER_EVENT_BOOKED: "p.bookings_open > 0",
    ProgressFilter.CAREER_EVENT_ATTENDED: "p.attended > 0",
    ProgressFilter.RECOMMENDATIONS_ISSUED: "p.recommendations > 0",
}
_SORT_EXPRESSION: Final = {
    "participant_id": "p.participant_id",
    "grade": "p.grade",
    "progress": "(p.stages_completed + p.attended)",
    "updated_at": "p.updated_at",
}


def _json(text: str | None, default: Any = None) -> Any:
    return default if text is None else json.loads(text)


def participant_of(row: Row) -> ParticipantRecord:
    valid_until = row[8]
    erase_by = row[10]
    return ParticipantRecord(
        participant_id=row[0],
        school_id=row[1],
        region_id=row[2],
        season=row[3],
        grade=row[4],
        sealed_name=row[5],
        consent=ConsentFacts(
            state=ConsentState(row[6]),
            purposes=tuple(_json(row[7], [])),
            valid_until=None if valid_until is None else date.fromisoformat(valid_until),
            rejection_reasons=tuple(_json(row[9], [])),
            erase_by=None if erase_by is None else date.fromisoformat(erase_by),
            pending=row[11] is not None,
        ),
        erased=bool(row[12]),
        erased_at=row[13],
        progress=Progress(
            stages_completed=int(row[14]),
            stages_total=int(row[20]) if row[20] is not None else DEFAULT_STAGES,
            career_events_booked=int(row[15]),
            career_events_attended=int(row[16]),
            max_career_events=row[21],
            recommendations=int(row[17]) > 0,
        ),
        version=int(row[18]),
        updated_at=row[19],
    )


class SqlPortfolioReader:
    def __init__(
        self, read_model: ReadModel, projection: PortfolioProjection | None = None
    ) -> None:
        self.read_model = read_model
        self.projection = projection or PortfolioProjection()

    @contextlib.asynccontextmanager
    async def _one_state(self) -> AsyncIterator[ReadModelTx]:
        """Reads that all see one state of the read model: a read-only transaction (PostgreSQL:
        repeatable read; SQLite: a deferred transaction, a snapshot from its first read).

        SQLite's reader is one connection shared by every request: nothing may suspend between
        its `BEGIN` and `COMMIT` (its statements never do; callers pass only plain functions)."""
        async with self.read_model.query(self.projection) as tx:
            postgres = tx.dialect == "postgresql"
            await tx.execute(_BEGIN_POSTGRES if postgres else "BEGIN")
            await tx.flush()
            try:
                yield tx
            except BaseException:
                with contextlib.suppress(Exception):
                    await tx.execute("ROLLBACK")
                    await tx.flush()
                raise
            await tx.execute("COMMIT")
            await tx.flush()

    async def participant(self, participant_id: str) -> Snapshot | None:
        # One statement: one state, without a transaction's round trips (the updates streams
        # ask this every few hundred milliseconds).
        async with self.read_model.query(self.projection) as tx:
            return await self._snapshot(tx, participant_id)

    async def _snapshot(self, tx: ReadModelTx, participant_id: str) -> Snapshot | None:
        row = await tx.fetchrow(
            f"SELECT {_PARTICIPANT_COLUMNS}, "  # noqa: S608 - constants, and parameters
            "(SELECT r.version FROM {reference_data} r WHERE r.name = $2) "
            f"{_FROM} WHERE p.participant_id = $1",
            participant_id,
            REFERENCE_ROW,
        )
        if row is None:
            return None
        reference = row[len(row) - 1]
        return Snapshot(participant_of(row), 0 if reference is None else int(reference))

    async def school(self, school_id: str) -> SchoolInfo | None:
        async with self.read_model.query(self.projection) as tx:
            row = await tx.fetchrow(
                "SELECT school_id, region_id, name, municipality FROM {schools} "
                "WHERE school_id = $1",
                school_id,
            )
        return None if row is None else SchoolInfo(*row)

    async def portfolio(
        self, participant_id: str, wanted: Callable[[Snapshot], bool]
    ) -> Snapshot | None:
        async with self._one_state() as tx:
            snapshot = await self._snapshot(tx, participant_id)
            if snapshot is None or not wanted(snapshot):
                return snapshot
            record = await self._record(tx, snapshot.participant)
        return Snapshot(snapshot.participant, snapshot.reference_version, record)

    async def _record(self, tx: ReadModelTx, participant: ParticipantRecord) -> PortfolioRecord:
        pid = participant.participant_id
        school = region = None
        if participant.school_id is not None:
            row = await tx.fetchrow(
                "SELECT school_id, region_id, name, municipality FROM {schools} "
                "WHERE school_id = $1",
                participant.school_id,
            )
            school = None if row is None else SchoolInfo(*row)
        windows: list[Window] = []
        if participant.region_id is not None:
            row = await tx.fetchrow(
                "SELECT region_id, region_code, name FROM {regions} WHERE region_id = $1",
                participant.region_id,
            )
            region = None if row is None else RegionInfo(*row)
            windows = [
                Window(*w)
                for w in await tx.fetch(
                    "SELECT season, stage, opens_on, closes_on FROM {diagnostics_windows} "
                    "WHERE region_id = $1 ORDER BY season, stage",
                    participant.region_id,
                )
            ]
        stages: tuple[str, ...] = ()
        if participant.season is not None:
            text = await tx.fetchval(
                "SELECT stages FROM {seasons} WHERE season = $1", participant.season
            )
            stages = tuple(_json(text, []))
        attempts = [
            StageAttempt(
                attempt_id=r[0],
                season=r[1],
                stage=r[2],
                status=r[3],
                instruments=_json(r[4], []),
                answer_sheet=_json(r[5]),
                result=_json(r[6]),
                started_position=r[7],
                completed_position=r[8],
                started_at=r[9],
                completed_at=r[10],
            )
            for r in await tx.fetch(
                "SELECT attempt_id, season, stage, status, instruments, answer_sheet, result, "
                "started_position, completed_position, started_at, completed_at "
                "FROM {stage_attempts} WHERE participant_id = $1 ORDER BY attempt_id",
                pid,
            )
        ]
        bookings = [
            BookingRecord(
                booking_id=r[0],
                career_event_id=r[1],
                season=r[2],
                status=r[3],
                cancellation_reason=r[4],
                booked_at=r[5],
                attended_at=r[6],
                cancelled_at=r[7],
                career_event=None
                if r[8] is None
                else CareerEventInfo(
                    career_event_id=r[1],
                    title=r[8],
                    profession=r[9],
                    environments=_json(r[10], []),
                    venue=_json(r[11]),
                    starts_at=r[12],
                    ends_at=r[13],
                    cancelled=bool(r[14]),
                    cancellation_reason=r[15],
                ),
            )
            for r in await tx.fetch(
                "SELECT b.booking_id, b.career_event_id, b.season, b.status, "
                "b.cancellation_reason, b.booked_at, b.attended_at, b.cancelled_at, "
                "c.title, c.profession, c.environments, c.venue, c.starts_at, c.ends_at, "
                "c.cancelled, c.cancellation_reason "
                "FROM {bookings} b LEFT JOIN {career_events} c "
                "ON c.career_event_id = b.career_event_id "
                "WHERE b.participant_id = $1 ORDER BY b.booked_at, b.booking_id",
                pid,
            )
        ]
        feedback = [
            FeedbackRecord(
                feedback_id=r[0],
                booking_id=r[1],
                career_event_id=r[2],
                engagement=r[3],
                task_result=r[4],
                observed_skills=_json(r[5], []),
                suggested_environments=_json(r[6], []),
                sealed_comment=r[7],
                given_at=r[8],
            )
            for r in await tx.fetch(
                "SELECT feedback_id, booking_id, career_event_id, engagement, task_result, "
                "observed_skills, suggested_environments, comment, given_at "
                "FROM {feedback} WHERE participant_id = $1 ORDER BY given_at, feedback_id",
                pid,
            )
        ]
        recommendations = [
            RecommendationRecord(
                season=r[0],
                recommendation_set_id=r[1],
                rules=_json(r[2]),
                basis=_json(r[3]),
                leading_environments=_json(r[4], []),
                study_plan=_json(r[5], []),
                opportunities=_json(r[6], []),
                supersedes=r[7],
                issued_at=r[8],
            )
            for r in await tx.fetch(
                "SELECT season, recommendation_set_id, rules, basis, leading_environments, "
                "study_plan, opportunities, supersedes, issued_at FROM {recommendations} "
                "WHERE participant_id = $1 ORDER BY season",
                pid,
            )
        ]
        guardians = [
            GuardianRecord(*r)
            for r in await tx.fetch(
                "SELECT guardian_id, relationship, linked_at FROM {guardians} "
                "WHERE participant_id = $1 ORDER BY guardian_id",
                pid,
            )
        ]
        history = [
            HistoryEntry(*r)
            for r in await tx.fetch(
                "SELECT source, position, stream_id, stream_version, event_type, recorded_at "
                "FROM {history} WHERE participant_id = $1 "
                "ORDER BY recorded_at, source, position LIMIT $2",
                pid,
                HISTORY_LIMIT,
            )
        ]
        return PortfolioRecord(
            participant=participant,
            school=school,
            region=region,
            stages_of_season=stages,
            windows=windows,
            attempts=attempts,
            bookings=bookings,
            feedback=feedback,
            recommendations=recommendations,
            guardians=guardians,
            history=history,
        )

    async def school_page(
        self, school_id: str, query: SchoolQuery, today: date, *, detailed: bool
    ) -> list[ParticipantRecord]:
        args: list[Any] = [school_id]

        def bind(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        bound: list[str] = []

        def shown() -> str:
            """Whose portfolio the caller sees: open ones (`detailed`), or none (a registrar)."""
            if not bound:
                bound.append(_OPEN.format(today=bind(today.isoformat())) if detailed else "1 = 0")
            return bound[0]

        conditions = ["p.school_id = $1", "p.erased = FALSE"]
        if query.grade is not None:
            conditions.append(f"p.grade = {bind(query.grade)}")
        if query.consent is ConsentState.EXPIRED:
            conditions.append(
                "p.consent_state = 'verified' "
                f"AND p.consent_valid_until < {bind(today.isoformat())}"
            )
        elif query.consent is ConsentState.VERIFIED:
            conditions.append(
                "p.consent_state = 'verified' "
                f"AND p.consent_valid_until >= {bind(today.isoformat())}"
            )
        elif query.consent is not None:
            conditions.append(f"p.consent_state = {bind(query.consent.value)}")
        if query.progress is not None:
            # Progress is part of the portfolio: it is filtered only where the caller sees it.
            conditions.append(f"({shown()})")
            conditions.append(_PROGRESS[query.progress])
        sort = query.sort
        key = _SORT_EXPRESSION[sort.column]
        if sort.column in _HIDDEN_WHEN_CLOSED:
            key = f"(CASE WHEN {shown()} THEN {key} END)"
        if sort is SortKey.PARTICIPANT:
            if query.after is not None:
                conditions.append(f"p.participant_id > {bind(query.after.participant_id)}")
            order = "p.participant_id"
        else:
            # NULLs last in both directions (portable: neither database's default is that).
            if query.after is not None:
                last = bind(query.after.participant_id)
                if query.after.value is None:
                    conditions.append(f"({key} IS NULL AND p.participant_id > {last})")
                else:
                    value = bind(query.after.value)
                    beyond = "<" if sort.descending else ">"
                    conditions.append(
                        f"({key} IS NULL OR {key} {beyond} {value} OR "
                        f"({key} = {value} AND p.participant_id > {last}))"
                    )
            direction = "DESC" if sort.descending else "ASC"
            order = (
                f"CASE WHEN {key} IS NULL THEN 1 ELSE 0 END, {key} {direction}, p.participant_id"
            )
        limit = bind(query.limit + 1)
        sql = (
            f"SELECT {_PARTICIPANT_COLUMNS} {_FROM} WHERE {' AND '.join(conditions)} "
            f"ORDER BY {order} LIMIT {limit}"
        )
        async with self.read_model.query(self.projection) as tx:
            rows = await tx.fetch(sql, *args)
        return [participant_of(row) for row in rows]

    async def children(self, claimed: frozenset[str]) -> list[ParticipantRecord]:
        """The participants the identity provider names as the guardian's children."""
        ids = sorted(claimed)[:MAX_CLAIMED_CHILDREN]
        if not ids:
            return []
        marks = ", ".join(f"${n}" for n in range(1, len(ids) + 1))
        sql = (
            f"SELECT {_PARTICIPANT_COLUMNS} {_FROM} "
            f"WHERE p.participant_id IN ({marks}) ORDER BY p.participant_id"
        )
        async with self.read_model.query(self.projection) as tx:
            rows = await tx.fetch(sql, *ids)
        return [participant_of(row) for row in rows]

    async def positions(self) -> dict[str, int]:
        async with self.read_model.query() as tx:
            rows = await tx.fetch(
                f"SELECT source, MIN(position) FROM {CHECKPOINTS} "  # noqa: S608
                "WHERE projection = $1 AND position > 0 GROUP BY source ORDER BY source",
                PROJECTION_NAME,
            )
        return {row[0]: int(row[1]) for row in rows}

    async def wait_until(
        self, source: str, position: int, timeout: float, stream_id: str | None
    ) -> int:
        return await self.read_model.wait_until(
            PROJECTION_NAME, source, position, timeout, stream_id=stream_id
        )
