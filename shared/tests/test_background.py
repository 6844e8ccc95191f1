"""Background work of a lifespan: it runs until the context ends, a failure is logged when it
happens, and the context's end waits until the task has ended."""

import asyncio
import contextlib

import pytest

from bilet.background import in_background, stop


async def test_the_work_runs_until_the_context_ends_and_is_cancelled_then() -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def work() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with in_background(work(), name="ticker", what="ticker") as task:
        assert task.get_name() == "ticker"
        await started.wait()
        assert not task.done()
    assert task.cancelled()
    assert cancelled.is_set()


async def test_a_failure_is_logged_when_it_happens_and_the_end_does_not_raise_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def work() -> None:
        raise RuntimeError("the store went away")

    async with in_background(work(), name="failing", what="destruction job") as task:
        await asyncio.wait({task})
        await asyncio.sleep(0)  # the done callback runs on the next turn of the loop
        assert "the destruction job stopped: RuntimeError('the store went away')" in caplog.text
    assert isinstance(task.exception(), RuntimeError)


async def test_a_task_that_swallows_one_cancellation_is_cancelled_again() -> None:
    async def stubborn() -> None:
        # Swallowed, as `asyncio.wait_for` can on Python 3.11 when a wake-up meets the cancel.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()
        await asyncio.Event().wait()

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await stop(task)
    assert task.cancelled()
