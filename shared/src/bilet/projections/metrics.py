"""Prometheus metrics of the projection runtime, in the registry the process passes in."""

from prometheus_client import CollectorRegistry, Counter, Gauge


class ProjectionMetrics:
    """Applied events, skipped duplicates, gaps, dead letters (by kind: `gap`, `failed`,
    `parked`, `malformed`) and consumer lag (Kafka records behind the partition's high
    watermark). Several feeds of one process share one instance."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = CollectorRegistry() if registry is None else registry
        self.applied = Counter(
            "bilet_projection_events_applied",
            "Events applied to a read model",
            ["projection"],
            registry=registry,
        )
        self.duplicates = Counter(
            "bilet_projection_duplicates_skipped",
            "Events skipped because their stream version was applied already",
            ["projection"],
            registry=registry,
        )
        self.gaps = Counter(
            "bilet_projection_gaps",
            "Stream version gaps detected (each gap once, however often it is re-read)",
            ["projection"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "bilet_projection_dead_letters",
            "Events sent to the dead-letter topic (or table) instead of being applied",
            ["projection", "kind"],
            registry=registry,
        )
        self.lag = Gauge(
            "bilet_projection_consumer_lag",
            "Records between the last applied offset and the partition's high watermark",
            ["projection", "topic", "partition"],
            registry=registry,
        )
        self.position = Gauge(
            "bilet_projection_position",
            "Highest source store position handled, per feed partition",
            ["projection", "feed", "partition"],
            registry=registry,
        )
