"""The worker's path on the real Kafka broker and PostgreSQL: identity's, consent's and the events
service's own published events on their topics reach the facts and the catalogue."""

import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bilet.contracts import DomainEvent
from bilet.contracts.catalogue.consent import Purpose
from bilet.facts.testing import feed_through_kafka, postgres_read_model
from bilet_events.adapters.facts import ReadModelCatalogue, ReadModelFacts
from bilet_events.application.facts import CatalogueFilter, SealedNeeds
from bilet_events.facts_testing import (
    PARTICIPATION,
    REGION,
    booked,
    career_event,
    envelope,
    registered,
    rules,
    school,
    session,
    verified,
)
from bilet_events.worker import WorkerSettings, build_feed

pytestmark = pytest.mark.integration


async def test_the_worker_feeds_facts_and_catalogue_from_the_three_topics(
    kafka_bootstrap: str, database_url: str, tmp_path: Path
) -> None:
    settings = WorkerSettings(var_dir=tmp_path / "var", kafka_bootstrap=kafka_bootstrap)
    pupil = uuid.uuid4()
    sitting = session(datetime(2019, 11, 11, 10, tzinfo=UTC), 3)
    published = career_event(sitting)
    by_source: dict[str, list[DomainEvent]] = {
        "identity": [rules(2019), school(), registered(pupil)],
        "consent": [verified(pupil, purposes=(*PARTICIPATION, Purpose.HEALTH_DATA))],
        "events": [published, booked(published, sitting.session_id)],
    }
    async with postgres_read_model(database_url, "t_events_rm") as read_model:
        await feed_through_kafka(
            kafka_bootstrap,
            by_source,
            lambda topics: build_feed(
                settings, read_model, topics=topics, group_id=f"test-{uuid.uuid4().hex}"
            ),
        )
        found = await ReadModelFacts(read_model).pupil(pupil, date(2019, 10, 14))
        maximum = await ReadModelFacts(read_model).max_career_events(2019)
        page = await ReadModelCatalogue(read_model).search(
            CatalogueFilter(region_id=REGION), after=None, limit=5
        )
    assert found is not None
    assert found.accessibility_needs == SealedNeeds(envelope("accessibility_needs"), 1)
    assert maximum == 3
    (entry,) = page.entries
    assert entry.career_event == published
    assert entry.sessions[0].seats_left == 2
