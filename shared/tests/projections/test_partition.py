"""What a partition's worker takes for one transaction (the poll it got and those queued behind it
of the same epoch, in order) and when a catch-up has fetched everything up to its goal (ADR 0093).
Pure: no broker, no database."""

from bilet.projections.kafka.partition import AssignedPartition, fetched_to, next_batch
from bilet.projections.projector import Delivery


def polls(*offsets: range) -> list[list[Delivery]]:
    return [[Delivery(None, offset, offset + 1) for offset in poll] for poll in offsets]


def offsets(deliveries: list[Delivery]) -> list[int]:
    return [delivery.offset for delivery in deliveries]


async def test_given_polls_queued_behind_the_one_taken_then_they_join_it_in_order() -> None:
    # Given
    partition = AssignedPartition(0, epoch=3)
    first, second, third = polls(range(0, 3), range(3, 5), range(5, 9))
    partition.queue.put_nowait((3, second))
    partition.queue.put_nowait((3, third))

    # When
    batch, starts = next_batch(partition, first)

    # Then
    assert offsets(batch) == list(range(9))
    assert starts == [3, 5]  # where the joined polls begin
    assert partition.queue.empty()  # the fetch loop may queue the next polls at once


async def test_given_nothing_queued_then_the_batch_is_the_poll_taken() -> None:
    # Given
    partition = AssignedPartition(0)
    (first,) = polls(range(4))

    # When
    batch, starts = next_batch(partition, first)

    # Then
    assert offsets(batch) == [0, 1, 2, 3]
    assert starts == []


async def test_given_a_queued_poll_of_an_earlier_epoch_then_it_is_dropped_not_joined() -> None:
    # Given: a poll fetched before a seek (epoch 1) queued ahead of one fetched after it
    partition = AssignedPartition(0, epoch=2)
    first, stale, fresh = polls(range(0, 2), range(10, 12), range(2, 4))
    partition.queue.put_nowait((1, stale))
    partition.queue.put_nowait((2, fresh))

    # When
    batch, starts = next_batch(partition, first)

    # Then
    assert offsets(batch) == [0, 1, 2, 3]
    assert starts == [2]
    assert partition.queue.empty()


async def test_given_a_queued_poll_whose_offsets_went_back_then_only_later_ones_join() -> None:
    # Given: the consumer reset a position out of range to the earliest offset, no seek of ours
    # (the epoch stays), so a poll from offset 0 queued behind one that ended at 1002
    partition = AssignedPartition(1000, epoch=1)
    first, restarted, overlapping = polls(range(1000, 1003), range(0, 3), range(1001, 1005))
    partition.queue.put_nowait((1, restarted))
    partition.queue.put_nowait((1, overlapping))

    # When
    batch, starts = next_batch(partition, first)

    # Then: offsets only grow in a batch; what is at or below its last is not joined
    assert offsets(batch) == [1000, 1001, 1002, 1003, 1004]
    assert starts == [1003]  # the overlapping poll joined from its first new offset


def test_given_every_partition_queued_up_to_its_goal_then_the_catch_up_has_fetched_all() -> None:
    partitions = {"p0": AssignedPartition(0, fetched=10), "p1": AssignedPartition(0, fetched=7)}

    assert fetched_to(partitions, {"p0": 10, "p1": 5})
    assert fetched_to(partitions, {})


def test_given_a_partition_short_of_its_goal_or_not_assigned_then_not_all_is_fetched() -> None:
    partitions = {"p0": AssignedPartition(0, fetched=10), "p1": AssignedPartition(0, fetched=4)}

    assert not fetched_to(partitions, {"p0": 10, "p1": 5})  # p1 still has offset 4 to fetch
    assert not fetched_to(partitions, {"p0": 10, "p2": 0})  # p2 not resolved yet
    assert not fetched_to({"p0": AssignedPartition(3)}, {"p0": 0})  # never fetched nor sought
