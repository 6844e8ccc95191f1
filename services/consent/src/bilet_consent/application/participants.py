"""What the consent service knows of each participant beyond its own events: school, region,
season and grade (from identity's published events), and when their data is to be destroyed (from
its own: the earliest `erase_by` of a withdrawal, and the last day of the verified consent, for
the destruction on expiry). A `bilet.projections` projection keeps it in the service's read model,
fed in-process from the stores (embedded) or from Kafka by the worker (distributed). No personal
data is held.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final
from uuid import UUID

from bilet.contracts import CATALOGUE, decode
from bilet.contracts.catalogue.consent import (
    ConsentPurposesWithdrawn,
    ConsentRejected,
    ConsentSubmitted,
    ConsentVerified,
    ConsentWithdrawn,
    ParticipantErased,
)
from bilet.contracts.catalogue.identity import (
    ParticipantDetailsCorrected,
    ParticipantEnrolledInSeason,
    ParticipantLeftProgramme,
    ParticipantMerged,
    ParticipantMovedToSchool,
    ParticipantRegistered,
)
from bilet.eventstore import RecordedEvent
from bilet.projections import NotApplied, ReadModel, ReadModelTx, Table
from bilet_consent.application import consent_rows

# Version 2 added the verified consent's last day (`verified_until`); version 3 the consents
# themselves (`consent_rows`, for the lists) and the consent of the first withdrawal: a new name,
# so an existing read model is rebuilt from the sources rather than read without them; version 4
# whether the participant left the school or the programme (`left_programme`, docs/adr/0050) and
# the kept profile of a merged one (`merged_into`, docs/adr/0043).
PROJECTION: Final = "consent_participants_v4"
TABLE: Final = "participant_facts"
IDENTITY: Final = "identity"
CONSENT: Final = "consent"
SOURCES: Final = (IDENTITY, CONSENT)
# Identity's published participant events, and the consent service's own erasure schedule.
_HANDLED: Final = frozenset(
    {
        "ParticipantRegistered",
        "ParticipantEnrolledInSeason",
        "ParticipantMovedToSchool",
        "ParticipantDetailsCorrected",
        "ParticipantLeftProgramme",
        "ParticipantMerged",
        "ConsentSubmitted",
        "ConsentVerified",
        "ConsentRejected",
        "ConsentPurposesWithdrawn",
        "ConsentWithdrawn",
        "ParticipantErased",
    }
)

_UPSERT_PLACEMENT: Final = (
    "INSERT INTO {participant_facts} "
    "(participant_id, school_id, region_id, season, grade, erased) "
    "VALUES ($1, $2, $3, $4, $5, FALSE) ON CONFLICT (participant_id) DO UPDATE SET "
    "school_id = excluded.school_id, region_id = excluded.region_id, "
    "season = excluded.season, grade = excluded.grade, left_programme = FALSE"
)


class ParticipantFactsProjection:
    name = PROJECTION
    tables = (
        Table(
            TABLE,
            "participant_id TEXT PRIMARY KEY, school_id TEXT, region_id TEXT, season BIGINT, "
            "grade INTEGER, erase_by TEXT, verified_until TEXT, erased BOOLEAN NOT NULL, "
            "withdrawal TEXT, left_programme BOOLEAN NOT NULL DEFAULT FALSE, merged_into TEXT",
            indexes=("erase_by", "school_id", "verified_until", "region_id"),
        ),
        consent_rows.CONSENTS_TABLE,
    )

    async def apply(self, tx: ReadModelTx, event: RecordedEvent) -> None:
        if event.type not in _HANDLED or not CATALOGUE.is_published(event.type):
            return  # other facts, internal bookkeeping, the audit trail
        match decode(event):
            case ParticipantRegistered() as registered:
                await tx.execute(
                    _UPSERT_PLACEMENT,
                    str(registered.participant_id),
                    str(registered.school_id),
                    str(registered.region_id),
                    registered.season,
                    registered.grade,
                )
            case ParticipantEnrolledInSeason() as enrolled:
                season = await tx.fetchval(
                    "SELECT season FROM {participant_facts} WHERE participant_id = $1",
                    str(enrolled.participant_id),
                )
                if season is None or enrolled.season >= season:
                    await tx.execute(
                        _UPSERT_PLACEMENT,
                        str(enrolled.participant_id),
                        str(enrolled.school_id),
                        str(enrolled.region_id),
                        enrolled.season,
                        enrolled.grade,
                    )
            case ParticipantMovedToSchool() as moved:
                await tx.execute(
                    "UPDATE {participant_facts} SET school_id = $2, region_id = $3, grade = $4, "
                    "left_programme = FALSE WHERE participant_id = $1",
                    str(moved.participant_id),
                    str(moved.to_school_id),
                    str(moved.to_region_id),
                    moved.grade,
                )
            case ParticipantDetailsCorrected(grade=int() as grade) as corrected:
                await tx.execute(
                    "UPDATE {participant_facts} SET grade = $2 WHERE participant_id = $1",
                    str(corrected.participant_id),
                    grade,
                )
            case ParticipantLeftProgramme() as left:
                # No school chases the consent of a pupil who left (until a move or a later
                # enrolment brings them back); their consents stay as they are.
                await tx.execute(
                    "UPDATE {participant_facts} SET left_programme = TRUE "
                    "WHERE participant_id = $1",
                    str(left.participant_id),
                )
            case ParticipantMerged() as merged:
                # A second profile of one child, closed (docs/adr/0043): nothing new is
                # submitted under it. Re-attributing its consent to the kept profile is not
                # done here.
                await tx.execute(
                    "UPDATE {participant_facts} SET merged_into = $2 WHERE participant_id = $1",
                    str(merged.participant_id),
                    str(merged.kept_participant_id),
                )
            case ConsentSubmitted() as submitted:
                await consent_rows.record_submission(tx, submitted, event)
            case ConsentRejected() as rejected:
                await consent_rows.record_rejection(tx, rejected)
            case ConsentPurposesWithdrawn() as narrowed:
                await consent_rows.record_purposes_withdrawn(tx, narrowed)
            case ConsentVerified() as verified:
                await consent_rows.record_verification(tx, verified)
                # The latest verified consent is the one in force: its last day decides the
                # destruction on expiry (stream order: a later verification replaces it).
                await tx.execute(
                    "INSERT INTO {participant_facts} (participant_id, verified_until, erased) "
                    "VALUES ($1, $2, FALSE) ON CONFLICT (participant_id) DO UPDATE "
                    "SET verified_until = excluded.verified_until",
                    str(verified.participant_id),
                    verified.valid_until.isoformat(),
                )
            case ConsentWithdrawn() as withdrawn:
                # The earliest date wins: a duplicate, a replay or a later withdrawal never
                # postpones a destruction. A whole withdrawal ends the consent in force.
                known = await tx.fetchval(
                    "SELECT erase_by FROM {participant_facts} WHERE participant_id = $1",
                    str(withdrawn.participant_id),
                )
                erase_by = withdrawn.erase_by.isoformat()
                if known is not None and known < erase_by:
                    erase_by = known
                # The first withdrawal stays the ground of the destruction (as the decider's).
                await tx.execute(
                    "INSERT INTO {participant_facts} "
                    "(participant_id, erase_by, verified_until, erased) "
                    "VALUES ($1, $2, NULL, FALSE) ON CONFLICT (participant_id) DO UPDATE "
                    "SET erase_by = excluded.erase_by, verified_until = NULL",
                    str(withdrawn.participant_id),
                    erase_by,
                )
                await tx.execute(
                    "UPDATE {participant_facts} SET withdrawal = $2 "
                    "WHERE participant_id = $1 AND withdrawal IS NULL",
                    str(withdrawn.participant_id),
                    str(withdrawn.consent_id),
                )
                await consent_rows.record_withdrawal(tx, str(withdrawn.consent_id))
            case ParticipantErased() as erased:
                await tx.execute(
                    "INSERT INTO {participant_facts} (participant_id, erased) VALUES ($1, TRUE) "
                    "ON CONFLICT (participant_id) DO UPDATE SET erased = TRUE",
                    str(erased.participant_id),
                )


@dataclass(frozen=True)
class ParticipantFacts:
    participant_id: UUID
    school_id: UUID | None
    region_id: UUID | None
    season: int | None
    grade: int | None
    erase_by: date | None
    erased: bool
    merged_into: UUID | None = None  # the kept profile, once merged (docs/adr/0043)

    @property
    def registered(self) -> bool:
        """Identity's registration has arrived (not only the consent service's own facts)."""
        return self.school_id is not None


def _uuid(value: str | None) -> UUID | None:
    return None if value is None else UUID(value)


class ParticipantDirectory:
    """Queries over the projection's table, and read-your-writes waits on identity's tokens."""

    def __init__(self, read_model: ReadModel) -> None:
        self.read_model = read_model
        self.projection = ParticipantFactsProjection()

    async def find(self, participant_id: UUID) -> ParticipantFacts | None:
        async with self.read_model.query(self.projection) as tx:
            try:
                row = await tx.fetchrow(
                    "SELECT participant_id, school_id, region_id, season, grade, erase_by, erased, "
                    "merged_into FROM {participant_facts} WHERE participant_id = $1",
                    str(participant_id),
                )
            except Exception as error:
                if self.read_model.is_missing_table(error):
                    return None  # the feed has not installed the projection yet
                raise
        if row is None:
            return None
        return ParticipantFacts(
            UUID(row[0]),
            _uuid(row[1]),
            _uuid(row[2]),
            row[3],
            row[4],
            None if row[5] is None else date.fromisoformat(row[5]),
            bool(row[6]),
            _uuid(row[7]),
        )

    async def due_for_erasure(self, as_of: date, erasure_days: int) -> list[UUID]:
        """Who is to be destroyed by `as_of`: a withdrawal's `erase_by` has come, or the verified
        consent ended `erasure_days` ago or more. Candidates: the consent stream decides."""
        async with self.read_model.query(self.projection) as tx:
            try:
                rows = await tx.fetch(
                    "SELECT participant_id FROM {participant_facts} WHERE NOT erased AND "
                    "((erase_by IS NOT NULL AND erase_by <= $1) OR "
                    "(erase_by IS NULL AND verified_until IS NOT NULL AND verified_until <= $2)) "
                    "ORDER BY participant_id",
                    as_of.isoformat(),
                    (as_of - timedelta(days=erasure_days)).isoformat(),
                )
            except Exception as error:
                if self.read_model.is_missing_table(error):
                    return []
                raise
        return [UUID(row[0]) for row in rows]

    async def overdue_erasures(self, today: date, erasure_days: int) -> int:
        """How many participants' destruction date has passed (before today) and who are still
        not erased: the job is not running, or fails."""
        async with self.read_model.query(self.projection) as tx:
            try:
                value = await tx.fetchval(
                    "SELECT count(*) FROM {participant_facts} WHERE NOT erased AND "
                    "((erase_by IS NOT NULL AND erase_by < $1) OR "
                    "(erase_by IS NULL AND verified_until IS NOT NULL AND verified_until < $2))",
                    today.isoformat(),
                    (today - timedelta(days=erasure_days)).isoformat(),
                )
            except Exception as error:
                if self.read_model.is_missing_table(error):
                    return 0
                raise
        return int(value or 0)

    async def in_region(self, region_id: UUID) -> list[ParticipantFacts]:
        async with self.read_model.query(self.projection) as tx:
            rows = await tx.fetch(
                "SELECT participant_id FROM {participant_facts} WHERE region_id = $1 "
                "ORDER BY participant_id",
                str(region_id),
            )
        found = [await self.find(UUID(row[0])) for row in rows]
        return [facts for facts in found if facts is not None]

    async def wait_for(
        self, source: str, position: int, timeout: float, stream_id: str | None = None
    ) -> bool:
        """Wait (bounded) until the projection has applied `source` up to `position`."""
        try:
            await self.read_model.wait_until(
                PROJECTION, source, position, timeout, stream_id=stream_id
            )
        except NotApplied:
            return False
        return True
