"""Several sources' events, merged, applied in one long transaction: the rebuild's fast path
(ADR 0068).

The embedded feed merges its sources by recorded time (ADR 0056); a live feed applies each run of
one source in a transaction of its own (`Projector.apply`, one checkpoint per transaction), and
the merge makes those runs short: a season's rebuild held ~4 events per transaction, paying the
runtime's bookkeeping and a projection's work gathered per transaction (a participant's document,
ADR 0060) again and again. A rebuild replays a history known to be clean, into shadow tables no
reader sees, so it applies thousands of merged events at once: every source's checkpoint is
locked, checked, and saved in the one transaction, with the applied versions of every stream.

Only the clean case is taken: every event exactly the next version of its stream, no stream
parked, the projection raising nothing. Anything else (a duplicate, a gap, a parked stream, a
failure of the projection) rolls the whole transaction back and `apply_merged` returns None, so
that the caller applies the same runs the ordinary way (`Projector.apply`, with its dedupe,
parking and dead letters) — the same events in the same order, so the same tables.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from bilet.eventstore import RecordedEvent
from bilet.projections.projector import Projector
from bilet.projections.readmodel import Checkpoint


@dataclass(frozen=True, slots=True)
class Run:
    """Consecutive events of one source, as the merge hands them over."""

    source: str
    events: Sequence[RecordedEvent]


class _NotClean(Exception):
    """Raised inside the transaction to roll it back: the runs take the ordinary path."""


async def apply_merged(
    projector: Projector,
    runs: Sequence[Run],
    checkpoints: dict[str, int],
    parked: set[tuple[str, str]],
) -> dict[str, int] | None:
    """Apply `runs` in order in one transaction from the sources' `checkpoints` (each source's
    feed is its name, partition 0): the new checkpoints, or None when the runs are not clean
    (nothing applied). `parked` holds the (source, stream id) pairs parked before the call."""
    read_model = projector.read_model
    key, layout = projector.key, projector.layout
    sources = sorted({run.source for run in runs})  # the checkpoints locked in one order
    moved = dict(checkpoints)
    try:
        async with read_model.transaction(layout.renderer) as tx:
            tx.regroup_writes = True
            positions: dict[str, int] = {}
            for source in sources:
                stored = await read_model.lock_checkpoint(tx, key, source, 0)
                if stored is None or stored.next_offset != checkpoints[source]:
                    raise _NotClean
                positions[source] = stored.position
            versions = {
                source: await read_model.load_versions(
                    tx,
                    layout,
                    source,
                    {e.stream_id for run in runs if run.source == source for e in run.events},
                )
                for source in sources
            }
            changed: dict[str, dict[str, tuple[str, int, int]]] = {s: {} for s in sources}
            applied = 0
            for run in runs:
                source, seen, touched = run.source, versions[run.source], changed[run.source]
                for event in run.events:
                    stream_id, version = event.stream_id, event.version
                    if version != seen.get(stream_id, -1) + 1 or (source, stream_id) in parked:
                        raise _NotClean
                    try:
                        await projector.projection.apply(tx, event)
                    except Exception as error:
                        if read_model.is_transient(error):
                            raise
                        raise _NotClean from error
                    seen[stream_id] = version
                    touched[stream_id] = (stream_id, version, event.position)
                    moved[source] = event.position
                    positions[source] = max(positions[source], event.position)
                    applied += 1
            try:
                await tx.settle()
                await tx.flush()
            except Exception as error:
                if read_model.is_transient(error):
                    raise
                raise _NotClean from error
            for source in sources:
                await read_model.save_versions(tx, layout, source, list(changed[source].values()))
                await read_model.save_checkpoint(
                    tx, key, source, 0, Checkpoint(moved[source], positions[source])
                )
            await read_model.announce_in(tx, key, tx.changes)
    except _NotClean:
        return None
    read_model.announce(key, tx.changes)
    name = projector.projection.name
    projector.metrics.applied.labels(name).inc(applied)
    for source in sources:
        projector.metrics.position.labels(key, source, "0").set(positions[source])
    return moved
