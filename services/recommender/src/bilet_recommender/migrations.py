"""What `bvb migrate --service recommender` makes (ADR 0057): the event store and the read
model of the evidence and insights projections, as the service's settings place them."""

from bilet.migrate import migrate_stores
from bilet_recommender.adapters.evidence_projection import EvidenceProjection
from bilet_recommender.adapters.insights_projection import INSIGHTS
from bilet_recommender.adapters.stores import open_event_store, open_read_model
from bilet_recommender.settings import RecommenderSettings


async def migrate() -> None:
    settings = RecommenderSettings()
    await migrate_stores(
        lambda: open_event_store(settings),
        lambda: open_read_model(settings),
        lambda _: [EvidenceProjection(), INSIGHTS],
    )
