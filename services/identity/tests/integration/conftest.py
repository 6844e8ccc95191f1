"""What identity's PostgreSQL integration tests share: settings on a schema of their own,
dropped after the test."""

import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from bilet.eventstore.postgres import drop_schema
from bilet_identity.settings import IdentitySettings


@pytest.fixture
async def postgres_settings(
    database_url: str, make_settings: Callable[..., IdentitySettings]
) -> AsyncIterator[IdentitySettings]:
    schema = f"t_identity_{uuid.uuid4().hex[:12]}"
    yield make_settings(
        event_store="postgres", database_url=database_url, identity_store_schema=schema
    )
    await drop_schema(database_url, schema)
