"""The relay's Prometheus metrics, registered in a registry the caller owns (a fresh one by
default, never the process-global one, so that several relays and tests do not collide).

Every metric carries the relay's name (its topic) as the `relay` label.
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

BATCH_SECONDS_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)


class RelayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        labels = ["relay"]
        self.published = Counter(
            "bilet_relay_published_events",
            "Events the broker acknowledged (a republished duplicate counts again)",
            labels,
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "bilet_relay_publish_batch_seconds",
            "From handing a batch of events to the producer until the broker acknowledged all",
            labels,
            buckets=BATCH_SECONDS_BUCKETS,
            registry=self.registry,
        )
        self.recreations = Counter(
            "bilet_relay_producer_recreations",
            "Producers discarded after an error and replaced, by the error's type",
            [*labels, "reason"],
            registry=self.registry,
        )
        self.published_position = Gauge(
            "bilet_relay_published_position",
            "Store position up to which the broker acknowledged every event",
            labels,
            registry=self.registry,
        )
        self.stored_position = Gauge(
            "bilet_relay_stored_position",
            "The relay's checkpoint: where it resumes after a restart",
            labels,
            registry=self.registry,
        )
        self.head_position = Gauge(
            "bilet_relay_head_position",
            "The store's last readable position when last sampled",
            labels,
            registry=self.registry,
        )
        self.lag_positions = Gauge(
            "bilet_relay_lag_positions",
            "Head position minus published position (position units: on PostgreSQL not a count)",
            labels,
            registry=self.registry,
        )
        self.lag_events = Gauge(
            "bilet_relay_lag_events",
            "Stored events not yet acknowledged by the broker (capped at one million)",
            labels,
            registry=self.registry,
        )
        self.connected = Gauge(
            "bilet_relay_connected",
            "1 while a producer session is publishing, 0 while connecting or backing off",
            labels,
            registry=self.registry,
        )

    def bind(self, relay: str) -> "BoundRelayMetrics":
        return BoundRelayMetrics(self, relay)


class BoundRelayMetrics:
    """One relay's children of every metric, looked up once."""

    def __init__(self, metrics: RelayMetrics, relay: str) -> None:
        self._metrics = metrics
        self.relay = relay
        self.published = metrics.published.labels(relay)
        self.batch_seconds = metrics.batch_seconds.labels(relay)
        self.published_position = metrics.published_position.labels(relay)
        self.stored_position = metrics.stored_position.labels(relay)
        self.head_position = metrics.head_position.labels(relay)
        self.lag_positions = metrics.lag_positions.labels(relay)
        self.lag_events = metrics.lag_events.labels(relay)
        self.connected = metrics.connected.labels(relay)

    def recreated(self, reason: str) -> None:
        self._metrics.recreations.labels(self.relay, reason).inc()
