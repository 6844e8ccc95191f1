"""Scheduled work that must run in one replica only (consent's destruction job): every replica
runs `run_as_leader`, only the one holding the work's lease (`bilet.lease.AdvisoryLease`) runs
the work; the others wait for the lease and keep serving requests. When the leader dies its
session ends, the server releases the lock and a waiting replica takes over. A leader whose lease
connection breaks stops the work and goes back to waiting: it can no longer be sure it is alone
(docs/adr/0028-leader-elected-jobs.md).
"""

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

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
            await lease.acquire(poll_interval)
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
