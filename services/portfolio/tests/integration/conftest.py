"""The rebuild tests' world: the test world recorded in the source stores of a test's settings,
with the read models a test catches up live on it and rebuilds from it, all closed afterwards."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

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
