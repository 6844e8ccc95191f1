"""The projection behind `Facts` and `Catalogue` (`adapters/facts.py`): identity's and consent's
published events folded into the read model's `fact_*` tables, and the service's own into the
catalogue's `cat_*` tables (`adapters/catalogue_projection.py`) — one projection, so one feed and
one checkpoint serve both.

Fed in-process from the stores (embedded) or from Kafka by `python -m bilet_events.worker`
(distributed), on SQLite or PostgreSQL alike. No readable personal data is held: ids, grades,
seasons, dates, purposes, schools' public names, and a pupil's full name and accessibility needs
only as the sealed values identity published (the needs with the generation of the health key
that seals them; docs/adr/0017, 0026); nothing here holds a key or opens it.

Determinism: sources and streams interleave differently on every feed, so every change is confined
to one stream (a participant's identity columns, their consent columns, a season's rules, a
school, a career event) and a replay in any interleaving builds the same tables.
"""

from typing import Final
from uuid import UUID

from pydantic import TypeAdapter

from bilet.contracts import CATALOGUE, decode
from bilet.contracts.catalogue.identity import (
    ParticipantDetailsCorrected,
    ParticipantEnrolledInSeason,
    ParticipantMovedToSchool,
    ParticipantRegistered,
    SchoolRegistered,
    SeasonRulesPublished,
)
from bilet.contracts.sealed import FIRST_GENERATION, Sealed
from bilet.eventstore import RecordedEvent
from bilet.facts import CONSENT, IDENTITY, pupils
from bilet.projections import ReadModelTx, Table
from bilet_events.adapters import catalogue_projection

# Version 2 keeps the pupil's sealed full name and the school's name (the roster, ADR 0032): a
# new name and new tables, so an existing read model is rebuilt from the sources rather than
# read without the columns.
# Version 3 names the kept profile of a merged one (`merged_into`, docs/adr/0043).
PROJECTION: Final = "events_facts_v3"
EVENTS: Final = "events"
SOURCES: Final = (IDENTITY, CONSENT, EVENTS)

SEALED: Final = TypeAdapter(Sealed)

# The consent columns, the erasure and the merge of a pupil as `bilet.facts.pupils` folds them,
# and identity's facts below.
HANDLED: Final = pupils.HANDLED | frozenset(
    {
        "SeasonRulesPublished",
        "SchoolRegistered",
        "ParticipantRegistered",
        "ParticipantEnrolledInSeason",
        "ParticipantMovedToSchool",
        "ParticipantDetailsCorrected",
    }
)

FACT_TABLES: Final = (
    # Identity's columns (participant stream) and consent's (consent stream): either may come
    # first. `needs` is the sealed value (JSON) and `needs_generation` its health key's;
    # `full_name` the sealed value (JSON) of the participant key.
    Table(
        "fact_pupils_v2",
        "participant_id TEXT PRIMARY KEY, school_id TEXT, region_id TEXT, season BIGINT, "
        "grade INTEGER, needs TEXT, needs_generation INTEGER, consent_id TEXT, purposes TEXT, "
        "valid_until TEXT, erased BOOLEAN NOT NULL, full_name TEXT, merged_into TEXT",
    ),
    Table(
        "fact_seasons",
        "season BIGINT PRIMARY KEY, rules_version BIGINT NOT NULL, "
        "max_career_events INTEGER NOT NULL",
    ),
    Table(
        "fact_schools_v2",
        "school_id TEXT PRIMARY KEY, region_id TEXT NOT NULL, municipality TEXT NOT NULL, "
        "name TEXT NOT NULL",
    ),
)

# A later season's registration or enrolment is the current placement; the sealed needs of an
# erased pupil are not kept (their key is gone: the value could never be opened).
_PLACE: Final = (
    "INSERT INTO {fact_pupils_v2} (participant_id, school_id, region_id, season, grade, erased) "
    "VALUES ($1, $2, $3, $4, $5, FALSE) ON CONFLICT (participant_id) DO UPDATE SET "
    "school_id = excluded.school_id, region_id = excluded.region_id, season = excluded.season, "
    "grade = excluded.grade WHERE {fact_pupils_v2}.season IS NULL "
    "OR {fact_pupils_v2}.season <= excluded.season"
)
_NEEDS: Final = (
    "UPDATE {fact_pupils_v2} SET needs = $2, needs_generation = $3 "
    "WHERE participant_id = $1 AND NOT erased"
)
_FULL_NAME: Final = (
    "UPDATE {fact_pupils_v2} SET full_name = $2 WHERE participant_id = $1 AND NOT erased"
)

