"""The read-model store: projection tables plus the runtime's bookkeeping, in one database, and
the read-your-writes questions an API asks of it ("how far", "wait until").

- `schema`: the bookkeeping tables and a projection's layout (live tables or rebuild shadows);
- `adapter`: what each database provides (`ReadModelAdapter`);
- `batches`: a batch's checkpoint and applied versions (`lock_batch`, `record_batch`);
- `store`: `ReadModel`, the store written once over those hooks;
- `waits`: `wait_until`'s waiters, one query per kind on each wake-up, not one per waiter;
- `multirow`: a single-row INSERT held for many rows, as a few statements over arrays (PostgreSQL).

Adapters: `SqliteReadModel` (embedded) and `PostgresReadModel` (production).
"""

from bilet.projections.readmodel.adapter import ReadModelAdapter
from bilet.projections.readmodel.schema import (
    APPLIED,
    APPLIED_COLUMNS,
    BOOKKEEPING,
    CHECKPOINTS,
    DEAD_LETTERS,
    PARKED,
    Checkpoint,
    Layout,
    ParkedStream,
    applied_table,
    book,
    index_name,
    layout_of,
)
from bilet.projections.readmodel.store import ReadModel
from bilet.projections.readmodel.waits import IN_LIST_SIZES, NotApplied, in_lists

__all__ = [
    "APPLIED",
    "APPLIED_COLUMNS",
    "BOOKKEEPING",
    "CHECKPOINTS",
    "DEAD_LETTERS",
    "IN_LIST_SIZES",
    "PARKED",
    "Checkpoint",
    "Layout",
    "NotApplied",
    "ParkedStream",
    "ReadModel",
    "ReadModelAdapter",
    "applied_table",
    "book",
    "in_lists",
    "index_name",
    "layout_of",
]
