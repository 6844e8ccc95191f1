"""The projection behind `Facts` (`adapters/facts.py`): identity's, consent's and this service's
own published events, folded into the read model's `fact_*` tables.

Fed in-process from the stores (embedded) or from Kafka by `python -m bilet_diagnostics.worker`
(distributed), on SQLite or PostgreSQL alike. No personal data is held: ids, grades, seasons,
dates, purposes, time zones.

Determinism: streams and sources interleave differently on every feed, so every change is
confined to one stream (a participant's identity columns and enrolments, their consent columns,
a region's windows, a season's rules) or commutative (a stage started or completed by any
attempt), and a replay in any interleaving builds the same tables.
"""

from typing import Any, Final
from uuid import UUID

from bilet.contracts import CATALOGUE, decode
from bilet.contracts.catalogue.diagnostics import StageCompleted, StageStarted
from bilet.contracts.catalogue.identity import (
    DiagnosticsWindowScheduled,
    ParticipantDetailsCorrected,
    ParticipantEnrolledInSeason,
    ParticipantMovedToSchool,
    ParticipantRegistered,
    RegionAdmitted,
    SchoolRegistered,
    SeasonRulesPublished,
)
from bilet.eventstore import RecordedEvent
from bilet.facts import CONSENT, IDENTITY, pupils
from bilet.projections import ReadModelTx, Table

# Version 2 keeps every version of a season's rules with the day it applies from (docs/adr/0050)
# and the kept profile of a merged one (docs/adr/0043): a new name, so an existing read model is
# rebuilt from the sources.
PROJECTION: Final = "diagnostics_facts_v2"
DIAGNOSTICS: Final = "diagnostics"
SOURCES: Final = (IDENTITY, CONSENT, DIAGNOSTICS)

# What is applied: the consent columns, the erasure and the merge of a pupil as
# `bilet.facts.pupils` folds them, and identity's and the service's own facts below.
HANDLED: Final = pupils.HANDLED | frozenset(
    {
        "SeasonRulesPublished",
        "RegionAdmitted",
        "DiagnosticsWindowScheduled",
        "SchoolRegistered",
        "ParticipantRegistered",
        "ParticipantEnrolledInSeason",
        "ParticipantMovedToSchool",
        "ParticipantDetailsCorrected",
        "StageStarted",
        "StageCompleted",
    }
)

TABLES: Final = (
    # A participant: identity's columns (from their participant stream) and consent's (from their
    # consent stream); either may arrive first.
    Table(
        "fact_pupils",
        "participant_id TEXT PRIMARY KEY, school_id TEXT, region_id TEXT, season BIGINT, "
        "grade INTEGER, consent_id TEXT, purposes TEXT, valid_until TEXT, "
        "erased BOOLEAN NOT NULL, merged_into TEXT",
    ),
    # Every season a participant is enrolled in, at the school and grade of that season (a move
    # or a correction changes the current season's row only, as identity's fold does).
    Table(
        "fact_enrolments",
        "participant_id TEXT NOT NULL, season BIGINT NOT NULL, school_id TEXT NOT NULL, "
        "region_id TEXT NOT NULL, grade INTEGER NOT NULL, PRIMARY KEY (participant_id, season)",
        indexes=("school_id, season",),
    ),
    # Every version of a season's rules: the one in force on a day is the highest whose
    # `applies_from` is on or before it (a revision never rewrites the season's past).
    Table(
        "fact_season_versions",
        "season BIGINT NOT NULL, rules_version BIGINT NOT NULL, applies_from TEXT NOT NULL, "
        "stages TEXT NOT NULL, PRIMARY KEY (season, rules_version)",
    ),
    Table("fact_regions", "region_id TEXT PRIMARY KEY, time_zone TEXT NOT NULL"),
    Table("fact_schools", "school_id TEXT PRIMARY KEY, region_id TEXT NOT NULL"),
    # One row per stage of a window; a window is keyed by its region, season and stage list, as
    # in identity's region fold: a later window with the same stages replaces the earlier one,
    # a window with other stages is added beside it.
    Table(
        "fact_windows",
        "region_id TEXT NOT NULL, season BIGINT NOT NULL, stages TEXT NOT NULL, "
        "stage TEXT NOT NULL, opens_on TEXT NOT NULL, closes_on TEXT NOT NULL, "
        "PRIMARY KEY (region_id, season, stages, stage)",
        indexes=("region_id, season, stage",),
    ),
    # A stage a participant started in a season (by any attempt), and whether any completed.
    Table(
        "fact_stages",
        "participant_id TEXT NOT NULL, season BIGINT NOT NULL, stage TEXT NOT NULL, "
        "completed BOOLEAN NOT NULL, PRIMARY KEY (participant_id, season, stage)",
        indexes=("season, stage",),
    ),
)

_PLACE: Final = (
    "INSERT INTO {fact_pupils} (participant_id, school_id, region_id, season, grade, erased) "
    "VALUES ($1, $2, $3, $4, $5, FALSE) ON CONFLICT (participant_id) DO UPDATE SET "
    "school_id = excluded.school_id, region_id = excluded.region_id, "
    "season = excluded.season, grade = excluded.grade"
)
_ENROL: Final = (
    "INSERT INTO {fact_enrolments} (participant_id, season, school_id, region_id, grade) "
    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (participant_id, season) DO UPDATE SET "
    "school_id = excluded.school_id, region_id = excluded.region_id, grade = excluded.grade"
)
# A move or a correction changes the current season's enrolment (identity's `_with_current`).
_MOVE_ENROLMENT: Final = (
    "UPDATE {fact_enrolments} SET school_id = $2, region_id = $3, grade = $4 "
    "WHERE participant_id = $1 AND season = "
    "(SELECT season FROM {fact_pupils} WHERE participant_id = $1)"
)
_CORRECT_ENROLMENT: Final = (
    "UPDATE {fact_enrolments} SET grade = $2 WHERE participant_id = $1 AND season = "
    "(SELECT season FROM {fact_pupils} WHERE participant_id = $1)"
)

