"""Where things live in a read-model database: the runtime's bookkeeping tables beside each
projection's own tables, and a projection's layout (its live tables, or their rebuild shadows).

The runtime's tables sit in the same database as the projections' own, and are therefore
written in the same transactions:
- `bvb_projection_checkpoints`: per projection and feed partition (a Kafka topic-partition, or an
  event store as partition 0), where to resume (`next_offset`: the next Kafka offset, or the last
  store position handled) and the highest store `position` handled there (read-your-writes);
- `bvb_applied_<projection>`: per (source, stream), the last version applied and its position
  (dedupe, gap detection, and the exact per-stream read-your-writes check);
- `bvb_projection_parked`: (source, stream)s stopped at an event that could not be applied;
- `bvb_projection_dead_letters`: the embedded path's dead letters (Kafka has `<topic>.dlq`).
"""

from dataclasses import dataclass
from typing import Final

from bilet.projections.port import (
    RESERVED_PREFIX,
    SHADOW_SUFFIX,
    Dialect,
    Projection,
    SqlRenderer,
    check_projection,
)

CHECKPOINTS: Final = "bvb_projection_checkpoints"
PARKED: Final = "bvb_projection_parked"
DEAD_LETTERS: Final = "bvb_projection_dead_letters"
APPLIED: Final = "bvb_applied"  # the placeholder runtime SQL uses for a projection's applied table


def book(dialect: Dialect) -> dict[str, str]:
    """Placeholders every renderer of the runtime fills in (`{bvb_checkpoints}`, …)."""
    return {
        "bvb_checkpoints": CHECKPOINTS,
        "bvb_parked": PARKED,
        "bvb_dead_letters": DEAD_LETTERS,
        "bvb_lock": " FOR UPDATE" if dialect == "postgresql" else "",
    }


BOOKKEEPING: Final = (
    f"""CREATE TABLE IF NOT EXISTS {CHECKPOINTS} (
    projection  TEXT    NOT NULL,
    feed        TEXT    NOT NULL,
    part        INTEGER NOT NULL,
    source      TEXT    NOT NULL,
    next_offset BIGINT  NOT NULL,
    position    BIGINT  NOT NULL,
    PRIMARY KEY (projection, feed, part)
)""",
    f"""CREATE TABLE IF NOT EXISTS {PARKED} (
    projection TEXT   NOT NULL,
    source     TEXT   NOT NULL,
    stream_id  TEXT   NOT NULL,
    version    BIGINT NOT NULL,
    reason     TEXT   NOT NULL,
    PRIMARY KEY (projection, source, stream_id)
)""",
    f"""CREATE TABLE IF NOT EXISTS {DEAD_LETTERS} (
    projection  TEXT    NOT NULL,
    feed        TEXT    NOT NULL,
    part        INTEGER NOT NULL,
    feed_offset BIGINT  NOT NULL,
    stream_id   TEXT,
    version     BIGINT,
    position    BIGINT,
    event_id    TEXT,
    type        TEXT,
    data        BYTEA,
    metadata    BYTEA,
    recorded_at TEXT,
    kind        TEXT    NOT NULL,
    reason      TEXT    NOT NULL
)""",
)
# Stream ids are unique within a source (a service's store), not across sources.
APPLIED_COLUMNS: Final = (
    "source TEXT NOT NULL, stream_id TEXT NOT NULL, version BIGINT NOT NULL, "
    "position BIGINT NOT NULL, PRIMARY KEY (source, stream_id)"
)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    next_offset: int
    position: int
    source: str = ""


@dataclass(frozen=True, slots=True)
class ParkedStream:
    source: str
    stream_id: str
    version: int
    reason: str


@dataclass(frozen=True)
class Layout:
    """Where one projection lives: its live tables, or their shadows during a rebuild."""

    projection: Projection
    shadow: bool
    key: str  # the projection's name in the bookkeeping tables
    tables: dict[str, str]  # logical name → physical name, the applied table included
    renderer: SqlRenderer

    @property
    def applied(self) -> str:
        return self.tables[APPLIED]


def layout_of(projection: Projection, dialect: Dialect, *, shadow: bool = False) -> Layout:
    check_projection(projection)
    suffix = SHADOW_SUFFIX if shadow else ""
    tables = {table.name: table.name + suffix for table in projection.tables}
    tables[APPLIED] = applied_table(projection.name) + suffix
    return Layout(
        projection=projection,
        shadow=shadow,
        key=projection.name + suffix,
        tables=tables,
        renderer=SqlRenderer(dialect, {**book(dialect), **tables}),
    )


def applied_table(projection: str) -> str:
    return f"{RESERVED_PREFIX}applied_{projection}"


def index_name(table: str, number: int) -> str:
    return f"ix_{table}_{number}"
