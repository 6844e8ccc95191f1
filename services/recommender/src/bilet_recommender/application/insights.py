"""A region's insights for its coordinator: per municipality and ISO week, how many pupils
registered, had a consent verified, completed a diagnostics stage, attended a career event, and
which environments led the recommendations issued — each a count of distinct pupils, and any
count under `MIN_PUPILS` suppressed (shown as null, never as a number), so that no cell lets a
reader single a pupil out. Counted from the insights projection (`adapters/insights_projection`),
fed by the same feed as the issuing; the week is that of the event's recording.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Final
from uuid import UUID

from bilet.contracts.vocabulary import Environment
from bilet_recommender.application import access
from bilet_recommender.application.base import Count, RecommenderCore
from bilet_recommender.application.inputs import QueryContext

# The smallest number of pupils a cell may show (the programme's disclosure rule).
MIN_PUPILS: Final = 5
# How many leading environments a cell names.
TOP_ENVIRONMENTS: Final = 3
METRICS: Final = ("registered", "consent_verified", "stage_completed", "career_event_attended")
LEADING: Final = "leading_environment"


@dataclass(frozen=True)
class Cell:
    """One municipality and week. A metric's value is None when fewer than `MIN_PUPILS` pupils
    are behind it (suppressed); `top_environments` lists only environments that lead for at
    least `MIN_PUPILS` pupils, the most frequent first."""

    municipality: str
    week: str
    registered: int | None
    consent_verified: int | None
    stage_completed: int | None
    career_event_attended: int | None
    top_environments: tuple[tuple[Environment, int], ...]


@dataclass
class _Tally:
    metrics: dict[str, int] = field(default_factory=dict)
    leading: dict[str, int] = field(default_factory=dict)


def shown(pupils: int) -> int | None:
    """The count as a cell may show it: None below `MIN_PUPILS`."""
    return pupils if pupils >= MIN_PUPILS else None


def cells(counts: list[Count]) -> list[Cell]:
    """The cells of a region's counts, by municipality then week; suppressed as above."""
    tallies: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
    for count in counts:
        tally = tallies[(count.municipality, count.week)]
        if count.metric == LEADING:
            tally.leading[count.detail] = tally.leading.get(count.detail, 0) + count.pupils
        else:
            tally.metrics[count.metric] = tally.metrics.get(count.metric, 0) + count.pupils
    answer = []
    for (municipality, week), tally in sorted(tallies.items()):
        order = list(Environment)
        leading = sorted(
            ((Environment(e), n) for e, n in tally.leading.items() if n >= MIN_PUPILS),
            key=lambda item: (-item[1], order.index(item[0])),
        )
        values = {metric: shown(tally.metrics.get(metric, 0)) for metric in METRICS}
        answer.append(
            Cell(
                municipality=municipality,
                week=week,
                registered=values["registered"],
                consent_verified=values["consent_verified"],
                stage_completed=values["stage_completed"],
                career_event_attended=values["career_event_attended"],
                top_environments=tuple(leading[:TOP_ENVIRONMENTS]),
            )
        )
    return answer


class InsightQueries(RecommenderCore):
    async def insights(self, ctx: QueryContext, region_id: UUID) -> list[Cell]:
        """The region's cells (its coordinator only; anyone else: 403)."""
        access.require_role(ctx.principal, access.INSIGHT_READERS, "read a region's insights")
        access.require_region(ctx.principal, region_id, "read insights")
        return cells(await self.counts.counts(region_id))
