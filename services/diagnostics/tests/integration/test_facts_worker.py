"""The worker's path on the real Kafka broker and PostgreSQL: identity's, consent's and
diagnostics' published events on their topics reach the facts read model."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from bilet.contracts import DomainEvent
from bilet.contracts.catalogue.consent import Purpose
from bilet.contracts.vocabulary import Stage
from bilet.facts.testing import fresh_topics, recorded
from bilet.pgschema import drop_schema
from bilet.projections.postgres import PostgresReadModel
from bilet.projections.testing import produce
from bilet_diagnostics.adapters.facts import PROJECTION, ReadModelFacts
from bilet_diagnostics.facts_testing import (
    REGION,
    SCHOOL_3,
    completed,
    region,
    registered,
    school,
    started,
    verified,
    window,
)
from bilet_diagnostics.worker import WorkerSettings, build_feed

pytestmark = pytest.mark.integration

SOURCES = ("identity", "consent", "diagnostics")


@pytest.fixture
async def topics(kafka_bootstrap: str) -> AsyncIterator[dict[str, str]]:
    """A fresh topic per source (topic → source)."""
    async with fresh_topics(kafka_bootstrap, SOURCES) as names:
        yield names


async def test_the_worker_feeds_the_facts_from_the_three_topics(
    kafka_bootstrap: str, database_url: str, topics: dict[str, str], tmp_path: Path
) -> None:
    schema = f"t_diag_rm_{uuid.uuid4().hex[:10]}"
    settings = WorkerSettings(var_dir=tmp_path / "var", kafka_bootstrap=kafka_bootstrap)
    pupil = uuid.uuid4()
    interests = started(pupil, Stage.INTERESTS)
    by_source: dict[str, list[DomainEvent]] = {
        "identity": [
            region(REGION, "Europe/Moscow"),
            window(date(2019, 10, 11), date(2019, 10, 31)),
            school(SCHOOL_3),
            registered(pupil, grade=7),
        ],
        "consent": [verified(pupil, date(2020, 8, 31))],
        "diagnostics": [interests, completed(interests)],
    }
    for topic, source in topics.items():
        await produce(kafka_bootstrap, topic, recorded(by_source[source]), service=source)

    read_model = await PostgresReadModel.open(database_url, schema=schema)
    try:
        feed = build_feed(settings, read_model, topics=topics, group_id=f"test-{schema}")
        task = asyncio.create_task(feed.run())
        try:
            for source, events in by_source.items():
                last = events[-1]
                await read_model.wait_until(
                    PROJECTION, source, len(events), 60, stream_id=last.stream_id
                )
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        facts = ReadModelFacts(read_model)
        found = await facts.pupil(pupil, date(2019, 10, 14))
        progress = await facts.progress(SCHOOL_3, 2019)
        is_open = await facts.window_open(REGION, 2019, Stage.INTERESTS, date(2019, 10, 14))
    finally:
        await read_model.close()
        await drop_schema(database_url, schema)
    assert found is not None
    assert found.purposes == {Purpose.PROGRAMME_PARTICIPATION, Purpose.ONLINE_DIAGNOSTICS}
    assert is_open
    (grade,) = progress.grades
    assert (grade.grade, grade.stages[0].started, grade.stages[0].completed) == (7, 1, 1)
