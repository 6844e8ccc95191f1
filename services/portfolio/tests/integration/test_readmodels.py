"""The portfolio read model on the real servers: PostgreSQL builds the same rows as SQLite and
answers the same queries; the Kafka feed builds them from topics published as the relay does."""

import uuid
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bilet.contracts.vocabulary import Stage
from bilet.projections import KafkaFeed, ReadModel, dlq_topic
from bilet.projections.postgres import PostgresReadModel, drop_schema
from bilet.projections.sqlite import SqliteReadModel
from bilet.projections.testing import produce
from bilet_portfolio.adapters.projection import PortfolioProjection
from bilet_portfolio.adapters.readmodel import SqlPortfolioReader
from bilet_portfolio.adapters.testing import (
    Recorded,
    apply_in_one_batch,
    apply_in_order,
    dump,
    sets_history,
    world_history,
)
from bilet_portfolio.application.listing import (
    After,
    ListCursors,
    SchoolQuery,
    SortKey,
)
from bilet_portfolio.domain.consent import ConsentState
from bilet_portfolio.domain.progress import ProgressFilter

if TYPE_CHECKING:
    from services.portfolio.tests.conftest import Catalogue, Ids, Recorder

pytestmark = pytest.mark.integration


async def rows_of(
    reader: SqlPortfolioReader, query: SchoolQuery, today: date, *, detailed: bool = True
) -> list[Any]:
    """The page of school 3's list (without its total)."""
    school_3 = uuid.uuid5(uuid.UUID("6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"), "school:3")
    rows, _total = await reader.school_page(str(school_3), query, today, detailed=detailed)
    return rows


@pytest.fixture
async def postgres(database_url: str) -> AsyncIterator[ReadModel]:
    schema = f"pf{uuid.uuid4().hex[:16]}"
    read_model = await PostgresReadModel.open(database_url, schema=schema)
    try:
        yield read_model
    finally:
        await read_model.close()
        await drop_schema(database_url, schema)


async def reference(tmp_path: Path, recorded: Recorded) -> dict[str, Any]:
    sqlite = await SqliteReadModel.open(tmp_path / "reference.sqlite3")
    try:
        await apply_in_order(sqlite, recorded)
        return await dump(sqlite)
    finally:
        await sqlite.close()


async def test_postgres_builds_the_rows_sqlite_builds_and_answers_the_queries(
    postgres: ReadModel,
    tmp_path: Path,
    catalogue: "Catalogue",
    ids: "Ids",
    recorder: "Recorder",
) -> None:
    recorded = await world_history(catalogue, ids, recorder)
    await apply_in_order(postgres, recorded)
    assert await dump(postgres) == await reference(tmp_path, recorded)

    reader = SqlPortfolioReader(postgres)
    snapshot = await reader.portfolio(str(ids.pupil("a")), lambda _: True)
    assert snapshot is not None
    a = snapshot.record
    assert a is not None
    assert a.participant.consent.state is ConsentState.VERIFIED
    assert a.participant.progress.career_events_attended == 1
    today = date(2019, 11, 5)
    everyone, total = await reader.school_page(
        str(ids.school_3), SchoolQuery(), today, detailed=True
    )
    assert total == 1
    assert [p.participant_id for p in everyone] == sorted(
        str(ids.pupil(name)) for name in ("a",)
    )  # b moved to school 5, e was erased
    query = SchoolQuery(consent=ConsentState.VERIFIED, sort=SortKey.GRADE_DESC, limit=1)
    assert [p.participant_id for p in await rows_of(reader, query, today)]
    attended = SchoolQuery(progress=ProgressFilter.CAREER_EVENT_ATTENDED)
    assert len(await rows_of(reader, attended, today)) == 1
    cursors = ListCursors(bytes(32))
    cursor = cursors.encode(str(ids.school_3), query, After(9, str(ids.pupil("zzz"))))
    after = SchoolQuery(
        consent=ConsentState.VERIFIED,
        sort=SortKey.GRADE_DESC,
        limit=1,
        after=cursors.decode(str(ids.school_3), query, cursor),
    )
    assert [p.grade for p in await rows_of(reader, after, today)] == [7]
    a_id = str(ids.pupil("a"))
    assert [p.participant_id for p in await reader.children(frozenset({a_id, "unknown"}))] == [a_id]
    snapshot = await reader.participant(a_id)
    assert snapshot is not None
    assert snapshot.reference_version == 5  # season rules, a region, a window, two schools
    assert (await reader.positions()) == {}  # applied outside a feed: no checkpoints


