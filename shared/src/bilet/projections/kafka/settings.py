"""The Kafka feed's settings from the environment (`BVB_PROJECTION_FEED_*`, ADR 0096).

`BVB_PROJECTION_FEED_FETCH_WAIT` (seconds, default 0.1, 0.01–5): how long the broker may hold
the feed's fetch when nothing new is there (aiokafka's `fetch_max_wait_ms`, 0.5 s by default).
aiokafka keeps one fetch in flight per broker, and that fetch leaves out the partitions whose
records the feed has not taken yet; a record arriving on one of those meanwhile waits until the
fetch in flight returns, which on quiet partitions is after this wait. It is the same wait ADR
0091 cut in the recommender's faust worker. An idle feed fetches this often: ten small requests
a second per feed at 0.1 s.

Every `KafkaFeed` reads them when it is built without `settings`; a feed's `consumer_options`
still win over them.
"""

from typing import Final

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_FETCH_WAIT: Final = 0.1


class FeedSettings(BaseSettings):
    """How a Kafka feed talks to the broker (see the module)."""

    model_config = SettingsConfigDict(
        env_prefix="BVB_PROJECTION_FEED_", extra="ignore", frozen=True
    )

    fetch_wait: float = Field(
        default=DEFAULT_FETCH_WAIT,
        ge=0.01,
        le=5.0,
        description="seconds the broker may hold a fetch with nothing new (fetch_max_wait_ms)",
    )

    def consumer_options(self) -> dict[str, int]:
        """The aiokafka consumer's options these settings make."""
        return {"fetch_max_wait_ms": round(self.fetch_wait * 1000)}
