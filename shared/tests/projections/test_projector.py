"""The engine every feed shares, on SQLite and PostgreSQL: dedupe by stream version, gaps stopped,
parked streams, poison events, checkpoints that moved, read-your-writes waits, metrics."""

import asyncio
import dataclasses
from collections.abc import Sequence

import pytest
from prometheus_client import CollectorRegistry

from bilet.eventstore import RecordedEvent
from bilet.projections import (
    Applied,
    Delivery,
    Gap,
    Moved,
    NotApplied,
    ProjectionMetrics,
    Projector,
    ReadModel,
    Table,
)
from bilet.projections.port import SqlRenderer
from bilet.projections.projector import split_polls
from bilet.projections.testing import (
    COUNTS,
    POISON,
    ReadModelFactory,
    StreamCounter,
    expected_counts,
    history,
    read_applied,
    read_counts,
)

FEED = "identity"


def deliveries(events: Sequence[RecordedEvent]) -> list[Delivery]:
    """As the embedded feed delivers: offset and checkpoint are the store position."""
    return [Delivery(e, e.position, e.position) for e in events]


async def projector_on(read_model: ReadModel, **options: object) -> Projector:
    projector = Projector(read_model, StreamCounter(), **options)  # type: ignore[arg-type]
    await projector.install()
    await projector.resume_points(FEED, [0], FEED)
    return projector


# ---------------------------------------------------------------------------- the port


def test_given_portable_sql_then_sqlite_gets_numbered_parameters_and_tables_their_names() -> None:
    renderer = SqlRenderer("sqlite", {"counts": "counts__rebuild"})
    assert (
        renderer.render("UPDATE {counts} SET n = $2 WHERE id = $1 AND note = '{{x}}'")
        == "UPDATE counts__rebuild SET n = ?2 WHERE id = ?1 AND note = '{x}'"
    )
    postgres = SqlRenderer("postgresql", {"counts": "counts"})
    assert postgres.render("SELECT * FROM {counts} WHERE id = $1") == (
        "SELECT * FROM counts WHERE id = $1"
    )
    with pytest.raises(ValueError, match="unknown table"):
        postgres.render("SELECT * FROM {nope}")


def test_given_a_table_named_like_the_runtimes_then_it_is_refused() -> None:
    with pytest.raises(ValueError, match="runtime"):
        Table("bvb_applied_x", "id TEXT")
    with pytest.raises(ValueError, match="identifier"):
        Table("Counts; DROP", "id TEXT")


# ---------------------------------------------------------------------------- dedupe


async def test_given_duplicated_and_reordered_deliveries_then_each_event_counts_once(
    read_model: ReadModel,
) -> None:
    events = history(5, 6)
    projector = await projector_on(read_model)
    first = await projector.apply(FEED, 0, 0, deliveries(events))
    assert first == Applied(events[-1].position)

    # The same events again, shuffled, as a crashed relay or consumer would deliver them.
    again = list(reversed(events))
    outcome = await projector.apply(FEED, 0, events[-1].position, deliveries(again))

    assert isinstance(outcome, Applied)
    assert await read_counts(read_model) == expected_counts(events)
    applied = await read_applied(read_model)
    assert applied == {
        (FEED, stream): (counts[2], max(e.position for e in events if e.stream_id == stream))
        for stream, counts in expected_counts(events).items()
    }


async def test_given_a_version_gap_then_the_batch_stops_before_it_and_commits_what_came_first(
    read_model: ReadModel,
) -> None:
    events = history(1, 5)
    skipped = events[2]
    projector = await projector_on(read_model)

    outcome = await projector.apply(FEED, 0, 0, deliveries([e for e in events if e != skipped]))

    assert isinstance(outcome, Gap)
    assert outcome.checkpoint == events[1].position  # v0 and v1 applied and checkpointed
    assert outcome.delivery.event == events[3]
    assert outcome.applied == 1
    assert await read_counts(read_model) == expected_counts(events[:2])
    assert await read_model.checkpoints(COUNTS) == {(FEED, 0): events[1].position}


