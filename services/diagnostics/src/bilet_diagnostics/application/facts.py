"""What diagnostics knows of the world beyond its own attempts: the port `Facts` and its answers.

Identity's and consent's facts (a pupil's school, region, grade and seasons, the consent in
force, the season's stages, the region's time zone and testing windows) reach this service only
as events, into a small read model of its own (`adapters/facts.py`); use cases ask them through
this port and never call another service. Everything here is pseudonymous: ids, grades, dates.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol
from uuid import UUID

from bilet.contracts.catalogue.consent import Purpose
from bilet.contracts.vocabulary import Stage


@dataclass(frozen=True)
class Pupil:
    """What diagnostics knows of a participant; no personal data."""

    participant_id: UUID
    school_id: UUID
    region_id: UUID
    grade: int
    season: int  # the season of their latest enrolment (or registration)
    seasons: frozenset[int]  # every season they are enrolled in
    # The purposes of the verified consent in force on the day asked about (not withdrawn, its
    # `valid_until` not passed); empty when there is none.
    purposes: frozenset[Purpose]
    erased: bool
    # The kept profile, once identity merged this one into it (docs/adr/0043): closed here.
    merged_into: UUID | None = None

    def consents_to(self, purpose: Purpose) -> bool:
        return not self.erased and purpose in self.purposes


@dataclass(frozen=True)
class StageProgress:
    """One stage in one grade of a school: how many pupils started it (completed or not), how
    many completed it, and which enrolled pupils have not started it (ids, in id order)."""

    stage: Stage
    started: int
    completed: int
    not_started: tuple[UUID, ...]


@dataclass(frozen=True)
class GradeProgress:
    grade: int
    pupils: int  # enrolled in the school in the season, at this grade
    stages: tuple[StageProgress, ...]  # in the season's order


@dataclass(frozen=True)
class SchoolProgress:
    """A school's progress through the diagnostics of a season, per grade and stage."""

    school_id: UUID
    # The school's region; None when identity never registered the school (unknown here).
    region_id: UUID | None
    season: int
    stages: tuple[Stage, ...]  # the season's stages in order (all three if no rules are known)
    grades: tuple[GradeProgress, ...]  # ascending; only grades with enrolled pupils
    # Every pupil the counts include: whose progress a reader learns (the audit records them).
    participant_ids: frozenset[UUID] = frozenset()

    @property
    def known(self) -> bool:
        """Identity registered the school (its region is known)."""
        return self.region_id is not None


@dataclass(frozen=True)
class EnrolledPupil:
    """One pupil of a school in a season, and the stages they started and completed."""

    participant_id: UUID
    grade: int
    started: frozenset[Stage]
    completed: frozenset[Stage]


def school_progress(
    school_id: UUID,
    region_id: UUID | None,
    season: int,
    stages: Iterable[Stage] | None,
    pupils: Iterable[EnrolledPupil],
) -> SchoolProgress:
    """The counts per grade and stage of `pupils` (a pure function: the read model supplies the
    rows). Stages default to all three, in the programme's order, when the season's rules are
    not known."""
    ordered = tuple(stages) if stages else tuple(Stage)
    by_grade: dict[int, list[EnrolledPupil]] = {}
    for pupil in sorted(pupils, key=lambda p: (p.grade, p.participant_id)):
        by_grade.setdefault(pupil.grade, []).append(pupil)
    grades = tuple(
        GradeProgress(
            grade=grade,
            pupils=len(members),
            stages=tuple(_stage_progress(stage, members) for stage in ordered),
        )
        for grade, members in sorted(by_grade.items())
    )
    counted = frozenset(p.participant_id for members in by_grade.values() for p in members)
    return SchoolProgress(school_id, region_id, season, ordered, grades, counted)


def _stage_progress(stage: Stage, members: list[EnrolledPupil]) -> StageProgress:
    return StageProgress(
        stage=stage,
        started=sum(1 for p in members if stage in p.started),
        completed=sum(1 for p in members if stage in p.completed),
        not_started=tuple(p.participant_id for p in members if stage not in p.started),
    )


class Facts(Protocol):
    """The read side's answers, as of what the feed has applied so far."""

    async def pupil(self, participant_id: UUID, today: date) -> Pupil | None:
        """The pupil, with the consent purposes in force on `today`; None if identity's
        registration has not arrived (or never will)."""
        ...

    async def season_stages(self, season: int, on: date | None = None) -> tuple[Stage, ...] | None:
        """The diagnostics stages of the season's rules in force on `on` (the highest
        `rules_version` applying from that day or before, docs/adr/0050; without a day, the
        highest version), in the order they run; None if no rules were published."""
        ...

    async def region_today(self, region_id: UUID, now: datetime) -> date | None:
        """Today in the region's time zone (its `RegionAdmitted.time_zone`); None if the region
        is unknown (or its time zone is not in this machine's time-zone database)."""
        ...

    async def window_open(self, region_id: UUID, season: int, stage: Stage, today: date) -> bool:
        """Whether a testing window of the region and season that lists `stage` covers `today`
        (a date in the region's time zone; both ends of a window included)."""
        ...

    async def progress(self, school_id: UUID, season: int) -> SchoolProgress:
        """The school's pupils enrolled in the season (erased ones left out), per grade and
        stage: started, completed, and who has not started."""
        ...
