"""Work a process runs in the background of its lifespan (an embedded feed, a periodic job): a
task that is started with the lifespan, whose failure is logged when it happens (readiness then
reports it), and that is cancelled and awaited when the lifespan ends."""

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

_log = logging.getLogger(__name__)


@asynccontextmanager
async def in_background(
    work: Coroutine[Any, Any, None], *, name: str, what: str
) -> AsyncIterator[asyncio.Task[None]]:
    """Run `work` as the task `name` until the context ends; `what` names it in the log."""
    task = asyncio.create_task(work, name=name)

    def report_end(ended: asyncio.Task[None]) -> None:
        if not ended.cancelled() and ended.exception() is not None:
            _log.error("the %s stopped: %r", what, ended.exception())

    task.add_done_callback(report_end)
    try:
        yield task
    finally:
        await stop(task)


async def stop(task: asyncio.Task[Any]) -> None:
    """Cancel the task and wait until it ended, whatever it raises. On Python 3.11
    `asyncio.wait_for` (inside a store's `subscribe_all`) can swallow a cancellation that meets
    a wake-up, so the cancellation is repeated until it takes."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.1)
    if not task.cancelled():
        task.exception()  # retrieved: its failure was logged when it ended
