"""What the consent service knows of each participant beyond its own events: school, region,
season and grade (from identity's published events), and when their data is to be destroyed (from
its own). A `bilet.projections` projection keeps it in the service's read model, fed in-process
from the stores (embedded) or from Kafka by the worker (distributed). No personal data is held.
"""

from dataclasses import dataclass
from datetime import date
from typing import Final
from uuid import UUID

from bilet.contracts import CATALOGUE, decode
from bilet.contracts.catalogue.consent import ConsentWithdrawn, ParticipantErased
from bilet.contracts.catalogue.identity import (
    ParticipantDetailsCorrected,
    ParticipantEnrolledInSeason,
    ParticipantMovedToSchool,
    ParticipantRegistered,
)
from bilet.eventstore import RecordedEvent
from bilet.projections import NotApplied, ReadModel, ReadModelTx, Table

PROJECTION: Final = "consent_participants"
TABLE: Final = "participants"
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
        "ConsentWithdrawn",
        "ParticipantErased",
    }
)

_UPSERT_PLACEMENT: Final = (
    "INSERT INTO {participants} (participant_id, school_id, region_id, season, grade, erased) "
    "VALUES ($1, $2, $3, $4, $5, FALSE) ON CONFLICT (participant_id) DO UPDATE SET "
    "school_id = excluded.school_id, region_id = excluded.region_id, "
    "season = excluded.season, grade = excluded.grade"
)


class ParticipantFactsProjection:
    name = PROJECTION
    tables = (
        Table(
            TABLE,
            "participant_id TEXT PRIMARY KEY, school_id TEXT, region_id TEXT, season BIGINT, "
            "grade INTEGER, erase_by TEXT, erased BOOLEAN NOT NULL",
            indexes=("erase_by", "school_id"),
        ),
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
                    "SELECT season FROM {participants} WHERE participant_id = $1",
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
                    "UPDATE {participants} SET school_id = $2, region_id = $3, grade = $4 "
                    "WHERE participant_id = $1",
                    str(moved.participant_id),
                    str(moved.to_school_id),
                    str(moved.to_region_id),
                    moved.grade,
                )
            case ParticipantDetailsCorrected(grade=int() as grade) as corrected:
                await tx.execute(
                    "UPDATE {participants} SET grade = $2 WHERE participant_id = $1",
                    str(corrected.participant_id),
                    grade,
                )
            case ConsentWithdrawn() as withdrawn:
                await tx.execute(
                    "INSERT INTO {participants} (participant_id, erase_by, erased) "
                    "VALUES ($1, $2, FALSE) ON CONFLICT (participant_id) DO UPDATE "
                    "SET erase_by = excluded.erase_by",
                    str(withdrawn.participant_id),
                    withdrawn.erase_by.isoformat(),
                )
            case ParticipantErased() as erased:
                await tx.execute(
                    "INSERT INTO {participants} (participant_id, erased) VALUES ($1, TRUE) "
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
                    "SELECT participant_id, school_id, region_id, season, grade, erase_by, erased "
                    "FROM {participants} WHERE participant_id = $1",
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
        )

    async def due_for_erasure(self, as_of: date) -> list[UUID]:
        async with self.read_model.query(self.projection) as tx:
            try:
                rows = await tx.fetch(
                    "SELECT participant_id FROM {participants} "
                    "WHERE erase_by IS NOT NULL AND erase_by <= $1 AND NOT erased "
                    "ORDER BY erase_by, participant_id",
                    as_of.isoformat(),
                )
            except Exception as error:
                if self.read_model.is_missing_table(error):
                    return []
                raise
        return [UUID(row[0]) for row in rows]

    async def in_region(self, region_id: UUID) -> list[ParticipantFacts]:
        async with self.read_model.query(self.projection) as tx:
            rows = await tx.fetch(
                "SELECT participant_id FROM {participants} WHERE region_id = $1 "
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
