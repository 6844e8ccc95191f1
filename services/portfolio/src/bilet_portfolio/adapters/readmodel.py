"""Queries of the portfolio tables (the `PortfolioReader` port), on SQLite or PostgreSQL.

Reads go through `ReadModel.query`, a connection that never waits for the feed's writes; the
whole portfolio is one row — the participant's, joined to their document (the sections the
projection renders: adapters/document.py) and the reference data it names — and, when stages are
shown, their region's testing windows, read in one read-only transaction (`_one_state`), so the
consent gate is decided on the very state the portfolio is read from.
"""

import contextlib
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import AbstractContextManager
from datetime import date
from typing import Any, Final, NamedTuple

from bilet.projections import ReadModel, ReadModelTx, Row
from bilet.projections.readmodel.changes import ChangeListener
from bilet_portfolio.adapters.document import Sections
from bilet_portfolio.adapters.json_text import from_json
from bilet_portfolio.adapters.positions import KeptPositions
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


class _ParticipantRow(NamedTuple):
    """The participant's row with what the list and the ETag need: the columns of
    `participants` (`p`) and, of their season's rules, `seasons` (`s`), under their names."""

    participant_id: str
    school_id: str | None
    region_id: str | None
    season: int | None
    grade: int | None
    full_name: str | None
    consent_state: str
    consent_purposes: str | None
    consent_valid_until: str | None
    consent_reasons: str | None
    consent_erase_by: str | None
    consent_pending_id: str | None
    erased: object  # SQLite's 0/1, PostgreSQL's bool
    erased_at: str | None
    stages_completed: int
    bookings_open: int
    attended: int
    recommendations: int
    version: int
    updated_at: str
    stage_count: int | None
    max_career_events: int | None


class _PortfolioRow(NamedTuple):
    """What the portfolio's one row holds after the participant's columns. The school's and the
    region's are LEFT JOINs: when their id is NULL (not known here yet), all of theirs are."""

    reference_version: int | None
    school_id: str | None
    school_region_id: str
    school_name: str
    school_municipality: str
    region_id: str | None
    region_code: str
    region_name: str
    season_stages: str | None
    sections: str | None


_SEASON_COLUMNS: Final = frozenset({"stage_count", "max_career_events"})
_PARTICIPANT_COLUMNS: Final = ", ".join(
    f"{'s' if name in _SEASON_COLUMNS else 'p'}.{name}" for name in _ParticipantRow._fields
)
_PARTICIPANT_WIDTH: Final = len(_ParticipantRow._fields)
_REFERENCE_VERSION: Final = "(SELECT r.version FROM {reference_data} r WHERE r.name = $2)"
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


def participant_of(row: Row) -> ParticipantRecord:
    """The participant's record from a row that starts with `_PARTICIPANT_COLUMNS`."""
    columns = _ParticipantRow._make(row[:_PARTICIPANT_WIDTH])
    return ParticipantRecord(
        participant_id=columns.participant_id,
        school_id=columns.school_id,
        region_id=columns.region_id,
        season=columns.season,
        grade=columns.grade,
        sealed_name=columns.full_name,
        consent=ConsentFacts(
            state=ConsentState(columns.consent_state),
            purposes=tuple(from_json(columns.consent_purposes, [])),
            valid_until=_date(columns.consent_valid_until),
            rejection_reasons=tuple(from_json(columns.consent_reasons, [])),
            erase_by=_date(columns.consent_erase_by),
            pending=columns.consent_pending_id is not None,
        ),
        erased=bool(columns.erased),
        erased_at=columns.erased_at,
        progress=Progress(
            stages_completed=int(columns.stages_completed),
            stages_total=DEFAULT_STAGES
            if columns.stage_count is None
            else int(columns.stage_count),
            career_events_booked=int(columns.bookings_open),
            career_events_attended=int(columns.attended),
            max_career_events=columns.max_career_events,
            recommendations=int(columns.recommendations) > 0,
        ),
        version=int(columns.version),
        updated_at=columns.updated_at,
    )


