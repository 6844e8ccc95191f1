"""The frame of a service's queries over a facts read model: SQL against the projection's tables
that answers "nothing known" until a feed has installed them, the bounded read-your-writes wait,
and the consent columns read back as the purposes in force on a day.

A service's `ReadModelFacts` (and events' `ReadModelCatalogue`) derive from `ReadModelQueries`,
name their projection, and hold only their own SQL.
"""

from datetime import date
from typing import Any, ClassVar

from bilet.contracts.catalogue.consent import Purpose
from bilet.projections import NotApplied, Projection, ReadModel, Row


class ReadModelQueries:
    """Queries of `projection`'s tables. Before the feed has installed them (a worker not yet
    started) every answer is "nothing known"."""

    projection: ClassVar[Projection]

    def __init__(self, read_model: ReadModel) -> None:
        self.read_model = read_model

    async def _fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self.read_model.query(self.projection) as tx:
            try:
                return await tx.fetch(sql, *args)
            except Exception as error:
                if self.read_model.is_missing_table(error):
                    return []
                raise

    async def wait_for(
        self, source: str, position: int, timeout: float, stream_id: str | None = None
    ) -> bool:
        """Wait (bounded) until the read model includes `source`'s events up to `position` (a
        read-your-writes token of another service, e.g. a pupil registered a moment ago); False
        when the time ran out first."""
        try:
            await self.read_model.wait_until(
                self.projection.name, source, position, timeout, stream_id=stream_id
            )
        except NotApplied:
            return False
        return True


def purposes_in_force(
    purposes: str | None, valid_until: str | None, today: date
) -> frozenset[Purpose]:
    """The purposes of a pupil's verified consent on `today`, from the consent columns the facts
    projections keep (`purposes` comma-joined, `valid_until` an ISO date; both None without a
    consent in force): none once its last day has passed."""
    if valid_until is None or today > date.fromisoformat(valid_until):
        return frozenset()
    return frozenset(Purpose(p) for p in purposes.split(",")) if purposes else frozenset()
