"""The projection runtime: projections as pure functions over events, applied to SQL read models
exactly once in effect, fed from Kafka (`KafkaFeed`) or in-process from event stores
(`EmbeddedFeed`), with read-your-writes waits and rebuilds that readers do not notice.
See docs/adr/0008-projection-runtime.md."""

from bilet.projections.embedded import BackgroundFeed, EmbeddedFeed
from bilet.projections.kafka import KafkaFeed, dlq_topic, ensure_dlq_topics, source_of_topic
from bilet.projections.metrics import ProjectionMetrics
from bilet.projections.port import (
    EVERY_KEY,
    BeforeCommit,
    Dialect,
    Projection,
    ReadModelTx,
    Row,
    Table,
)
from bilet.projections.projector import Applied, Delivery, Gap, Moved, Outcome, Projector
from bilet.projections.readmodel import NotApplied, ParkedStream, ReadModel
from bilet.projections.readmodel.changes import Watch
from bilet.projections.rebuild import (
    RebuildError,
    RebuildReport,
    rebuild,
    rebuild_from_kafka,
    rebuild_from_stores,
)

__all__ = [
    "EVERY_KEY",
    "Applied",
    "BackgroundFeed",
    "BeforeCommit",
    "Delivery",
    "Dialect",
    "EmbeddedFeed",
    "Gap",
    "KafkaFeed",
    "Moved",
    "NotApplied",
    "Outcome",
    "ParkedStream",
    "Projection",
    "ProjectionMetrics",
    "Projector",
    "ReadModel",
    "ReadModelTx",
    "RebuildError",
    "RebuildReport",
    "Row",
    "Table",
    "Watch",
    "dlq_topic",
    "ensure_dlq_topics",
    "rebuild",
    "rebuild_from_kafka",
    "rebuild_from_stores",
    "source_of_topic",
]
