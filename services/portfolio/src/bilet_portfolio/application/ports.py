"""What the queries need of the outside world: the read model (adapters/readmodel.py)."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from bilet_portfolio.application.listing import SchoolQuery
from bilet_portfolio.domain.views import ParticipantRecord, PortfolioRecord, SchoolInfo


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What one read saw of a participant: their row, the version of the reference data shown
    on portfolios (school, region, season rules, windows: part of the ETag) and, when asked for
    in the same read, the whole portfolio."""

    participant: ParticipantRecord
    reference_version: int
    record: PortfolioRecord | None = None


class PortfolioReader(Protocol):
    async def participant(self, participant_id: str) -> Snapshot | None:
        """The participant's row and the reference version, in one read."""
        ...

    async def portfolio(
        self, participant_id: str, wanted: Callable[[Snapshot], bool]
    ) -> Snapshot | None:
        """In one read: the participant's row, then — if `wanted` says so on that row — the
        whole portfolio. `wanted` is a plain function (it decides access and the consent gate,
        and raises to refuse); it runs inside the read."""
        ...

    async def school(self, school_id: str) -> SchoolInfo | None: ...

    async def school_page(
        self,
        school_id: str,
        query: SchoolQuery,
        today: date,
        *,
        detailed: bool,
        region_id: str | None = None,
        only: frozenset[str] | None = None,
    ) -> tuple[list[ParticipantRecord], int]:
        """Up to `query.limit + 1` participants after `query.after`, in the query's order, and
        how many match on all pages, from one state. `detailed`: whether the caller sees the
        progress of open portfolios (else every row's progress is hidden, and sorts and filters
        by it treat it as absent). `region_id`: only pupils of that region (a coordinator).
        `only`: only these participants, and only if the caller sees their portfolio."""
        ...

    async def open_in_school(
        self, school_id: str, today: date, *, region_id: str | None
    ) -> list[ParticipantRecord]:
        """The school's pupils (of `region_id`, when given) whose portfolio is open."""
        ...

    async def children(self, claimed: frozenset[str]) -> list[ParticipantRecord]:
        """The participants among `claimed` (a guardian token's `children`) that exist."""
        ...

    async def positions(self) -> dict[str, int]:
        """How far the read model has applied each source's store positions."""
        ...

    async def hear_changes(self) -> None:
        """Make sure the changes other processes commit reach the listeners of this process
        (listen again after a lost connection); before an answer is kept in the cache."""
        ...

    async def wait_until(
        self, source: str, position: int, timeout: float, stream_id: str | None
    ) -> int: ...
