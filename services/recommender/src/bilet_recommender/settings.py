"""Settings of the recommender service: the platform's `BVB_*` settings and its own."""

from typing import Final

from bilet.settings import PlatformSettings

SERVICE_NAME: Final = "recommender"
POSTGRES_SCHEMA: Final = "bvb_recommender"


class RecommenderSettings(PlatformSettings):
    # The PostgreSQL schema of the event store (`BVB_RECOMMENDER_STORE_SCHEMA`).
    recommender_store_schema: str = POSTGRES_SCHEMA
    # Follow identity's, consent's, diagnostics', events' stores (and its own) in-process
    # (embedded): the issuing projection and the insights are fed here. Off, the faust worker
    # (`python -m bilet_recommender.worker`) issues and the read model is fed from Kafka.
    recommender_embedded_feed: bool = True
    # Register the demo's Luga courses and clubs (the embedded host does).
    recommender_demo_data: bool = False
