"""Readiness probes the services share: a dependency answers in time; a read model's feed runs
(in this process) or is a worker's to run."""

import asyncio

from bilet.http import answers, feed_readiness


class Feed:
    def __init__(self, runs: bool) -> None:
        self.runs = runs


async def test_a_dependency_is_ready_when_it_answers_in_time() -> None:
    async def ping() -> int:
        return 7

    assert (await answers("store", ping)).model_dump() == {
        "name": "store",
        "ready": True,
        "detail": None,
    }


async def test_a_dependency_not_open_failing_or_too_slow_is_not_ready() -> None:
    async def broken() -> None:
        raise ConnectionRefusedError("secret host name")

    async def hangs() -> None:
        await asyncio.Event().wait()

    not_open = await answers("store", None)
    failing = await answers("store", broken)
    slow = await answers("store", hangs, timeout=0.01)
    assert [(c.ready, c.detail) for c in (not_open, failing, slow)] == [
        (False, "not open"),
        (False, "ConnectionRefusedError"),  # the kind of failure, never its message
        (False, "TimeoutError"),
    ]


async def test_the_feed_is_ready_while_it_runs_or_when_a_worker_feeds_the_read_model() -> None:
    feed = Feed(runs=True)
    probe = feed_readiness(feed)
    assert ((await probe()).ready, (await probe()).detail) == (True, "embedded")
    feed.runs = False
    stopped = await probe()
    assert (stopped.name, stopped.ready, stopped.detail) == (
        "feed",
        False,
        "the embedded feed stopped",
    )
    worker = await feed_readiness(None)()
    assert (worker.ready, worker.detail) == (True, "the worker feeds it")
