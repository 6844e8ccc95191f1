"""What diagnostics' tests use to set a scene: `StaticFacts`, the facts port answered from what a
test says (pupils, season rules, windows), and a clock tests move. Nothing here is a real person."""

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from uuid import UUID

from bilet.contracts.catalogue.consent import Purpose
from bilet.contracts.vocabulary import Stage
from bilet_diagnostics.application.facts import (
    EnrolledPupil,
    Pupil,
    SchoolProgress,
    school_progress,
)

REGION = UUID("b04673c4-e959-5e7b-b095-3d9da56889fb")
OTHER_REGION = UUID("5e2a3c10-4b1d-4f7e-9c2a-470000000078")
SCHOOL_3 = UUID("16fae2ab-d1c8-5e70-ba8f-657ddc885c03")
SCHOOL_5 = UUID("2b848086-7aca-51be-b130-41e65476f3a5")
SPB_SCHOOL = UUID("0c3b9a52-7f3e-4d8a-8a10-000000000078")
STAGES = (Stage.INTERESTS, Stage.SOFT_SKILLS, Stage.PROFESSIONS_KNOWLEDGE)
ALL_PURPOSES = frozenset(Purpose)


@dataclass(frozen=True)
class Window:
    region_id: UUID
    season: int
    stages: tuple[Stage, ...]
    opens_on: date
    closes_on: date


@dataclass
class StaticFacts:
    """The `Facts` port over what a test set, as the read model would say it: no feed, no lag.
    A school's progress counts the stages a test marks started or completed (`stages`)."""

    pupils: dict[UUID, Pupil] = field(default_factory=dict)
    rules: dict[int, tuple[Stage, ...]] = field(default_factory=dict)
    windows: list[Window] = field(default_factory=list)
    # A region's clock ahead of UTC (its time zone's offset); none: UTC.
    offsets: dict[UUID, timedelta] = field(default_factory=dict)
    # participant → (stages started, stages completed) of their latest season
    stages: dict[UUID, tuple[frozenset[Stage], frozenset[Stage]]] = field(default_factory=dict)

    def add_pupil(
        self,
        participant_id: UUID,
        school_id: UUID,
        region_id: UUID,
        *,
        grade: int = 7,
        seasons: Iterable[int] = (2019,),
        purposes: frozenset[Purpose] = ALL_PURPOSES,
    ) -> None:
        enrolled = frozenset(seasons)
        self.pupils[participant_id] = Pupil(
            participant_id, school_id, region_id, grade, max(enrolled), enrolled, purposes, False
        )

    def change(self, participant_id: UUID, **changes: object) -> None:
        self.pupils[participant_id] = replace(self.pupils[participant_id], **changes)  # type: ignore[arg-type]

    async def pupil(self, participant_id: UUID, today: date) -> Pupil | None:
        return self.pupils.get(participant_id)

    async def season_stages(self, season: int, on: date | None = None) -> tuple[Stage, ...] | None:
        return self.rules.get(season)  # one version per season here

    async def region_today(self, region_id: UUID, now: datetime) -> date | None:
        return (now + self.offsets.get(region_id, timedelta())).date()

    async def window_open(self, region_id: UUID, season: int, stage: Stage, today: date) -> bool:
        return any(
            w.region_id == region_id
            and w.season == season
            and stage in w.stages
            and w.opens_on <= today <= w.closes_on
            for w in self.windows
        )

    async def progress(self, school_id: UUID, season: int) -> SchoolProgress:
        enrolled = [
            p
            for p in self.pupils.values()
            if p.school_id == school_id and season in p.seasons and not p.erased
        ]
        region = enrolled[0].region_id if enrolled else None
        empty: tuple[frozenset[Stage], frozenset[Stage]] = (frozenset(), frozenset())
        return school_progress(
            school_id,
            region,
            season,
            self.rules.get(season),
            [
                EnrolledPupil(p.participant_id, p.grade, *self.stages.get(p.participant_id, empty))
                for p in enrolled
            ],
        )  # fmt: skip


class Clock:
    """A clock tests move (the service takes any `() -> datetime`)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