_CONSENT_COLUMNS: Final = pupils.PupilConsentColumns("fact_pupils")


def _joined(values: Any) -> str:
    return ",".join(str(value) for value in values)


class FactsProjection:
    name = PROJECTION
    tables = TABLES

    async def apply(self, tx: ReadModelTx, event: RecordedEvent) -> None:
        if event.type not in HANDLED or not CATALOGUE.is_published(event.type):
            return  # other facts, internal streams (answers), the audit trail
        fact = decode(event)
        if await _CONSENT_COLUMNS.apply(tx, fact):
            return
        match fact:
            case SeasonRulesPublished() as rules:
                await tx.execute(
                    "INSERT INTO {fact_season_versions} "
                    "(season, rules_version, applies_from, stages) VALUES ($1, $2, $3, $4) "
                    "ON CONFLICT (season, rules_version) DO UPDATE SET "
                    "applies_from = excluded.applies_from, stages = excluded.stages",
                    rules.season,
                    rules.rules_version,
                    rules.applies_from.isoformat(),
                    _joined(stage.value for stage in rules.diagnostics_stages),
                )
            case RegionAdmitted() as region:
                await tx.execute(
                    "INSERT INTO {fact_regions} (region_id, time_zone) VALUES ($1, $2) "
                    "ON CONFLICT (region_id) DO UPDATE SET time_zone = excluded.time_zone",
                    str(region.region_id),
                    region.time_zone,
                )
            case SchoolRegistered() as school:
                await tx.execute(
                    "INSERT INTO {fact_schools} (school_id, region_id) VALUES ($1, $2) "
                    "ON CONFLICT (school_id) DO UPDATE SET region_id = excluded.region_id",
                    str(school.school_id),
                    str(school.region_id),
                )
            case DiagnosticsWindowScheduled() as window:
                await self._window(tx, window)
            case ParticipantRegistered() as registered:
                await self._placed(
                    tx,
                    registered.participant_id,
                    registered.season,
                    registered.school_id,
                    registered.region_id,
                    registered.grade,
                )
            case ParticipantEnrolledInSeason() as enrolled:
                await self._placed(
                    tx,
                    enrolled.participant_id,
                    enrolled.season,
                    enrolled.school_id,
                    enrolled.region_id,
                    enrolled.grade,
                )
            case ParticipantMovedToSchool() as moved:
                pid = str(moved.participant_id)
                await tx.execute(
                    _MOVE_ENROLMENT,
                    pid,
                    str(moved.to_school_id),
                    str(moved.to_region_id),
                    moved.grade,
                )
                await tx.execute(
                    "UPDATE {fact_pupils} SET school_id = $2, region_id = $3, grade = $4 "
                    "WHERE participant_id = $1",
                    pid,
                    str(moved.to_school_id),
                    str(moved.to_region_id),
                    moved.grade,
                )
            case ParticipantDetailsCorrected(grade=int() as grade) as corrected:
                pid = str(corrected.participant_id)
                await tx.execute(_CORRECT_ENROLMENT, pid, grade)
                await tx.execute(
                    "UPDATE {fact_pupils} SET grade = $2 WHERE participant_id = $1", pid, grade
                )
            case StageStarted() as started:
                await tx.execute(
                    "INSERT INTO {fact_stages} (participant_id, season, stage, completed) "
                    "VALUES ($1, $2, $3, FALSE) ON CONFLICT (participant_id, season, stage) "
                    "DO NOTHING",
                    str(started.participant_id),
                    started.season,
                    started.stage.value,
                )
            case StageCompleted() as completed:
                await tx.execute(
                    "INSERT INTO {fact_stages} (participant_id, season, stage, completed) "
                    "VALUES ($1, $2, $3, TRUE) ON CONFLICT (participant_id, season, stage) "
                    "DO UPDATE SET completed = TRUE",
                    str(completed.participant_id),
                    completed.season,
                    completed.stage.value,
                )

    async def _window(self, tx: ReadModelTx, window: DiagnosticsWindowScheduled) -> None:
        stages = _joined(stage.value for stage in window.stages)
        await tx.executemany(
            "INSERT INTO {fact_windows} (region_id, season, stages, stage, opens_on, closes_on) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (region_id, season, stages, stage) "
            "DO UPDATE SET opens_on = excluded.opens_on, closes_on = excluded.closes_on",
            [
                (
                    str(window.region_id),
                    window.season,
                    stages,
                    stage.value,
                    window.opens_on.isoformat(),
                    window.closes_on.isoformat(),
                )
                for stage in window.stages
            ],
        )

    async def _placed(
        self,
        tx: ReadModelTx,
        participant_id: UUID,
        season: int,
        school_id: UUID,
        region_id: UUID,
        grade: int,
    ) -> None:
        """A registration or an enrolment: the season's row, and the current placement unless
        the season is earlier than the current one."""
        pid = str(participant_id)
        await tx.execute(_ENROL, pid, season, str(school_id), str(region_id), grade)
        current = await tx.fetchval(
            "SELECT season FROM {fact_pupils} WHERE participant_id = $1", pid
        )
        if current is None or season >= current:
            await tx.execute(_PLACE, pid, str(school_id), str(region_id), season, grade)


FACTS_PROJECTION: Final = FactsProjection()
