"""Work a projection gathers over a transaction's events (`ReadModelTx.gathered`, ADR 0060), on
SQLite and PostgreSQL: done once per batch, after its last event and before the commit, with
the batch; when it fails, the batch is applied one event per transaction like any failure of
the projection; applied outside the runtime, the read model's transaction does it at commit."""

from collections.abc import Sequence

from bilet.eventstore import RecordedEvent
from bilet.projections import Applied, Delivery, Projector, ReadModel, ReadModelTx, Table
from bilet.projections.readmodel import layout_of
from bilet.projections.testing import COUNTS, StreamCounter, expected_counts, history, read_counts

FEED = "identity"
SPOILS_AT_COMMIT = "SpoilsAtCommit"  # an event type whose gathered work fails


class TouchedStreams:
    """The streams a transaction's events touched; one `batches` row per transaction."""

    def __init__(self) -> None:
        self.streams: list[str] = []
        self.spoilt = False

    async def before_commit(self, tx: ReadModelTx) -> None:
        if self.spoilt:
            raise ValueError("cannot sum up a spoilt batch")
        await tx.execute(
            "INSERT INTO {batches} (first_stream, streams, events) VALUES ($1, $2, $3)",
            self.streams[0],
            ",".join(sorted(set(self.streams))),
            len(self.streams),
        )


class BatchSummaries:
    """The example projection, and a row per transaction summing up what it applied."""

    name = COUNTS
    tables = (
        *StreamCounter.tables,
        Table("batches", "first_stream TEXT NOT NULL, streams TEXT NOT NULL, events BIGINT"),
    )

    async def apply(self, tx: ReadModelTx, event: RecordedEvent) -> None:
        await StreamCounter().apply(tx, event)
        touched = tx.gathered(TouchedStreams)
        touched.streams.append(event.stream_id)
        touched.spoilt = touched.spoilt or event.type == SPOILS_AT_COMMIT


async def read_batches(read_model: ReadModel) -> list[tuple[str, str, int]]:
    async with read_model.query(BatchSummaries()) as tx:
        rows = await tx.fetch("SELECT first_stream, streams, events FROM {batches}")
    return sorted((row[0], row[1], row[2]) for row in rows)


def deliveries(events: Sequence[RecordedEvent]) -> list[Delivery]:
    return [Delivery(e, e.position, e.position) for e in events]


async def summing_projector(read_model: ReadModel) -> Projector:
    projector = Projector(read_model, BatchSummaries(), attempts=2, retry_delay=0.0)
    await projector.install()
    await projector.resume_points(FEED, [0], FEED)
    return projector


async def test_given_a_batch_then_the_gathered_work_is_done_once_and_commits_with_it(
    read_model: ReadModel,
) -> None:
    events = history(3, 4)
    projector = await summing_projector(read_model)

    first = await projector.apply(FEED, 0, 0, deliveries(events[:7]))
    second = await projector.apply(FEED, 0, events[6].position, deliveries(events))

    assert (first, second) == (Applied(events[6].position), Applied(events[-1].position))
    assert await read_counts(read_model) == expected_counts(events)
    assert await read_batches(read_model) == sorted(
        [
            (part[0].stream_id, ",".join(sorted({e.stream_id for e in part})), len(part))
            for part in (events[:7], events[7:])  # the duplicates of the second are skipped
        ]
    )


async def test_given_gathered_work_that_fails_then_the_batch_goes_one_by_one_its_event_lost(
    read_model: ReadModel,
) -> None:
    events = history(3, 3)
    spoiler = events[4]
    events[4] = spoiler._replace(type=SPOILS_AT_COMMIT)
    projector = await summing_projector(read_model)

    outcome = await projector.apply(FEED, 0, 0, deliveries(events))

    assert outcome == Applied(events[-1].position)
    kept = [e for e in events if e.stream_id != spoiler.stream_id or e.version < spoiler.version]
    # One event per transaction after the failure: a summary of each applied event alone.
    assert await read_batches(read_model) == sorted((e.stream_id, e.stream_id, 1) for e in kept)
    assert await read_counts(read_model) == expected_counts(kept)
    letters = await read_model.dead_letters(COUNTS)
    assert letters[0][:3] == (spoiler.stream_id, spoiler.version, "failed")
    assert "cannot sum up" in letters[0][3]
    assert all(kind == "parked" for _, _, kind, _ in letters[1:])


async def test_given_a_projection_applied_outside_the_runtime_then_the_commit_does_its_work(
    read_model: ReadModel,
) -> None:
    projection = BatchSummaries()
    await read_model.install(projection)
    events = history(2, 2)

    async with read_model.transaction(layout_of(projection, read_model.dialect).renderer) as tx:
        for event in events:
            await projection.apply(tx, event)

    streams = ",".join(sorted({e.stream_id for e in events}))
    assert await read_batches(read_model) == [(events[0].stream_id, streams, len(events))]
