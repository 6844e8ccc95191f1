"""Read models on both databases, Kafka topics, and the example projection for the runtime's tests.

Every read-model test runs on SQLite and on PostgreSQL (the server `make test` starts); Kafka
tests create their own topics (the broker does not create topics by itself) and delete them.
"""

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bilet.projections import ReadModel
from bilet.projections.kafka import dlq_topic
from bilet.projections.testing import ReadModelFactory, TopicFactory


@pytest.fixture(params=["sqlite", "postgres"])
async def open_read_model(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[ReadModelFactory]:
    """Opens read models on one fresh database; a test may open several (another process's
    view of the same data)."""
    opened: list[ReadModel] = []
    schema = f"rm{uuid.uuid4().hex[:16]}"
    kind: str = request.param

    async def open_one() -> ReadModel:
        read_model: ReadModel
        if kind == "sqlite":
            from bilet.projections.sqlite import SqliteReadModel

            read_model = await SqliteReadModel.open(tmp_path / "readmodel.sqlite3")
        else:
            from bilet.projections.postgres import PostgresReadModel

            read_model = await PostgresReadModel.open(
                request.getfixturevalue("database_url"), schema=schema
            )
        opened.append(read_model)
        return read_model

    yield open_one
    for read_model in reversed(opened):
        await read_model.close()
    if kind == "postgres":
        from bilet.projections.postgres import drop_schema

        await drop_schema(request.getfixturevalue("database_url"), schema)


@pytest.fixture
async def read_model(open_read_model: ReadModelFactory) -> ReadModel:
    return await open_read_model()


@pytest.fixture
async def postgres_schema(database_url: str) -> AsyncIterator[str]:
    from bilet.projections.postgres import drop_schema

    schema = f"rm{uuid.uuid4().hex[:16]}"
    yield schema
    await drop_schema(database_url, schema)


@pytest.fixture
async def new_topic(kafka_bootstrap: str) -> AsyncIterator[TopicFactory]:
    """Creates `bilet.t<random>` topics (the source name is `t<random>`), deleted afterwards
    with their dead-letter topics."""
    created: list[str] = []

    async def create(partitions: int = 3) -> str:
        topic = f"bilet.t{uuid.uuid4().hex[:12]}"
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, partitions, 1)])
        finally:
            await admin.close()
        created.append(topic)
        return topic

    yield create
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = [t for topic in created for t in (topic, dlq_topic(topic)) if t in existing]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()
