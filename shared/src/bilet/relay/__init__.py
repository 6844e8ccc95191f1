"""The relay: one per service, it publishes the service's stored events to the service's Kafka
topic, at least once and in order per stream, keeping its position next to the store."""

from bilet.relay.kafka import KafkaConnector, KafkaOptions, KafkaPublisher, ensure_topic
from bilet.relay.metrics import RelayMetrics
from bilet.relay.positions import InMemoryPositionStore, PositionStore
from bilet.relay.relay import (
    RECOVERABLE_ERRORS,
    Backoff,
    DeliveryTimeout,
    Publisher,
    Relay,
    RelayOptions,
)

__all__ = [
    "RECOVERABLE_ERRORS",
    "Backoff",
    "DeliveryTimeout",
    "InMemoryPositionStore",
    "KafkaConnector",
    "KafkaOptions",
    "KafkaPublisher",
    "PositionStore",
    "Publisher",
    "Relay",
    "RelayMetrics",
    "RelayOptions",
    "ensure_topic",
]
