"""One run of `bvb simulate season` (docs/adr/0045): its plan, its report, the clock the
services run on, the ids they draw (`SeededIds`), and how a phase opens a service caught up
with the others' facts. The phases are `bilet_host.simulate` (identity, consent, diagnostics) and
`bilet_host.simulate_events` (career events)."""

import contextlib
import random
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar
from uuid import UUID

from bilet.application import SeededIds
from bilet.http.auth import Principal, Role
from bilet.projections import EmbeddedFeed
from bilet_host import simulate_people as people


@dataclass(frozen=True)
class SeasonPlan:
    seed: int
    regions: int
    pupils: int
    season: int

    def calendar(self, month: int, day: int) -> datetime:
        return datetime.combine(date(self.season, month, day), time(9, 0), tzinfo=UTC)


@dataclass
class SimulationReport:
    """What the season holds, and what the services' rules refused (expected: nothing)."""

    pupils: int = 0
    schools: int = 0
    consents: int = 0
    analytics_consents: int = 0
    stages: int = 0
    career_events: int = 0
    bookings: int = 0
    attended: int = 0
    feedback: int = 0
    recommendations: int = 0  # RecommendationsIssued
    refused: dict[str, int] = field(default_factory=dict)
    # wall time of each service's phase (not part of what the season is)
    seconds: dict[str, float] = field(default_factory=dict, compare=False)
    # the process's CPU time (every thread) of each phase: what a phase costs, on a machine
    # whose other work makes wall time say more about the neighbours (docs/adr/0084)
    cpu_seconds: dict[str, float] = field(default_factory=dict, compare=False)
    # pupils whose diagnostics a helper process decided (docs/adr/0094): how, not what
    helped: int = field(default=0, compare=False)
    # the helper process's CPU (in `cpu_seconds` too, under the phase it helped)
    helper_cpu_seconds: float = field(default=0.0, compare=False)

    def refusal(self, code: str, count: int = 1) -> None:
        self.refused[code] = self.refused.get(code, 0) + count


class CountedIds:
    """The season's seeded ids (`SeededIds`), counting how many were drawn: a helper process
    starts its half of a phase where the sequence will be (`bilet_host.simulate_shards`)."""

    def __init__(self, seed: int, skip: int = 0) -> None:
        self._ids = SeededIds(f"bilet-sim-ids-{seed}")
        self.drawn = 0
        self.skip(skip)

    def __call__(self) -> UUID:
        self.drawn += 1
        return self._ids()

    def skip(self, draws: int) -> None:
        """Move on as if `draws` ids had been drawn."""
        for _ in range(draws):
            self()


class SeasonClock:
    """The clock every service runs on during the simulation: moved through the calendar."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def today(self) -> date:
        return self.now.date()


@dataclass
class Season:
    """A run: the plan, where it writes, its clock and report, and who is in it by region."""

    plan: SeasonPlan
    var_dir: Path | None
    clock: SeasonClock
    report: SimulationReport
    schools: list[list[people.SimSchool]]
    pupils: list[list[people.SimPupil]]
    # The ids the services' use cases draw themselves (a consent's, an attempt's), from the seed.
    ids: CountedIds
    # SQLite stores' `synchronous` for this load (None: the settings' own, FULL by default).
    synchronous: Literal["FULL", "NORMAL"] | None = None
    # Processes of the diagnostics phase: 2, a forked helper decides half of it (ADR 0094);
    # None, 2 if the machine had a core to spare through the phases before it.
    processes: int | None = None
    cpu_at_start: tuple[int, int] | None = None  # the machine's (idle, total) CPU ticks

    @classmethod
    def of(
        cls,
        plan: SeasonPlan,
        var_dir: Path | None,
        synchronous: Literal["FULL", "NORMAL"] | None = None,
    ) -> "Season":
        regions = people.regions(plan.regions)
        shares = people.region_shares(plan.pupils, plan.regions)
        schools = [people.schools(r, n) for r, n in zip(regions, shares, strict=True)]
        pupils = [
            [p for school in region for p in people.pupils(plan.seed, school, plan.season)]
            for region in schools
        ]
        clock = SeasonClock(plan.calendar(9, 1))
        ids = CountedIds(plan.seed)
        return cls(plan, var_dir, clock, SimulationReport(), schools, pupils, ids, synchronous)

    def everyone(self) -> Iterator[people.SimPupil]:
        return (pupil for region in self.pupils for pupil in region)

    def settings(self, kind: Callable[..., Any]) -> Any:
        """The service's settings, on `--var-dir` and with `--sync` when given (else as its
        `BVB_*` environment says)."""
        given: dict[str, Any] = {}
        if self.var_dir is not None:
            given["var_dir"] = self.var_dir
        if self.synchronous is not None:
            given["sqlite_synchronous"] = self.synchronous
        return kind(**given)

    def rng(self, what: str, sim: people.SimPupil) -> random.Random:
        return random.Random(f"bilet-sim-{what}-{self.plan.seed}-{sim.participant_id}")  # noqa: S311


class WithFeed(Protocol):
    @property
    def feed(self) -> EmbeddedFeed | None: ...


R = TypeVar("R", bound=WithFeed)


@contextlib.asynccontextmanager
async def caught_up(opened: AbstractAsyncContextManager[R]) -> AsyncIterator[R]:
    """The service's runtime, its embedded feed caught up with the others' stores: the facts
    a live feed would hold by the time the phase's season day comes."""
    async with opened as runtime:
        if runtime.feed is not None:
            await runtime.feed.catch_up({})
        yield runtime


def principal(role: Role, **scope: Any) -> Principal:
    return Principal(subject=f"simulation-{role.value}", role=role, **scope)