# An erasure also drops the sealed values: their keys are gone, they could never be opened.
_CONSENT_COLUMNS: Final = pupils.PupilConsentColumns(
    "fact_pupils_v2", erasure_clears=("needs", "needs_generation", "full_name")
)


def _sealed_text(value: Sealed) -> str:
    return SEALED.dump_json(value, by_alias=True).decode()


class FactsProjection:
    name = PROJECTION
    tables = FACT_TABLES + catalogue_projection.TABLES

    async def apply(self, tx: ReadModelTx, event: RecordedEvent) -> None:
        if not CATALOGUE.is_published(event.type):
            return  # internal streams (the booking ledger, answers), the audit trail
        if event.type in catalogue_projection.HANDLED:
            await catalogue_projection.apply_catalogue(tx, event)
            return
        if event.type not in HANDLED:
            return
        fact = decode(event)
        # Withdrawing health data destroys the health key: the sealed needs stay as they are
        # (unopenable), and without the purpose no reader is given them.
        if await _CONSENT_COLUMNS.apply(tx, fact):
            return
        match fact:
            case SeasonRulesPublished() as rules:
                # The highest rules version of a season is in force.
                await tx.execute(
                    "INSERT INTO {fact_seasons} (season, rules_version, max_career_events) "
                    "VALUES ($1, $2, $3) ON CONFLICT (season) DO UPDATE SET "
                    "rules_version = excluded.rules_version, "
                    "max_career_events = excluded.max_career_events "
                    "WHERE {fact_seasons}.rules_version <= excluded.rules_version",
                    rules.season,
                    rules.rules_version,
                    rules.max_career_events,
                )
            case SchoolRegistered() as school:
                await tx.execute(
                    "INSERT INTO {fact_schools_v2} (school_id, region_id, municipality, name) "
                    "VALUES ($1, $2, $3, $4) ON CONFLICT (school_id) DO UPDATE SET "
                    "region_id = excluded.region_id, municipality = excluded.municipality, "
                    "name = excluded.name",
                    str(school.school_id),
                    str(school.region_id),
                    school.municipality,
                    school.name,
                )
            case ParticipantRegistered() as registered:
                pid = str(registered.participant_id)
                await self._placed(
                    tx,
                    registered.participant_id,
                    registered.season,
                    registered.school_id,
                    registered.region_id,
                    registered.grade,
                )
                # A registration is always of the health key's first generation (ADR 0026).
                await tx.execute(
                    _NEEDS, pid, _sealed_text(registered.accessibility_needs), FIRST_GENERATION
                )
                await tx.execute(_FULL_NAME, pid, _sealed_text(registered.full_name))
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
                await tx.execute(
                    "UPDATE {fact_pupils_v2} SET school_id = $2, region_id = $3, grade = $4 "
                    "WHERE participant_id = $1",
                    str(moved.participant_id),
                    str(moved.to_school_id),
                    str(moved.to_region_id),
                    moved.grade,
                )
            case ParticipantDetailsCorrected() as corrected:
                await self._corrected(tx, corrected)

    async def _corrected(self, tx: ReadModelTx, corrected: ParticipantDetailsCorrected) -> None:
        pid = str(corrected.participant_id)
        if corrected.grade is not None:
            await tx.execute(
                "UPDATE {fact_pupils_v2} SET grade = $2 WHERE participant_id = $1",
                pid,
                corrected.grade,
            )
        if corrected.full_name is not None:
            await tx.execute(_FULL_NAME, pid, _sealed_text(corrected.full_name))
        if corrected.accessibility_needs is not None:
            # The validator guarantees a generation whenever a health field is stated.
            generation = corrected.key_generation or FIRST_GENERATION
            await tx.execute(_NEEDS, pid, _sealed_text(corrected.accessibility_needs), generation)

    async def _placed(
        self,
        tx: ReadModelTx,
        participant_id: UUID,
        season: int,
        school_id: UUID,
        region_id: UUID,
        grade: int,
    ) -> None:
        """A registration or an enrolment: the current placement unless the season is earlier
        than the current one."""
        await tx.execute(_PLACE, str(participant_id), str(school_id), str(region_id), season, grade)


FACTS_PROJECTION: Final = FactsProjection()
