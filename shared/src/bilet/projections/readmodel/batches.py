"""A batch's bookkeeping in the read model: the partition's checkpoint locked at its start and
moved at its end, with the applied versions of its streams and the announcement of what changed
(`lock_batch`, `record_batch`), written once over the adapter's hooks; PostgreSQL overrides the
two batch methods with one statement each (ADR 0067)."""

from collections.abc import Collection, Sequence

from bilet.projections.port import ReadModelTx
from bilet.projections.readmodel.adapter import ReadModelAdapter
from bilet.projections.readmodel.schema import Checkpoint, Layout


class BatchBookkeeping(ReadModelAdapter):
    """The checkpoint and applied-versions part of `ReadModel`."""

    async def lock_checkpoint(
        self, tx: ReadModelTx, key: str, feed: str, part: int
    ) -> Checkpoint | None:
        row = await tx.fetchrow(
            "SELECT next_offset, position, source FROM {bvb_checkpoints} "
            "WHERE projection = $1 AND feed = $2 AND part = $3{bvb_lock}",
            key,
            feed,
            part,
        )
        return None if row is None else Checkpoint(row[0], row[1], row[2])

    async def save_checkpoint(
        self, tx: ReadModelTx, key: str, feed: str, part: int, checkpoint: Checkpoint
    ) -> None:
        await tx.execute(
            "UPDATE {bvb_checkpoints} SET next_offset = $4, position = $5 "
            "WHERE projection = $1 AND feed = $2 AND part = $3",
            key,
            feed,
            part,
            checkpoint.next_offset,
            checkpoint.position,
        )

    async def lock_batch(
        self,
        tx: ReadModelTx,
        layout: Layout,
        key: str,
        feed: str,
        part: int,
        stream_ids: Collection[str],
    ) -> tuple[Checkpoint | None, dict[str, int]]:
        """A batch's start: the locked checkpoint of the partition and the applied versions of
        the batch's streams (of the checkpoint's source). PostgreSQL asks both in one statement."""
        stored = await self.lock_checkpoint(tx, key, feed, part)
        if stored is None:
            return None, {}
        return stored, await self.load_versions(tx, layout, stored.source, stream_ids)

    async def record_batch(
        self,
        tx: ReadModelTx,
        layout: Layout,
        key: str,
        feed: str,
        part: int,
        source: str,
        applied: Sequence[tuple[str, int, int]],
        checkpoint: Checkpoint,
        changed: Collection[str],
    ) -> None:
        """A batch's end, committed with its changes: the applied (stream id, version,
        position)s, the new checkpoint, and the announcement of what changed. PostgreSQL sends
        the three in one statement."""
        await self.save_versions(tx, layout, source, applied)
        await self.save_checkpoint(tx, key, feed, part, checkpoint)
        await self.announce_in(tx, key, changed)