async def test_sets_of_one_batch_in_rounds_build_the_rows_sqlite_builds_one_by_one(
    postgres: ReadModel,
    tmp_path: Path,
    catalogue: "Catalogue",
    ids: "Ids",
    recorder: "Recorder",
) -> None:
    """ADR 0102: a live batch's sets, the last of each pupil's season, go to PostgreSQL as one
    statement over arrays per table (ADR 0089); the rows are those of one set at a time."""
    recorded = sets_history(catalogue, ids, recorder)
    await apply_in_one_batch(postgres, recorded)
    assert await dump(postgres) == await reference(tmp_path, recorded)


async def test_the_kafka_feed_builds_the_portfolio_from_relayed_events(
    kafka_bootstrap: str,
    postgres: ReadModel,
    tmp_path: Path,
    catalogue: "Catalogue",
    ids: "Ids",
    recorder: "Recorder",
) -> None:
    recorded = await world_history(catalogue, ids, recorder)
    suffix = uuid.uuid4().hex[:10]
    topics = {source: f"bilet.{source}{suffix}" for source, _ in recorded}
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 3, 1) for topic in topics.values()])
    finally:
        await admin.close()
    try:
        for source, topic in topics.items():
            events = [event for s, event in recorded if s == source]
            # Published as the relay does, and the first half published again (a relay crash).
            await produce(kafka_bootstrap, topic, events, service=source)
            await produce(kafka_bootstrap, topic, events[: len(events) // 2], service=source)
        feed = KafkaFeed(
            postgres,
            PortfolioProjection(),
            bootstrap_servers=kafka_bootstrap,
            topics=list(topics.values()),
            sources={topic: source for source, topic in topics.items()},
        )
        await feed.catch_up({})
        assert await dump(postgres) == await reference(tmp_path, recorded)
        assert set(await SqlPortfolioReader(postgres).positions()) == set(topics)
        for source, _ in recorded:
            assert await postgres.position("portfolio", source) > 0
    finally:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            doomed = [
                t for topic in topics.values() for t in (topic, dlq_topic(topic)) if t in existing
            ]
            await admin.delete_topics(doomed)
        finally:
            await admin.close()


async def test_closed_rows_sort_last_on_both_databases(
    postgres: ReadModel,
    tmp_path: Path,
    catalogue: "Catalogue",
    ids: "Ids",
    recorder: "Recorder",
) -> None:
    """Progress and update times of portfolios the caller does not see sort as NULL, after every
    other row in both directions, and paging past them goes on by participant id."""
    c = catalogue
    recorded = await world_history(c, ids, recorder)
    hidden = [ids.pupil("hidden-1"), ids.pupil("hidden-2")]
    for n, pid in enumerate(hidden):
        recorded += [
            recorder.record(await c.registered(pid)),
            recorder.record(c.completed(pid, ids.uid(f"attempt:hidden-{n}"), Stage.INTERESTS)),
        ]
    sqlite = await SqliteReadModel.open(tmp_path / "sorted.sqlite3")
    try:
        for read_model in (postgres, sqlite):
            await apply_in_order(read_model, recorded)
            reader = SqlPortfolioReader(read_model)
            today = date(2019, 11, 5)
            a = str(ids.pupil("a"))
            closed = sorted(str(pid) for pid in hidden)
            for sort in (SortKey.PROGRESS, SortKey.PROGRESS_DESC, SortKey.UPDATED_DESC):
                query = SchoolQuery(sort=sort, limit=10)
                page = await rows_of(reader, query, today)
                assert [p.participant_id for p in page] == [a, *closed], sort
                # After a cursor among the closed rows (value null): the rest, by id.
                after = SchoolQuery(sort=sort, limit=10, after=After(None, closed[0]))
                rest = await rows_of(reader, after, today)
                assert [p.participant_id for p in rest] == closed[1:], sort
                # After the open row: the closed ones follow.
                value = 2 if sort.column == "progress" else page[0].updated_at
                past_open = SchoolQuery(sort=sort, limit=10, after=After(value, a))
                tail = await rows_of(reader, past_open, today)
                assert [p.participant_id for p in tail] == closed, sort
            # Nothing is sorted by what a registrar may not see: participant ids.
            query = SchoolQuery(sort=SortKey.PROGRESS_DESC, limit=10)
            page = await rows_of(reader, query, today, detailed=False)
            assert [p.participant_id for p in page] == sorted([a, *closed])
    finally:
        await sqlite.close()
