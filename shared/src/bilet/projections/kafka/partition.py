"""What the Kafka feed keeps per assigned partition, and its records as the projector's
deliveries."""

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bilet.projections.decode import Decoder
from bilet.projections.projector import Delivery


def deliveries_of(records: Sequence[Any], decode: Decoder) -> list[Delivery]:
    """A partition's records as the projector takes them, decoded by `decode` (the
    projection's `decoder_for`); a record that is no event of ours still becomes a delivery,
    with its `problem`, so that it is dead-lettered rather than lost or fatal. One loop for the
    batch, not a call per record: this runs for every record the feed applies (ADR 0082)."""
    deliveries: list[Delivery] = []
    append = deliveries.append
    for record in records:
        offset: int = record.offset
        try:
            event = decode(record.value, record.headers)
        except Exception as error:  # NotACloudEvent, or whatever a foreign record makes of it
            append(Delivery(None, offset, offset + 1, record, f"{type(error).__name__}: {error}"))
        else:
            append(Delivery(event, offset, offset + 1, record))
    return deliveries


@dataclass(eq=False)
class AssignedPartition:
    """What the feed knows of one assigned partition."""

    offset: int  # the next offset to apply: the one stored with the read model
    epoch: int = 0  # bumped on every seek; batches fetched before it are dropped
    # Polls decoded by the fetch loop, waiting for the partition's worker: (epoch, deliveries).
    queue: asyncio.Queue[tuple[int, list[Delivery]]] = field(
        default_factory=lambda: asyncio.Queue(2)
    )
    fetched: int = -1  # the next offset to fetch in this epoch: past the last one queued
    busy: asyncio.Lock = field(default_factory=asyncio.Lock)
    worker: asyncio.Task[None] | None = None
    paused_until: float | None = None
    gap_attempts: dict[int, int] = field(default_factory=dict)
    verdicts: dict[int, tuple[str, str]] = field(default_factory=dict)


def next_batch(
    partition: AssignedPartition, first: list[Delivery]
) -> tuple[list[Delivery], list[int]]:
    """What a partition's worker applies in one transaction: the poll it took (`first`, of the
    partition's current epoch) extended by the polls queued behind it, in order (ADR 0093), and
    the offsets at which those joined polls begin (the projector retries each poll alone when
    the batch fails, ADR 0096). A worker that fell behind commits the polls waiting for it
    together — fewer transactions, so fewer round trips per event — and frees the queue for the
    fetch loop at once. A queued poll is of the current epoch too (epochs only grow, and `first`
    is of the current one); one of another would be dropped on its turn, and is dropped here.
    Offsets only grow in what is joined: a queued poll's records at or below the batch's last
    are dropped (the consumer resets a position out of range to the earliest offset without a
    seek of ours, and the worker's skip of what is applied already looks only at the batch's
    start). At most three polls: the queue holds two."""
    queue = partition.queue
    starts: list[int] = []
    while not queue.empty():
        epoch, deliveries = queue.get_nowait()
        if epoch != partition.epoch or not deliveries:
            continue
        after = first[-1].offset if first else -1
        joined = len(first)
        if deliveries[0].offset > after:
            first.extend(deliveries)  # one comparison a poll: the usual case
        else:
            first.extend(delivery for delivery in deliveries if delivery.offset > after)
        if len(first) > joined:
            starts.append(first[joined].offset)
    return first, starts


def fetched_to(partitions: Mapping[Any, AssignedPartition], goal: Mapping[Any, int]) -> bool:
    """Whether every partition of `goal` has been fetched (queued for its worker) up to its
    goal offset in its current epoch: a catch-up then has nothing left to ask the broker for and
    waits for its workers, not for a poll to time out (ADR 0093)."""
    return all(
        (partition := partitions.get(tp)) is not None and partition.fetched >= offset
        for tp, offset in goal.items()
    )


def forget(partition: AssignedPartition, *, below: int) -> None:
    """Drop the gap re-read counts and verdicts of offsets the checkpoint has passed."""
    if partition.verdicts:
        for offset in [o for o in partition.verdicts if o < below]:
            del partition.verdicts[offset]
    if partition.gap_attempts:
        for offset in [o for o in partition.gap_attempts if o < below]:
            del partition.gap_attempts[offset]
