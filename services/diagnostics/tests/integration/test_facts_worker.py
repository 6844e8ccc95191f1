"""The worker's path on the real Kafka broker and PostgreSQL: identity's, consent's and
diagnostics' published events on their topics reach the facts read model."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bilet.contracts import DomainEvent, EventMetadata, encode
from bilet.contracts.catalogue.consent import Purpose
from bilet.contracts.vocabulary import Stage
from bilet.eventstore import RecordedEvent
from bilet.pgschema import drop_schema
from bilet.projections import dlq_topic
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
    names = {f"bilet.t{uuid.uuid4().hex[:12]}": source for source in SOURCES}
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1) for name in names])
    finally:
        await admin.close()
    yield names
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = [t for name in names for t in (name, dlq_topic(name)) if t in existing]
        await admin.delete_topics(doomed)
    finally:
        await admin.close()


def _recorded(events: Sequence[DomainEvent]) -> list[RecordedEvent]:
    """As one store would record them: versions per stream, positions rising."""
    versions: dict[str, int] = {}
    recorded = []
    for position, event in enumerate(events, start=1):
        new = encode(event, EventMetadata(actor="test"))
        version = versions[event.stream_id] = versions.get(event.stream_id, -1) + 1
        recorded.append(
            RecordedEvent(
                stream_id=event.stream_id,
                version=version,
                position=position,
                event_id=uuid.uuid4(),
                type=new.type,
                data=new.data,
                metadata=new.metadata,
                recorded_at=datetime.now(UTC),
            )
        )
    return recorded


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
        await produce(kafka_bootstrap, topic, _recorded(by_source[source]), service=source)

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
