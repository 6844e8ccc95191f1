"""`Facts` and `Catalogue` answered from the read model the projection builds
(`adapters/facts_projection.py`): fed in-process from the stores (embedded) or from Kafka by
`python -m bilet_events.worker` (distributed), on SQLite or PostgreSQL alike. What to register:
`FACTS_PROJECTION`, fed from `SOURCES`; what to build: `ReadModelFacts(read_model)` and
`ReadModelCatalogue(read_model)`.
"""

from collections.abc import Collection
from datetime import date, datetime
from typing import Any
from uuid import UUID

from bilet.contracts.catalogue.events import CareerEventPublished
from bilet.facts import CONSENT, IDENTITY
from bilet.facts.queries import ReadModelQueries, purposes_in_force
from bilet.projections import Row
from bilet_events.adapters.catalogue_projection import utc_text
from bilet_events.adapters.facts_projection import (
    EVENTS,
    FACTS_PROJECTION,
    PROJECTION,
    SEALED,
    SOURCES,
    FactsProjection,
)
from bilet_events.application.facts import (
    Attendee,
    CatalogueCursor,
    CatalogueEntry,
    CatalogueFilter,
    CataloguePage,
    Pupil,
    SealedNeeds,
    SessionSeats,
)

__all__ = [
    "CONSENT",
    "EVENTS",
    "FACTS_PROJECTION",
    "IDENTITY",
    "PROJECTION",
    "SOURCES",
    "FactsProjection",
    "ReadModelCatalogue",
    "ReadModelFacts",
]


class ReadModelFacts(ReadModelQueries):
    """`Facts` over the `fact_*` tables."""

    projection = FACTS_PROJECTION

    async def pupil(self, participant_id: UUID, today: date) -> Pupil | None:
        rows = await self._fetch(
            "SELECT p.school_id, p.region_id, s.municipality, p.grade, p.season, p.needs, "
            "p.needs_generation, p.purposes, p.valid_until, p.erased, p.merged_into "
            "FROM {fact_pupils_v2} p "
            "LEFT JOIN {fact_schools_v2} s ON s.school_id = p.school_id "
            "WHERE p.participant_id = $1",
            str(participant_id),
        )
        if not rows or rows[0][0] is None:
            return None  # identity's registration has not arrived
        row = rows[0]
        school_id, region_id, municipality, grade, season, needs, generation = row[:7]
        purposes, valid_until, erased, merged = row[7:]
        return Pupil(
            participant_id=participant_id,
            school_id=UUID(school_id),
            region_id=UUID(region_id),
            municipality=municipality,
            grade=int(grade),
            season=int(season),
            purposes=purposes_in_force(purposes, valid_until, today),
            erased=bool(erased),
            merged_into=None if merged is None else UUID(merged),
            sealed_needs=(
                SealedNeeds(SEALED.validate_json(needs), int(generation))
                if needs is not None
                else None
            ),
        )

    async def max_career_events(self, season: int) -> int | None:
        rows = await self._fetch(
            "SELECT max_career_events FROM {fact_seasons} WHERE season = $1", season
        )
        return int(rows[0][0]) if rows else None

    async def attendees(self, participant_ids: Collection[UUID]) -> dict[UUID, Attendee]:
        ids = [str(pid) for pid in dict.fromkeys(participant_ids)]
        if not ids:
            return {}
        marks = ", ".join(f"${n}" for n in range(1, len(ids) + 1))
        rows = await self._fetch(
            f"SELECT p.participant_id, p.school_id, s.name, p.full_name "  # noqa: S608 - parameter marks only
            f"FROM {{fact_pupils_v2}} p LEFT JOIN {{fact_schools_v2}} s "
            f"ON s.school_id = p.school_id WHERE p.participant_id IN ({marks})",
            *ids,
        )
        return {
            UUID(pid): Attendee(
                participant_id=UUID(pid),
                school_id=UUID(school_id) if school_id is not None else None,
                school_name=school_name,
                sealed_full_name=SEALED.validate_json(full_name) if full_name else None,
            )
            for pid, school_id, school_name, full_name in rows
        }


class _Where:
    """A WHERE clause of the catalogue's filter over sessions `s` of career events `c`, with its
    numbered parameters."""

    def __init__(self) -> None:
        self.conditions: list[str] = ["NOT c.cancelled"]
        self.args: list[Any] = []

    def add(self, condition: str, *values: Any) -> None:
        """`condition` with `?` for each value, numbered in order."""
        for value in values:
            self.args.append(value)
            condition = condition.replace("?", f"${len(self.args)}", 1)
        self.conditions.append(condition)

    @property
    def sql(self) -> str:
        return " AND ".join(self.conditions)


