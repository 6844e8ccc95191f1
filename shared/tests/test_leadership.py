"""bilet.leadership: a replica that cannot reach the lease's database keeps asking (the job's
task, which readiness watches, must not end for good over a database blip), and runs nothing."""

import asyncio
import socket

from bilet.background import stop
from bilet.leadership import run_as_leader
from bilet.lease import AdvisoryLease


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_an_unreachable_database_is_asked_again_and_nothing_runs() -> None:
    dsn = f"postgresql://nobody@127.0.0.1:{_closed_port()}/nothing"
    attempts: list[AdvisoryLease] = []
    ran: list[bool] = []
    leads: list[bool] = []

    def new_lease() -> AdvisoryLease:
        attempts.append(AdvisoryLease(dsn, "bilet.test:unreachable", holder="test job"))
        return attempts[-1]

    async def work() -> None:
        ran.append(True)

    task = asyncio.create_task(
        run_as_leader(new_lease, work, leading=leads.append, poll_interval=0.01)
    )
    async with asyncio.timeout(20):  # bounds a wait that would otherwise hang
        while len(attempts) < 3:  # noqa: ASYNC110 - counting the loop's attempts; no event
            await asyncio.sleep(0.01)
    assert not task.done()
    await stop(task)
    assert ran == []
    assert True not in leads
