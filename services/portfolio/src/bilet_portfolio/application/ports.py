"""What the queries need of the outside world: the read model (adapters/readmodel.py)."""

from datetime import date
from typing import Protocol

from bilet_portfolio.application.listing import SchoolQuery
from bilet_portfolio.domain.views import ParticipantRecord, PortfolioRecord, SchoolInfo


class PortfolioReader(Protocol):
    async def participant(self, participant_id: str) -> ParticipantRecord | None: ...

    async def portfolio(self, participant_id: str) -> PortfolioRecord | None: ...

    async def version(self, participant_id: str) -> int | None: ...

    async def is_guardian(self, participant_id: str, guardian_id: str) -> bool:
        """Whether a verified consent linked this guardian to the participant."""
        ...

    async def school(self, school_id: str) -> SchoolInfo | None: ...

    async def school_page(
        self, school_id: str, query: SchoolQuery, today: date
    ) -> list[ParticipantRecord]:
        """Up to `query.limit + 1` participants after `query.after`, in the query's order."""
        ...

    async def children(
        self, guardian_id: str, claimed: frozenset[str]
    ) -> list[ParticipantRecord]: ...

    async def positions(self) -> dict[str, int]:
        """How far the read model has applied each source's store positions."""
        ...

    async def wait_until(
        self, source: str, position: int, timeout: float, stream_id: str | None
    ) -> int: ...