def _where(where: CatalogueFilter) -> _Where:
    clause = _Where()
    if where.region_id is not None:
        clause.add("c.region_id = ?", str(where.region_id))
    if where.municipality is not None:
        clause.add("c.municipality = ?", where.municipality)
    if where.environment is not None:
        clause.add("c.environments LIKE ?", f"%,{where.environment.value},%")
    if where.grade is not None:
        clause.add("c.grade_lowest <= ? AND c.grade_highest >= ?", where.grade, where.grade)
    if where.format is not None:
        clause.add("c.format = ?", where.format.value)
    if where.starts_from is not None:
        clause.add("s.starts_at >= ?", utc_text(where.starts_from))
    if where.starts_before is not None:
        clause.add("s.starts_at < ?", utc_text(where.starts_before))
    if where.min_seats_left is not None:
        clause.add("s.seats_left >= ?", where.min_seats_left)
    return clause


_FROM = "FROM {cat_sessions} s JOIN {cat_career_events} c ON c.career_event_id = s.career_event_id"


class ReadModelCatalogue(ReadModelQueries):
    """`Catalogue` over the `cat_*` tables."""

    projection = FACTS_PROJECTION

    async def career_event(self, career_event_id: UUID) -> CatalogueEntry | None:
        entries = await self._entries([str(career_event_id)], None)
        return entries[0] if entries else None

    async def search(
        self, where: CatalogueFilter, *, after: CatalogueCursor | None, limit: int
    ) -> CataloguePage:
        clause = _where(where)
        having = ""
        if after is not None:
            first = len(clause.args) + 1
            clause.args += [utc_text(after.starts_at), str(after.career_event_id)]
            having = (
                f" HAVING MIN(s.starts_at) > ${first} OR "
                f"(MIN(s.starts_at) = ${first} AND s.career_event_id > ${first + 1})"
            )
        rows = await self._fetch(
            f"SELECT s.career_event_id, MIN(s.starts_at) {_FROM} WHERE {clause.sql} "
            f"GROUP BY s.career_event_id{having} "
            f"ORDER BY MIN(s.starts_at), s.career_event_id LIMIT {int(limit) + 1}",
            *clause.args,
        )
        page, more = rows[:limit], len(rows) > limit
        entries = await self._entries([row[0] for row in page], where)
        by_id = {str(entry.career_event.career_event_id): entry for entry in entries}
        ordered = tuple(by_id[row[0]] for row in page if row[0] in by_id)
        cursor = None
        if more and page:
            last = page[-1]
            cursor = CatalogueCursor(datetime.fromisoformat(last[1]), UUID(last[0]))
        return CataloguePage(ordered, cursor)

    async def _entries(self, ids: list[str], where: CatalogueFilter | None) -> list[CatalogueEntry]:
        """The entries of `ids`; their matching sessions those `where` admits (None: all)."""
        if not ids:
            return []
        marks = ", ".join(f"${n}" for n in range(1, len(ids) + 1))
        events = await self._fetch(
            f"SELECT career_event_id, published, cancelled FROM {{cat_career_events}} "  # noqa: S608 - parameter marks only
            f"WHERE career_event_id IN ({marks})",
            *ids,
        )
        sessions = await self._fetch(
            f"SELECT career_event_id, session_id, starts_at, ends_at, capacity, seats_left, "  # noqa: S608 - parameter marks only
            f"waiting FROM {{cat_sessions}} WHERE career_event_id IN ({marks}) "
            f"ORDER BY starts_at, session_id",
            *ids,
        )
        matching: set[tuple[str, str]] = {(row[0], row[1]) for row in sessions}
        if where is not None:
            clause = _where(where)
            base = len(clause.args)
            listed = ", ".join(f"${base + n}" for n in range(1, len(ids) + 1))
            rows = await self._fetch(
                f"SELECT s.career_event_id, s.session_id {_FROM} WHERE {clause.sql} "
                f"AND s.career_event_id IN ({listed})",
                *clause.args,
                *ids,
            )
            matching = {(row[0], row[1]) for row in rows}
        entries = []
        for career_event_id, published, cancelled in events:
            own = [row for row in sessions if row[0] == career_event_id]
            entries.append(
                CatalogueEntry(
                    career_event=CareerEventPublished.model_validate_json(published),
                    cancelled=bool(cancelled),
                    sessions=tuple(_seats(row) for row in own),
                    matching=tuple(UUID(row[1]) for row in own if (row[0], row[1]) in matching),
                )
            )
        return entries


def _seats(row: Row) -> SessionSeats:
    _, session_id, starts_at, ends_at, capacity, seats_left, waiting = row
    return SessionSeats(
        session_id=UUID(session_id),
        starts_at=datetime.fromisoformat(starts_at),
        ends_at=datetime.fromisoformat(ends_at),
        capacity=int(capacity),
        seats_left=int(seats_left),
        waiting=int(waiting),
    )
