"""The worker's path on the real Kafka broker and PostgreSQL: identity's, consent's and the events
service's own published events on their topics reach the facts and the catalogue."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bilet.contracts import DomainEvent
from bilet.contracts.catalogue.consent import Purpose
from bilet.facts.testing import fresh_topics
from bilet.pgschema import drop_schema
from bilet.projections.postgres import PostgresReadModel
from bilet.projections.testing import produce
from bilet_events.adapters.facts import PROJECTION, ReadModelCatalogue, ReadModelFacts
from bilet_events.application.facts import CatalogueFilter, SealedNeeds
from bilet_events.facts_testing import (
    PARTICIPATION,
    REGION,
    booked,
    career_event,
    envelope,
    recorded,
    registered,
    rules,
    school,
    session,
    verified,
)
from bilet_events.worker import WorkerSettings, build_feed

pytestmark = pytest.mark.integration

SOURCES = ("identity", "consent", "events")


@pytest.fixture
async def topics(kafka_bootstrap: str) -> AsyncIterator[dict[str, str]]:
    """A fresh topic per source (topic → source)."""
    async with fresh_topics(kafka_bootstrap, SOURCES) as names:
        yield names


async def test_the_worker_feeds_facts_and_catalogue_from_the_three_topics(
    kafka_bootstrap: str, database_url: str, topics: dict[str, str], tmp_path: Path
) -> None:
    schema = f"t_events_rm_{uuid.uuid4().hex[:10]}"
    settings = WorkerSettings(var_dir=tmp_path / "var", kafka_bootstrap=kafka_bootstrap)
    pupil = uuid.uuid4()
    sitting = session(datetime(2019, 11, 11, 10, tzinfo=UTC), 3)
    published = career_event(sitting)
    by_source: dict[str, list[DomainEvent]] = {
        "identity": [rules(2019), school(), registered(pupil)],
        "consent": [verified(pupil, purposes=(*PARTICIPATION, Purpose.HEALTH_DATA))],
        "events": [published, booked(published, sitting.session_id)],
    }
    for topic, source in topics.items():
        await produce(kafka_bootstrap, topic, recorded(by_source[source]), service=source)

    read_model = await PostgresReadModel.open(database_url, schema=schema)
    try:
        feed = build_feed(settings, read_model, topics=topics, group_id=f"test-{schema}")
        task = asyncio.create_task(feed.run())
        try:
            for source, events in by_source.items():
                await read_model.wait_until(
                    PROJECTION, source, len(events), 60, stream_id=events[-1].stream_id
                )
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        found = await ReadModelFacts(read_model).pupil(pupil, date(2019, 10, 14))
        maximum = await ReadModelFacts(read_model).max_career_events(2019)
        page = await ReadModelCatalogue(read_model).search(
            CatalogueFilter(region_id=REGION), after=None, limit=5
        )
    finally:
        await read_model.close()
        await drop_schema(database_url, schema)
    assert found is not None
    assert found.accessibility_needs == SealedNeeds(envelope("accessibility_needs"), 1)
    assert maximum == 3
    (entry,) = page.entries
    assert entry.career_event == published
    assert entry.sessions[0].seats_left == 2
