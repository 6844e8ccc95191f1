"""The adapters the contract suite runs against: every test here runs once per adapter.

PostgreSQL always runs (against the server `make test` starts); KurrentDB runs when
`BVB_KURRENTDB_URL` names a server.
"""

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from bilet.eventstore import EventStore
from bilet.eventstore.memory import InMemoryEventStore
from bilet.eventstore.sqlite import SqliteEventStore

StoreFactory = Callable[[], Awaitable[EventStore]]

ADAPTERS = ["memory", "sqlite", "postgres"]
if os.environ.get("BVB_KURRENTDB_URL"):
    ADAPTERS.append("kurrentdb")


@pytest.fixture(params=ADAPTERS)
async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreFactory]:
    """Opens stores on one fresh backing database; a test may open several (e.g. a second
    process's view of the same data)."""
    opened: list[EventStore] = []
    adapter: str = request.param
    namespace = f"t{uuid.uuid4().hex[:16]}"

    async def open_one() -> EventStore:
        store: EventStore
        if adapter == "memory":
            if opened:
                return opened[0]
            store = InMemoryEventStore()
        elif adapter == "sqlite":
            store = await SqliteEventStore.open(tmp_path / "events.sqlite3")
        elif adapter == "postgres":
            from bilet.eventstore.postgres import PostgresEventStore

            database_url = request.getfixturevalue("database_url")
            store = await PostgresEventStore.open(database_url, schema=namespace)
        else:
            from bilet.eventstore.kurrentdb import KurrentDbEventStore

            store = await KurrentDbEventStore.open(
                os.environ["BVB_KURRENTDB_URL"], namespace=namespace
            )
        opened.append(store)
        return store

    yield open_one
    for store in reversed(opened):
        await store.close()
    if adapter == "postgres":
        from bilet.eventstore.postgres import drop_schema

        await drop_schema(request.getfixturevalue("database_url"), namespace)


@pytest.fixture
async def store(open_store: StoreFactory) -> EventStore:
    return await open_store()
