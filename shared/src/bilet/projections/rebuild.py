"""Rebuild a read model without stopping its readers: replay into shadow tables, then switch.

1. `prepare_shadow`: empty `<table>__rebuild` tables (and a shadow applied-versions table and
   bookkeeping), beside the live ones that readers keep querying;
2. replay the history into them with a feed built with `shadow=True` (Kafka from the topics'
   beginnings, or the event stores), until the shadow has reached every live checkpoint;
3. `switch`: in one transaction, with the live checkpoints locked, drop the live tables and rename
   the shadows into their places, bookkeeping included. If the live feed moved on meanwhile,
   replay a little more and try again. The live feed, if running, finds its checkpoint moved at
   its next commit and continues from the shadow's checkpoints.
"""

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from bilet.eventstore import EventStore
from bilet.kafka import KafkaTarget
from bilet.projections.embedded import EmbeddedFeed
from bilet.projections.folded import FoldedReplay, fold_database
from bilet.projections.kafka import KafkaFeed
from bilet.projections.port import Projection
from bilet.projections.postgres import PostgresReadModel
from bilet.projections.readmodel import ReadModel

# A rebuild's defaults from the stores (ADR 0068): thousands of merged events per transaction
# (memory grows with it: the events and a projection's work gathered over them), big pages.
REBUILD_FROM_STORES: Final[Mapping[str, int]] = {"long_transactions": 5000, "batch_size": 2000}


class Replay(Protocol):
    shadow: bool

    async def catch_up(self, targets: Mapping[tuple[str, int], int]) -> None: ...


class RebuildError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class RebuildReport:
    projection: str
    rounds: int
    seconds: float


async def rebuild(
    read_model: ReadModel, projection: Projection, replay: Replay, *, max_rounds: int = 50
) -> RebuildReport:
    """Rebuild `projection` through `replay` (a feed made with `shadow=True`)."""
    if not replay.shadow:
        raise ValueError("a rebuild replays into shadow tables: build the feed with shadow=True")
    started = time.monotonic()
    await read_model.prepare_shadow(projection)
    for rounds in range(1, max_rounds + 1):
        await replay.catch_up(await read_model.checkpoints(projection.name))
        if await read_model.switch(projection):
            return RebuildReport(projection.name, rounds, time.monotonic() - started)
    raise RebuildError(
        f"the live feed of {projection.name!r} stayed ahead of the replay for {max_rounds} rounds"
    )


async def rebuild_from_stores(
    read_model: ReadModel,
    projection: Projection,
    sources: Mapping[str, EventStore],
    *,
    fold_memory_mib: int | None = None,
    on_fold: Callable[[ReadModel], object] | None = None,
    **options: Any,
) -> RebuildReport:
    """Rebuild from the event stores: the merged sources replayed in long transactions (at least
    `long_transactions` events each) read in pages of `batch_size` (ADR 0068).

    With `fold_memory_mib` (PostgreSQL read models only), folded: replayed into a private SQLite
    fold whose page cache is that many MiB, then written with COPY and switched (ADR 0076);
    `on_fold` is handed the fold as it opens (a progress bar reads its checkpoints)."""
    options = {**REBUILD_FROM_STORES, **options}
    if fold_memory_mib is None:
        replay = EmbeddedFeed(read_model, projection, sources, shadow=True, **options)
        return await rebuild(read_model, projection, replay)
    if not isinstance(read_model, PostgresReadModel):
        raise ValueError("a folded rebuild writes a PostgreSQL read model")
    async with fold_database(fold_memory_mib) as fold:
        if on_fold is not None:
            on_fold(fold)
        folded = FoldedReplay(read_model, fold, projection, sources, **options)
        return await rebuild(read_model, projection, folded)


async def rebuild_from_kafka(
    read_model: ReadModel,
    projection: Projection,
    *,
    bootstrap_servers: KafkaTarget,
    topics: Sequence[str],
    **options: Any,
) -> RebuildReport:
    replay = KafkaFeed(
        read_model,
        projection,
        bootstrap_servers=bootstrap_servers,
        topics=topics,
        shadow=True,
        **options,
    )
    return await rebuild(read_model, projection, replay)