async def test_given_a_verdict_on_a_gap_then_the_event_and_the_rest_of_its_stream_are_parked(
    read_model: ReadModel,
) -> None:
    events = history(3, 4)
    victim = events[0].stream_id
    missing = next(e for e in events if e.stream_id == victim and e.version == 1)
    delivered = [e for e in events if e != missing]
    projector = await projector_on(read_model)
    gap = await projector.apply(FEED, 0, 0, deliveries(delivered))
    assert isinstance(gap, Gap)

    verdict = {gap.delivery.offset: ("gap", gap.reason)}
    rest = [e for e in delivered if e.position > gap.checkpoint]
    outcome = await projector.apply(FEED, 0, gap.checkpoint, deliveries(rest), verdict)

    assert outcome == Applied(events[-1].position)
    others = [e for e in events if e.stream_id != victim]
    assert await read_counts(read_model) == {
        **expected_counts(others),
        victim: (1, "Registered", 0),
    }
    parked = await read_model.parked(COUNTS)
    assert [(p.stream_id, p.version) for p in parked] == [(victim, 2)]
    assert "gap" in parked[0].reason
    letters = await read_model.dead_letters(COUNTS)
    assert [(s, v, kind) for s, v, kind, _ in letters] == [
        (victim, 2, "gap"),
        (victim, 3, "parked"),
    ]

    # A parked stream stays parked, even for its missing event arriving late.
    late = await projector.apply(FEED, 0, events[-1].position, deliveries([missing]))
    assert isinstance(late, Applied)
    assert (await read_counts(read_model))[victim] == (1, "Registered", 0)


async def test_given_a_poison_event_then_it_is_dead_lettered_after_its_attempts_and_rest_applies(
    read_model: ReadModel,
) -> None:
    events = history(4, 3)
    poisoned = events[5]
    events[5] = poisoned._replace(type=POISON)
    registry = CollectorRegistry()
    projector = await projector_on(
        read_model, metrics=ProjectionMetrics(registry), attempts=2, retry_delay=0.0
    )

    outcome = await projector.apply(FEED, 0, 0, deliveries(events))

    assert outcome == Applied(events[-1].position)
    healthy = [e for e in events if e.stream_id != poisoned.stream_id]
    before = [
        e for e in events if e.stream_id == poisoned.stream_id and e.version < poisoned.version
    ]
    assert await read_counts(read_model) == {
        **expected_counts(healthy),
        **expected_counts(before),
    }
    letters = await read_model.dead_letters(COUNTS)
    assert letters[0][:3] == (poisoned.stream_id, poisoned.version, "failed")
    assert "cannot digest" in letters[0][3]
    assert "2 times" in letters[0][3]
    assert all(kind == "parked" for _, _, kind, _ in letters[1:])
    value = registry.get_sample_value
    assert (
        value("bilet_projection_dead_letters_total", {"projection": COUNTS, "kind": "failed"}) == 1
    )
    assert value("bilet_projection_events_applied_total", {"projection": COUNTS}) == len(
        healthy
    ) + len(before)


async def test_given_a_checkpoint_moved_by_another_consumer_then_the_batch_applies_nothing(
    read_model: ReadModel,
) -> None:
    events = history(2, 3)
    projector = await projector_on(read_model)
    await projector.apply(FEED, 0, 0, deliveries(events[:3]))

    # A zombie that still believes the partition is at 0.
    outcome = await projector.apply(FEED, 0, 0, deliveries(events))

    assert outcome == Moved(events[2].position)
    assert await read_counts(read_model) == expected_counts(events[:3])


async def test_given_a_failing_database_statement_then_it_counts_as_the_projections_failure(
    read_model: ReadModel,
) -> None:
    class BadSql(StreamCounter):
        async def apply(self, tx, event):  # type: ignore[no-untyped-def]
            if event.version == 1:
                await tx.execute("INSERT INTO {stream_counts} (stream_id) VALUES ($1)", "x")
            await super().apply(tx, event)

    events = history(1, 3)
    projector = Projector(read_model, BadSql(), attempts=1, retry_delay=0.0)
    await projector.install()
    await projector.resume_points(FEED, [0], FEED)

    outcome = await projector.apply(FEED, 0, 0, deliveries(events))

    assert outcome == Applied(events[-1].position)
    assert await read_counts(read_model) == expected_counts(events[:1])
    assert [kind for _, _, kind, _ in await read_model.dead_letters(COUNTS)] == [
        "failed",
        "parked",
    ]