def _date(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


def _version(reference_version: int | None) -> int:
    """The reference version (0 before any reference event)."""
    return 0 if reference_version is None else int(reference_version)


class SqlPortfolioReader:
    def __init__(
        self, read_model: ReadModel, projection: PortfolioProjection | None = None
    ) -> None:
        self.read_model = read_model
        self.projection = projection or PortfolioProjection()
        self._positions = KeptPositions(lambda: read_model.watermarks(PROJECTION_NAME))

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
            f"SELECT {_PARTICIPANT_COLUMNS}, {_REFERENCE_VERSION} "
            f"{_FROM} WHERE p.participant_id = $1",
            participant_id,
            REFERENCE_ROW,
        )
        if row is None:
            return None
        return Snapshot(participant_of(row), _version(row[_PARTICIPANT_WIDTH]))

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
                f"SELECT {_PARTICIPANT_COLUMNS}, {_REFERENCE_VERSION}, "
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
            more = _PortfolioRow._make(row[_PARTICIPANT_WIDTH:])
            snapshot = Snapshot(participant_of(row), _version(more.reference_version))
            if not wanted(snapshot):
                return snapshot
            sections = Sections(more.sections)
            windows: list[Window] = []
            region_id = snapshot.participant.region_id
            if sections.stages and region_id is not None:  # windows are shown beside stages
                windows = [
                    Window(*window)
                    for window in await tx.fetch(
                        "SELECT season, stage, opens_on, closes_on FROM {diagnostics_windows} "
                        "WHERE region_id = $1 ORDER BY season, stage",
                        region_id,
                    )
                ]
        record = PortfolioRecord(
            participant=snapshot.participant,
            school=None
            if more.school_id is None
            else SchoolInfo(
                more.school_id, more.school_region_id, more.school_name, more.school_municipality
            ),
            region=None
            if more.region_id is None
            else RegionInfo(more.region_id, more.region_code, more.region_name),
            stages_of_season=tuple(from_json(more.season_stages, ())),
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
        self,
        school_id: str,
        query: SchoolQuery,
        today: date,
        *,
        detailed: bool,
        region_id: str | None = None,
        only: frozenset[str] | None = None,
    ) -> tuple[list[ParticipantRecord], int]:
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
        if region_id is not None:
            # A coordinator sees the pupils of their region, as on a portfolio (the pupil's own
            # region, not the school's: the two may differ for a while).
            conditions.append(f"p.region_id = {bind(region_id)}")
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
        if query.progress is not None or only is not None:
            # Progress and names are part of the portfolio: filtered only where the caller sees
            # them.
            conditions.append(f"({shown()})")
        if query.progress is not None:
            conditions.append(_PROGRESS[query.progress])
        if only is not None:
            marks = ", ".join(bind(participant_id) for participant_id in sorted(only))
            conditions.append(f"p.participant_id IN ({marks})" if marks else "1 = 0")
        counted = f"SELECT COUNT(*) {_FROM} WHERE {' AND '.join(conditions)}"
        count_args = list(args)
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
        # The page and the total from one state of the read model: they never disagree.
        async with self._one_state() as tx:
            rows = await tx.fetch(sql, *args)
            total = await tx.fetchrow(counted, *count_args)
        return [participant_of(row) for row in rows], 0 if total is None else int(total[0])

    async def open_in_school(
        self, school_id: str, today: date, *, region_id: str | None
    ) -> list[ParticipantRecord]:
        """The school's pupils whose portfolio is open (names shown to entitled callers)."""
        args: list[Any] = [school_id, today.isoformat()]
        region = ""
        if region_id is not None:
            args.append(region_id)
            region = " AND p.region_id = $3"
        sql = (
            f"SELECT {_PARTICIPANT_COLUMNS} {_FROM} WHERE p.school_id = $1 AND p.erased = FALSE "
            f"AND {_OPEN.format(today='$2')}{region}"
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
        """How far the read model is (kept briefly between commits: adapters/positions.py)."""
        return await self._positions.get()

    def positions_moved(self, _changed: Collection[str] | None) -> None:
        """A listener of the projection's commits (`follow_changes`): the positions moved."""
        self._positions.moved()

    def follow_changes(self, listener: ChangeListener) -> AbstractContextManager[None]:
        """Tell `listener` the participants every commit of the projection changes (ADR 0059's
        change signals: this process's commits and, on PostgreSQL, every other process's)."""
        return self.read_model.signals.listen(self.projection.name, listener)

    async def hear_changes(self) -> None:
        """Make sure other processes' commits are heard (PostgreSQL: listen again if the
        connection was lost; a SQLite read model hears only its own process)."""
        await self.read_model.signals.ready()

    async def wait_until(
        self, source: str, position: int, timeout: float, stream_id: str | None
    ) -> int:
        return await self.read_model.wait_until(
            PROJECTION_NAME, source, position, timeout, stream_id=stream_id
        )
