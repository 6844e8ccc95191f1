"""Settings of the portfolio service: the platform's `BVB_*` settings and its own."""

from typing import Final

from pydantic import Field, SecretStr

from bilet.settings import PlatformSettings

SERVICE_NAME: Final = "portfolio"
PROJECTION_NAME: Final = "portfolio"
# The services whose published events the portfolio is built from, in the suite's order.
SOURCES: Final = ("identity", "consent", "diagnostics", "events", "recommender")


def topic_of(source: str) -> str:
    return f"bilet.{source}"


class PortfolioSettings(PlatformSettings):
    # How long a read carrying a `BVB-Position` token waits for the read model (seconds).
    portfolio_wait_timeout: float = Field(default=2.0, gt=0, le=30)
    # Server-sent events: how often a stream looks at the participant's version where no commit
    # can wake it (a SQLite read model fed by a worker in another process; otherwise streams
    # sleep until their participant changes, docs/adr/0059), how often it sends a keep-alive
    # comment, and how long one stream lasts before the client is asked to reconnect (SSE
    # clients do so by themselves, with `Last-Event-ID`).
    portfolio_sse_poll_seconds: float = Field(default=0.25, gt=0, le=10)
    portfolio_sse_keepalive_seconds: float = Field(default=15.0, gt=0, le=300)
    portfolio_sse_max_seconds: float = Field(default=300.0, gt=0, le=3600)
    # Rendered portfolios kept for repeated reads of the same state (ADR 0025); 0 turns it off.
    portfolio_view_cache_size: int = Field(default=1024, ge=0, le=100_000)
    # The worker's consumer group and static membership id (the pod name in Kubernetes).
    portfolio_group_id: str = "bilet.projection.portfolio"
    portfolio_instance_id: str | None = None
    # Where the worker serves its Prometheus metrics (`/metrics` on this port; 0: none).
    portfolio_worker_metrics_port: int = Field(default=9101, ge=0, le=65535)
    # Signs the school lists' cursors (HMAC-SHA256 under a key derived from it); every replica
    # needs the same. Unset: derived from the master key (`BVB_MASTER_KEY`), which every replica
    # holds. Changing it refuses the cursors given before (`invalid_cursor`; clients start over).
    portfolio_cursor_secret: SecretStr | None = Field(default=None, min_length=32)
    # `bvb portfolio rebuild --from stores` into PostgreSQL folds the history in a private SQLite
    # fold whose page cache is this many MiB (spilling to a temporary file beyond), then COPYs
    # the tables (docs/adr/0076); 0: the statement-by-statement rebuild of ADR 0068.
    portfolio_rebuild_fold_mib: int = Field(default=1024, ge=0, le=65_536)
    # The fold decodes every recommendation set as it comes, as a live catch-up does: a set that
    # does not decode is dead-lettered, superseded or not, where by default only each season's
    # last set is decoded and a bad one stops the rebuild (docs/adr/0107); ~121 rather than ~90
    # µs of CPU per event of the rebuild.
    portfolio_rebuild_fold_strict: bool = False
    # Embedded mode: feed the read model in-process from the other services' stores.
    portfolio_embedded_feed: bool = False
