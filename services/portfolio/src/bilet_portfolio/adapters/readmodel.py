"""Queries of the portfolio tables (the `PortfolioReader` port), on SQLite or PostgreSQL.

Reads go through `ReadModel.query`, a connection that never waits for the feed's writes; the
whole portfolio is one row — the participant's, joined to their document (the sections the
projection renders: adapters/document.py) and the reference data it names — and, when stages are
shown, their region's testing windows, read in one read-only transaction (`_one_state`), so the
consent gate is decided on the very state the portfolio is read from.
"""

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from datetime import date
from typing import Any, Final

from bilet.projections import ReadModel, ReadModelTx, Row
from bilet.projections.readmodel import CHECKPOINTS
from bilet_portfolio.adapters.document import Sections
from bilet_portfolio.adapters.projection import PortfolioProjection
from bilet_portfolio.adapters.projection.tables import REFERENCE_ROW
from bilet_portfolio.application.listing import SchoolQuery, SortKey
from bilet_portfolio.application.ports import Snapshot
from bilet_portfolio.domain.consent import ConsentFacts, ConsentState
from bilet_portfolio.domain.progress import Progress, ProgressFilter
from bilet_portfolio.domain.views import (
    ParticipantRecord,
    PortfolioRecord,
    RegionInfo,
    SchoolInfo,
    Window,
)
from bilet_portfolio.settings import PROJECTION_NAME

DEFAULT_STAGES: Final = 3
MAX_CLAIMED_CHILDREN: Final = 50

# The participant's row with what the list and the ETag need; `p` is the participants table.
_PARTICIPANT_COLUMNS: Final = (
    "p.participant_id, p.school_id, p.region_id, p.season, p.grade, p.full_name, "
    "p.consent_state, p.consent_purposes, p.consent_valid_until, p.consent_reasons, "
    "p.consent_erase_by, p.consent_pending_id, p.erased, p.erased_at, p.stages_completed, "
    "p.bookings_open, p.attended, p.recommendations, p.version, p.updated_at, "
    "s.stage_count, s.max_career_events"
)
# Where the reference version follows those columns in the portfolio's row.
_REFERENCE: Final = 22
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
            row = await tx.fetchrow(
                f"SELECT {_PARTICIPANT_COLUMNS}, "  # noqa: S608 - constants, and parameters
                "(SELECT r.version FROM {reference_data} r WHERE r.name = $2), "
                "sc.school_id, sc.region_id, sc.name, sc.municipality, "
                "rg.region_id, rg.region_code, rg.name, s.stages, d.sections "
                f"{_FROM} LEFT JOIN {{schools}} sc ON sc.school_id = p.school_id "
                "LEFT JOIN {regions} rg ON rg.region_id = p.region_id "
                "LEFT JOIN {portfolio_documents} d ON d.participant_id = p.participant_id "
                "WHERE p.participant_id = $1",
                participant_id,
                REFERENCE_ROW,
            )
            if row is None:
                return None
            reference = row[_REFERENCE]
            snapshot = Snapshot(participant_of(row), 0 if reference is None else int(reference))
            if not wanted(snapshot):
                return snapshot
            sections = Sections(row[_REFERENCE + 9])
            windows: list[Window] = []
            region_id = snapshot.participant.region_id
            if sections.stages and region_id is not None:  # windows are shown beside stages
                windows = [
                    Window(*w)
                    for w in await tx.fetch(
                        "SELECT season, stage, opens_on, closes_on FROM {diagnostics_windows} "
                        "WHERE region_id = $1 ORDER BY season, stage",
                        region_id,
                    )
                ]
        school = [row[_REFERENCE + n] for n in range(1, 5)]
        region = [row[_REFERENCE + n] for n in range(5, 8)]
        stages = row[_REFERENCE + 8]
        record = PortfolioRecord(
            participant=snapshot.participant,
            school=None if school[0] is None else SchoolInfo(*school),
            region=None if region[0] is None else RegionInfo(*region),
            stages_of_season=() if stages is None else tuple(json.loads(stages)),
            windows=windows,
            attempts=sections.stages,
            bookings=sections.bookings,
            feedback=sections.feedback,
            recommendations=sections.recommendations,
            guardians=sections.guardians,
            history=sections.history,
        )
        return Snapshot(snapshot.participant, snapshot.reference_version, record)

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
