"""`Facts` answered from the read model the projection builds (`adapters/facts_projection.py`):
fed in-process from the stores (embedded) or from Kafka by `python -m bilet_diagnostics.worker`
(distributed), on SQLite or PostgreSQL alike. What to register: `FACTS_PROJECTION`, fed from
`SOURCES`; what to build: `ReadModelFacts(read_model)`.
"""

import logging
from datetime import date, datetime
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bilet.contracts.vocabulary import Stage
from bilet.facts import CONSENT, IDENTITY
from bilet.facts.queries import ReadModelQueries, purposes_in_force
from bilet_diagnostics.adapters.facts_projection import (
    DIAGNOSTICS,
    FACTS_PROJECTION,
    PROJECTION,
    SOURCES,
    FactsProjection,
)
from bilet_diagnostics.application.facts import (
    EnrolledPupil,
    Pupil,
    SchoolProgress,
    school_progress,
)

__all__ = [
    "CONSENT",
    "DIAGNOSTICS",
    "FACTS_PROJECTION",
    "IDENTITY",
    "PROJECTION",
    "SOURCES",
    "FactsProjection",
    "ReadModelFacts",
]

_log = logging.getLogger(__name__)


class ReadModelFacts(ReadModelQueries):
    """`Facts` over the projection's tables."""

    projection = FACTS_PROJECTION

    async def pupil(self, participant_id: UUID, today: date) -> Pupil | None:
        pid = str(participant_id)
        rows = await self._fetch(
            "SELECT school_id, region_id, grade, season, purposes, valid_until, erased, "
            "merged_into FROM {fact_pupils} WHERE participant_id = $1",
            pid,
        )
        if not rows or rows[0][0] is None:
            return None  # identity's registration has not arrived
        school_id, region_id, grade, season, purposes, valid_until, erased, merged = rows[0]
        seasons = await self._fetch(
            "SELECT season FROM {fact_enrolments} WHERE participant_id = $1", pid
        )
        return Pupil(
            participant_id=participant_id,
            school_id=UUID(school_id),
            region_id=UUID(region_id),
            grade=int(grade),
            season=int(season),
            seasons=frozenset(int(row[0]) for row in seasons),
            purposes=purposes_in_force(purposes, valid_until, today),
            erased=bool(erased),
            merged_into=None if merged is None else UUID(merged),
        )

    async def season_stages(self, season: int, on: date | None = None) -> tuple[Stage, ...] | None:
        # The version in force on `on`: the highest applying by then; before the season's
        # first version applies, the first one (what the season is planned to be). Without a
        # day, the highest version (the rules as they stand now).
        rows = await self._fetch(
            "SELECT stages FROM {fact_season_versions} WHERE season = $1 "
            "ORDER BY CASE WHEN applies_from <= $2 THEN 0 ELSE 1 END, "
            "CASE WHEN applies_from <= $2 THEN -rules_version ELSE rules_version END LIMIT 1",
            season,
            "9999-12-31" if on is None else on.isoformat(),
        )
        if not rows:
            return None
        return tuple(Stage(value) for value in rows[0][0].split(","))

    async def region_today(self, region_id: UUID, now: datetime) -> date | None:
        rows = await self._fetch(
            "SELECT time_zone FROM {fact_regions} WHERE region_id = $1", str(region_id)
        )
        if not rows:
            return None
        try:
            zone = ZoneInfo(rows[0][0])
        except (ZoneInfoNotFoundError, ValueError):
            # Identity checks only the form of the name; a zone this machine's database lacks
            # is an operator's problem to see, and no day can be told in it.
            _log.warning("unknown time zone", extra={"region_id": str(region_id)})
            return None
        return now.astimezone(zone).date()

    async def window_open(self, region_id: UUID, season: int, stage: Stage, today: date) -> bool:
        rows = await self._fetch(
            "SELECT 1 FROM {fact_windows} WHERE region_id = $1 AND season = $2 AND stage = $3 "
            "AND opens_on <= $4 AND closes_on >= $4 LIMIT 1",
            str(region_id),
            season,
            stage.value,
            today.isoformat(),
        )
        return bool(rows)

    async def progress(self, school_id: UUID, season: int) -> SchoolProgress:
        school = str(school_id)
        region = await self._fetch(
            "SELECT region_id FROM {fact_schools} WHERE school_id = $1", school
        )
        enrolled = await self._fetch(
            "SELECT e.participant_id, e.grade FROM {fact_enrolments} e "
            "JOIN {fact_pupils} p ON p.participant_id = e.participant_id "
            "WHERE e.school_id = $1 AND e.season = $2 AND NOT p.erased",
            school,
            season,
        )
        stages = await self._fetch(
            "SELECT s.participant_id, s.stage, s.completed FROM {fact_stages} s "
            "JOIN {fact_enrolments} e ON e.participant_id = s.participant_id "
            "AND e.season = s.season WHERE e.school_id = $1 AND s.season = $2",
            school,
            season,
        )
        started: dict[str, set[Stage]] = {}
        completed: dict[str, set[Stage]] = {}
        for participant_id, stage, done in stages:
            started.setdefault(participant_id, set()).add(Stage(stage))
            if done:
                completed.setdefault(participant_id, set()).add(Stage(stage))
        pupils = [
            EnrolledPupil(
                participant_id=UUID(participant_id),
                grade=int(grade),
                started=frozenset(started.get(participant_id, ())),
                completed=frozenset(completed.get(participant_id, ())),
            )
            for participant_id, grade in enrolled
        ]
        return school_progress(
            school_id,
            UUID(region[0][0]) if region else None,
            season,
            await self.season_stages(season),
            pupils,
        )
