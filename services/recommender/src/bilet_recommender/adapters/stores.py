"""Opening what the recommender keeps its data in, as the settings say.

- Events: SQLite under `var/` (embedded) or PostgreSQL schema `bvb_recommender`: the published
  `recommendations-<participant>` streams and the internal `opportunity-<id>` ones.
- Data keys: the suite's one key store (`bilet.stores.open_key_store`): the accessibility needs
  identity sealed with the health key are opened with it at the moment of recommending.
- The read model (the evidence per participant, the offers, the insights counts):
  `var/recommender-readmodel.sqlite3` or `bvb_recommender_rm`.
"""

from bilet import stores
from bilet.crypto import KeyStore
from bilet.eventstore import EventStore
from bilet.projections import ReadModel
from bilet_recommender.settings import SERVICE_NAME, RecommenderSettings


async def open_event_store(settings: RecommenderSettings) -> EventStore:
    return await stores.open_event_store(
        settings, SERVICE_NAME, schema=settings.recommender_store_schema
    )


async def open_key_store(settings: RecommenderSettings) -> KeyStore:
    return await stores.open_key_store(settings)


async def open_read_model(settings: RecommenderSettings) -> ReadModel:
    return await stores.open_read_model(settings, SERVICE_NAME)