# ---------------------------------------------------------------------------- read your writes


async def test_given_a_waiter_when_the_position_is_applied_then_it_returns_and_else_times_out(
    open_read_model: ReadModelFactory,
) -> None:
    read_model = await open_read_model()
    other_process = await open_read_model()
    events = history(3, 3)
    projector = await projector_on(read_model)
    target = events[4]

    waiter = asyncio.create_task(
        other_process.wait_until(COUNTS, FEED, target.position, timeout=10.0)
    )
    stream_waiter = asyncio.create_task(
        other_process.wait_until(
            COUNTS, FEED, target.position, timeout=10.0, stream_id=target.stream_id
        )
    )
    await asyncio.sleep(0.2)
    assert not waiter.done()
    await projector.apply(FEED, 0, 0, deliveries(events[:5]))

    assert await waiter == target.position
    assert await stream_waiter == target.position
    with pytest.raises(NotApplied) as not_yet:
        await read_model.wait_until(COUNTS, FEED, events[-1].position, timeout=0.2)
    assert not_yet.value.reached == target.position
    assert await read_model.position(COUNTS, FEED) == target.position
    assert await read_model.position(COUNTS, "consent") == 0


async def test_given_a_delivery_that_is_no_event_then_it_is_dead_lettered_and_skipped(
    read_model: ReadModel,
) -> None:
    events = history(1, 2)
    projector = await projector_on(read_model)
    broken = Delivery(None, events[0].position + 1, events[0].position + 1, problem="no ce_id")
    batch = [*deliveries(events[:1]), broken]
    batch.append(dataclasses.replace(deliveries(events[1:])[0]))

    outcome = await projector.apply(FEED, 0, 0, batch)

    assert outcome == Applied(events[1].position)
    assert await read_counts(read_model) == expected_counts(events)
    assert [(kind, reason) for _, _, kind, reason in await read_model.dead_letters(COUNTS)] == [
        ("malformed", "no ce_id")
    ]


async def test_given_a_joined_batch_with_a_poison_in_one_poll_then_each_other_poll_commits_whole(
    read_model: ReadModel,
) -> None:
    # Given: three polls joined in one batch (ADR 0093), a poison event in the second
    events = history(4, 3)
    poisoned = events[5]
    events[5] = poisoned._replace(type=POISON)
    batch = deliveries(events)
    projector = await projector_on(read_model, attempts=2, retry_delay=0.0)
    commits = 0
    record_batch = read_model.record_batch

    async def counted(*args: object, **kwargs: object) -> None:
        nonlocal commits
        commits += 1
        await record_batch(*args, **kwargs)  # type: ignore[arg-type]

    read_model.record_batch = counted  # type: ignore[method-assign]

    # When
    outcome = await projector.apply(
        FEED, 0, 0, batch, polls_from=[batch[4].offset, batch[8].offset]
    )

    # Then: the first and the last poll commit in one transaction each, only the poisoned one
    # goes event by event (four commits: three applied, one dead-lettered), not all twelve
    assert outcome == Applied(events[-1].position)
    assert commits == 1 + 4 + 1
    healthy = [e for e in events if e.stream_id != poisoned.stream_id]
    before = [
        e for e in events if e.stream_id == poisoned.stream_id and e.version < poisoned.version
    ]
    assert await read_counts(read_model) == {
        **expected_counts(healthy),
        **expected_counts(before),
    }
    letters = await read_model.dead_letters(COUNTS)
    assert letters[0][:3] == (poisoned.stream_id, poisoned.version, "failed")
    assert all(kind == "parked" for _, _, kind, _ in letters[1:])


def test_given_the_offsets_where_joined_polls_begin_then_the_batch_splits_back_into_them() -> None:
    batch = [Delivery(None, offset, offset + 1) for offset in range(10, 20)]

    assert [[d.offset for d in poll] for poll in split_polls(batch, [13, 17])] == [
        list(range(10, 13)),
        list(range(13, 17)),
        list(range(17, 20)),
    ]
    assert split_polls(batch, []) == [batch]
    # A batch trimmed at its start (applied already) keeps the later cuts; a cut at its first
    # delivery or past its end makes no empty poll.
    assert [len(poll) for poll in split_polls(batch[4:], [13, 17, 25])] == [3, 3]
