"""The rebuild tests' world: the test world recorded in the source stores of a test's settings,
with the read models a test catches up live on it and rebuilds from it, all closed afterwards."""

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from bilet_portfolio.adapters.testing import RecordedWorld

if TYPE_CHECKING:
    from services.portfolio.tests.conftest import Catalogue, Ids, Recorder

WorldFactory = Callable[..., Awaitable[RecordedWorld]]


@pytest.fixture
async def recorded_world(
    make_settings: Any, catalogue: "Catalogue", ids: "Ids", recorder: "Recorder"
) -> AsyncIterator[WorldFactory]:
    """`await recorded_world(**overrides)`: the world in the stores of `make_settings(**overrides)`
    (a factory: the rebuild command's test on PostgreSQL records it in settings of its own)."""
    async with AsyncExitStack() as opened:

        async def record(**overrides: Any) -> RecordedWorld:
            settings = make_settings(**overrides)
            return await RecordedWorld.record(settings, catalogue, ids, recorder, opened)

        yield record


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[str]:
    """A database of its own on the test's server (the rebuild command opens the read model
    under its fixed schema name; the load test's processes share it), dropped afterwards."""
    name = f"bvb_pf_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield urlunsplit(urlsplit(database_url)._replace(path=f"/{name}"))
    finally:
        admin = await asyncpg.connect(database_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
