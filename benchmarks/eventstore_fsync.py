"""`sqlite.append_vs_fsync_limit`: our sequential appends against the disk's own limit.

At `synchronous=FULL` a commit is durable only once the WAL is fsynced, so sequential appends, one
commit each, can go no faster than one fsync each. The peer here is not a library but that limit
measured in the same run: single-row `INSERT` + `COMMIT`s of the same payload into a bare
two-column table at the same `synchronous` level (`eventstore_peer.bare_inserts`). Ours appends one
event to a new stream per commit, as `sqlite.append_new_streams` does. A ratio near 1 means the
store adds little beyond the fsync it cannot avoid (target >= 0.8).

Rounds as everywhere (`benchmarks/rounds.py`): three, ours then the peer, each in a fresh
directory; a round in which a side took under a second is measured again larger, not counted.
"""

import math
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from benchmarks import eventstore_peer as peer
from benchmarks.eventstore_workload import Sizes
from benchmarks.result import BenchResult, ratio_at_least
from benchmarks.rounds import ROUNDS, count_round, median, rounds_detail
from bilet.eventstore import EventStore
from bilet.eventstore.sqlite import SqliteEventStore, Synchronous

BENCH = "sqlite.append_vs_fsync_limit"
TARGET = ratio_at_least(0.8)
ATTEMPTS = 3


async def measure(
    sizes: Sizes,
    synchronous: Synchronous,
    details: dict[str, Any],
    ours_bench: Callable[[EventStore, int], Awaitable[tuple[int, float]]],
) -> BenchResult:
    ours_rates: list[float] = []
    peer_rates: list[float] = []
    count = sizes.appends
    ours_seconds = peer_seconds = 0.0
    for _ in range(ROUNDS + ATTEMPTS):
        with tempfile.TemporaryDirectory(prefix="bench-ours-") as directory:
            store = await SqliteEventStore.open(Path(directory) / "events.db", synchronous)
            try:
                ours_count, ours_seconds = await ours_bench(store, count)
            finally:
                await store.close()
        with tempfile.TemporaryDirectory(prefix="bench-peer-") as directory:
            peer_count, peer_seconds = peer.bare_inserts(
                Path(directory) / "rows.db", synchronous, count
            )
        factor = count_round(
            ours_rates, peer_rates, (ours_count, ours_seconds), (peer_count, peer_seconds)
        )
        if factor is not None:
            count = max(count + 1, math.ceil(count * factor))  # too short: again, larger
        elif len(ours_rates) == ROUNDS:
            break
    else:
        raise RuntimeError(f"no {ROUNDS} rounds of a second's work each")
    fields = {
        "events": count,
        "ours_s": round(ours_seconds, 3),
        "peer_s": round(peer_seconds, 3),
        "peer_is": "bare INSERT + COMMIT, same payload and synchronous level",
        **rounds_detail(ours_rates, peer_rates),
        **details,
    }
    return BenchResult(BENCH, median(ours_rates), median(peer_rates), "events/s", fields, (TARGET,))
