"""Who an export may contain, and the `participants` dimension of those it does.

A participant is in the population of an export when, at the end of the history it reads, their
guardian's verified consent covers `pseudonymised_analytics` (`Purpose.PSEUDONYMISED_ANALYTICS`):
the latest verified consent names the purpose, it was neither withdrawn (wholly, or for that
purpose) nor expired at the export's moment, and the participant was not erased. The fold reads
the whole history of identity and consent every run, since a consent given or withdrawn today
decides about events recorded long before.

The dimension keeps, per participant and season, only what groups pupils: region, municipality,
school, grade. No name, birth date, СНИЛС or health data is ever read (those fields are sealed
and stay so).
"""

from dataclasses import dataclass, field, replace
from datetime import date
from operator import itemgetter
from typing import Final
from uuid import UUID

import pyarrow as pa

from bilet.analytics.columns import Pseudonymise
from bilet.contracts import DomainEvent
from bilet.contracts.catalogue.consent import (
    ConsentPurposesWithdrawn,
    ConsentVerified,
    ConsentWithdrawn,
    ParticipantErased,
    Purpose,
)
from bilet.contracts.catalogue.identity import (
    ParticipantDetailsCorrected,
    ParticipantEnrolledInSeason,
    ParticipantMovedToSchool,
    ParticipantRegistered,
    RegionAdmitted,
    SchoolRegistered,
)

ANALYTICS: Final = Purpose.PSEUDONYMISED_ANALYTICS
# The event types the fold reads (from identity's and consent's streams).
POPULATION_TYPES: Final = frozenset(
    {
        "ConsentVerified",
        "ConsentWithdrawn",
        "ConsentPurposesWithdrawn",
        "ParticipantErased",
        "RegionAdmitted",
        "SchoolRegistered",
        "ParticipantRegistered",
        "ParticipantDetailsCorrected",
        "ParticipantMovedToSchool",
        "ParticipantEnrolledInSeason",
    }
)
# What ends a participant's place in an export whenever it was recorded (`--until` or not).
ENDINGS: Final = frozenset({"ConsentWithdrawn", "ConsentPurposesWithdrawn", "ParticipantErased"})
DIMENSION_SCHEMA: Final = pa.schema(
    [
        pa.field("participant_id", pa.string(), nullable=False),
        pa.field("season", pa.int64(), nullable=False),
        pa.field("region_id", pa.string(), nullable=False),
        pa.field("region", pa.string()),
        pa.field("region_code", pa.string()),
        pa.field("municipality", pa.string()),
        pa.field("school_id", pa.string(), nullable=False),
        pa.field("school", pa.string()),
        pa.field("grade", pa.int64(), nullable=False),
    ]
)


@dataclass(frozen=True)
class _Consent:
    consent_id: UUID
    purposes: frozenset[Purpose]
    valid_until: date


@dataclass(frozen=True)
class _Enrolment:
    school_id: UUID
    region_id: UUID
    grade: int


@dataclass
class Population:
    """The fold of identity's and consent's events; `apply` each, in each stream's order."""

    moment: date
    _consents: dict[UUID, _Consent] = field(default_factory=dict)
    _erased: set[UUID] = field(default_factory=set)
    _regions: dict[UUID, RegionAdmitted] = field(default_factory=dict)
    _schools: dict[UUID, SchoolRegistered] = field(default_factory=dict)
    # participant → season → where they are
    _enrolments: dict[UUID, dict[int, _Enrolment]] = field(default_factory=dict)

    def apply(self, event: DomainEvent) -> None:
        match event:
            case ConsentVerified():
                self._consents[event.participant_id] = _Consent(
                    event.consent_id, frozenset(event.purposes), event.valid_until
                )
            case ConsentWithdrawn():
                consent = self._consents.get(event.participant_id)
                if consent is not None and consent.consent_id == event.consent_id:
                    del self._consents[event.participant_id]
            case ConsentPurposesWithdrawn():
                consent = self._consents.get(event.participant_id)
                if consent is not None and consent.consent_id == event.consent_id:
                    self._consents[event.participant_id] = replace(
                        consent, purposes=consent.purposes - set(event.withdrawn)
                    )
            case ParticipantErased():
                self._erased.add(event.participant_id)
                self._enrolments.pop(event.participant_id, None)
            case RegionAdmitted():
                self._regions.setdefault(event.region_id, event)
            case SchoolRegistered():
                self._schools[event.school_id] = event
            case ParticipantRegistered() | ParticipantEnrolledInSeason():
                if event.participant_id not in self._erased:
                    self._enrolments.setdefault(event.participant_id, {})[event.season] = (
                        _Enrolment(event.school_id, event.region_id, event.grade)
                    )
            case ParticipantDetailsCorrected():
                self._latest_season_update(event.participant_id, grade=event.grade)
            case ParticipantMovedToSchool():
                self._latest_season_update(
                    event.participant_id,
                    school_id=event.to_school_id,
                    region_id=event.to_region_id,
                    grade=event.grade,
                )
            case _:
                pass  # other types say nothing about who is in the population

    def _latest_season_update(
        self,
        participant_id: UUID,
        *,
        school_id: UUID | None = None,
        region_id: UUID | None = None,
        grade: int | None = None,
    ) -> None:
        seasons = self._enrolments.get(participant_id)
        if not seasons:
            return
        season = max(seasons)
        current = seasons[season]
        seasons[season] = _Enrolment(
            school_id or current.school_id,
            region_id or current.region_id,
            grade if grade is not None else current.grade,
        )

    def covers(self, participant_id: UUID) -> bool:
        """Whether the participant's rows may be exported."""
        if participant_id in self._erased:
            return False
        consent = self._consents.get(participant_id)
        return (
            consent is not None
            and ANALYTICS in consent.purposes
            and (consent.valid_until >= self.moment)
        )

    def covered(self) -> set[UUID]:
        return {p for p in self._consents if self.covers(p)}

    def known_participants(self) -> set[UUID]:
        """Every participant the history names (registered or with a consent), erased included."""
        return set(self._enrolments) | set(self._consents) | self._erased

    def dimension(self, pseudonymise: Pseudonymise) -> pa.Table:
        """One row per covered participant and season, pseudonymised, sorted."""
        rows: list[dict[str, object]] = []
        for participant_id, seasons in self._enrolments.items():
            if not self.covers(participant_id):
                continue
            pseudonym = pseudonymise(participant_id)
            for season, where in seasons.items():
                school = self._schools.get(where.school_id)
                region = self._regions.get(where.region_id)
                rows.append(
                    {
                        "participant_id": pseudonym,
                        "season": season,
                        "region_id": str(where.region_id),
                        "region": region.name if region else None,
                        "region_code": region.region_code if region else None,
                        "municipality": school.municipality if school else None,
                        "school_id": str(where.school_id),
                        "school": school.name if school else None,
                        "grade": where.grade,
                    }
                )
        rows.sort(key=itemgetter("participant_id", "season"))
        return pa.Table.from_pylist(rows, schema=DIMENSION_SCHEMA)
