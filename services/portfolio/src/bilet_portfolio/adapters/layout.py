"""Whether the read model's tables were built by an older layout of the projection.

The tables are created when missing, never altered: a read model built by a version of the
projection whose tables or rows differ must be rebuilt (`bvb portfolio rebuild`, which replays
into shadow tables of the current layout and switches). Each layout so far added a table, which
tells it: `consents` (consents kept one by one, `pending` for a consent not yet verified, the
reference version), then `portfolio_documents` (each participant's sections rendered by the
projection), then `career_event_sessions` (career events of version 2: sessions, waitlist,
the feedback rubric, docs/adr/0027), then `recommendation_outlooks` (the scores, profile
classes and routes of RecommendationsIssued v2, docs/adr/0048). Live tables without one of them
were built by a layout before it, whose rows this code does not read.
"""

from typing import Final

from bilet.projections import ReadModel
from bilet_portfolio.adapters.projection import PortfolioProjection
from bilet_portfolio.adapters.projection.tables import (
    CONSENTS,
    DOCUMENTS,
    OUTLOOKS,
    PARTICIPANTS,
    SESSIONS,
)

# A table every layout had, and the tables later layouts added (in the order they came).
_ALWAYS: Final = PARTICIPANTS
_ADDED: Final = (CONSENTS, DOCUMENTS, SESSIONS, OUTLOOKS)


async def _exists(read_model: ReadModel, projection: PortfolioProjection, table: str) -> bool:
    async with read_model.query(projection) as tx:
        try:
            await tx.fetch(f"SELECT 1 FROM {{{table}}} LIMIT 1")  # noqa: S608 - our own name
        except Exception as error:
            if read_model.is_missing_table(error):
                return False
            raise
    return True


async def outdated(read_model: ReadModel, projection: PortfolioProjection) -> bool:
    """True when live tables of an older layout are there (none at all is not outdated)."""
    if not await _exists(read_model, projection, _ALWAYS):
        return False
    for table in _ADDED:
        if not await _exists(read_model, projection, table):
            return True
    return False
