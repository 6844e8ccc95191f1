"""Scheduled work that must run in one replica only (consent's destruction job): every replica
runs `run_as_leader`, only the one holding the work's lease (`bilet.lease.AdvisoryLease`) runs
the work; the others wait for the lease and keep serving requests. When the leader dies its
session ends, the server releases the lock and a waiting replica takes over. A leader whose lease
connection breaks stops the work and goes back to waiting: it can no longer be sure it is alone;
a database that cannot be reached while waiting is asked again, never a reason to stop
(docs/adr/0028-leader-elected-jobs.md).
"""

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg

from bilet.background import stop
from bilet.lease import AdvisoryLease

_log = logging.getLogger(__name__)


async def run_as_leader(
    new_lease: Callable[[], AdvisoryLease],
    work: Callable[[], Coroutine[Any, Any, None]],
    *,
    leading: Callable[[bool], None],
    poll_interval: float = 1.0,
) -> None:
    """Run `work` whenever this process holds the lease, until cancelled; `leading` is told
    each time leadership is taken (True) or given up (False). If the work itself ends (it
    failed), the lease is released and its failure raised."""
    while True:
        lease = new_lease()
        task: asyncio.Task[None] | None = None
        try:
            try:
                await lease.acquire(poll_interval)
            except (OSError, asyncpg.PostgresError, TimeoutError) as error:
                # The database is away: not a reason to stop for good; ask again later.
                _log.warning(
                    "cannot ask for the %s lease (%s); trying again",
                    lease.holder,
                    type(error).__name__,
                )
                await asyncio.sleep(poll_interval)
                continue
            leading(True)
            task = asyncio.create_task(work(), name=f"{lease.holder} (leader)")
            await asyncio.wait({task, lease.lost}, return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                task.result()  # raises the work's failure
                return
            _log.warning(
                "lost the %s lease: stopping the work until it is ours again", lease.holder
            )
        finally:
            if task is not None:
                await stop(task)
            leading(False)
            await lease.release()
