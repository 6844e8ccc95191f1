"""Optimistic concurrency for command handlers: decide again on what the faster writer wrote."""

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

from bilet.eventstore import WrongExpectedVersion

T = TypeVar("T")

MAX_ATTEMPTS: Final = 8


async def retrying(
    attempt: Callable[[], Awaitable[T]],
    conflict: Callable[[], Exception],
    *,
    attempts: int = MAX_ATTEMPTS,
) -> T:
    """Run `attempt` (load, decide, append with the expected versions) until an append is not
    refused for a stale version, at most `attempts` times; then raise `conflict()` (the
    service's own version-conflict error). A short random pause between attempts keeps two
    writers from meeting again."""
    for tries in range(attempts):
        try:
            return await attempt()
        except WrongExpectedVersion:
            # Someone else was faster: decide again on what they wrote.
            await asyncio.sleep(random.uniform(0, 0.002 * (tries + 1)))  # noqa: S311
    raise conflict()
