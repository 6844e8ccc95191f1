"""The insights' read side (`application.base.InsightCounts`), answered from the tables of
`adapters/insights_projection.py`: distinct pupils per municipality, ISO week and metric of a
region (the leading environments per environment too), and the environments of career events.
Before the feed has installed the tables every answer is "nothing known"."""

from collections.abc import Collection
from uuid import UUID

from bilet.contracts.vocabulary import Environment
from bilet.facts.queries import ReadModelQueries
from bilet.projections import NotApplied, ReadModel
from bilet_recommender.adapters.insights_projection import INSIGHTS
from bilet_recommender.application.base import Count

_COUNTS = (
    "SELECT s.municipality, m.week, m.metric, m.detail, COUNT(*) FROM {rec_ins_marks} m "
    "JOIN {rec_ins_pupils} p ON p.participant_id = m.participant_id AND NOT p.erased "
    "JOIN {rec_ins_schools} s ON s.school_id = p.school_id "
    "WHERE s.region_id = $1 GROUP BY s.municipality, m.week, m.metric, m.detail"
)


class ReadModelInsights(ReadModelQueries):
    projection = INSIGHTS

    async def counts(self, region_id: UUID) -> list[Count]:
        rows = await self._fetch(_COUNTS, str(region_id))
        return [Count(str(m), str(w), str(k), str(d), int(n)) for m, w, k, d, n in rows]

    async def environments_of(
        self, career_event_ids: Collection[UUID]
    ) -> dict[UUID, tuple[Environment, ...]]:
        # A pupil attends a few career events a season: one lookup each.
        found: dict[UUID, tuple[Environment, ...]] = {}
        for career_event_id in sorted(career_event_ids, key=str):
            rows = await self._fetch(
                "SELECT environments FROM {rec_career_event_environments} "
                "WHERE career_event_id = $1",
                str(career_event_id),
            )
            if rows:
                found[career_event_id] = tuple(
                    Environment(e) for e in str(rows[0][0]).split(",") if e
                )
        return found


class AppliedPositions:
    """The read-your-writes wait of one projection of the read model: True once it includes
    `source`'s events up to `position` (a `BVB-Position` token); False when the time ran out."""

    def __init__(self, read_model: ReadModel, projection: str) -> None:
        self.read_model = read_model
        self.projection = projection

    async def wait_for(
        self, source: str, position: int, timeout: float, stream_id: str | None = None
    ) -> bool:
        try:
            await self.read_model.wait_until(
                self.projection, source, position, timeout, stream_id=stream_id
            )
        except NotApplied:
            return False
        return True
