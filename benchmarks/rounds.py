"""How every figure of `make bench` is taken: three rounds, the median of each side, and no round
shorter than a second of work (a shorter one measures the scheduler as much as the code)."""

import math
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

ROUNDS = 3
MIN_ROUND_SECONDS = 1.0
GROWTH_MARGIN = 1.3  # a grown round aims this far above the minimum
MAX_GROWTH = 50.0


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def spread(values: Sequence[float]) -> float:
    """How far the rounds lie apart, relative to their median: (max - min) / median."""
    middle = median(values)
    return round((max(values) - min(values)) / middle, 3) if middle else 0.0


def rounds_detail(ours: Sequence[float], peer: Sequence[float] | None = None) -> dict[str, Any]:
    """The rounds behind a median, for the JSON line: each side's figures and their spread."""
    detail: dict[str, Any] = {
        "rounds_ours": [round(value, 2) for value in ours],
        "spread_ours": spread(ours),
    }
    if peer:
        detail["rounds_peer"] = [round(value, 2) for value in peer]
        detail["spread_peer"] = spread(peer)
    return detail


async def per_call(
    call: Callable[[], Awaitable[object]], min_seconds: float = MIN_ROUND_SECONDS
) -> tuple[int, float]:
    """Call `call` again and again until `min_seconds` have passed: (calls, seconds)."""
    calls = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < min_seconds:
        await call()
        calls += 1
    return calls, elapsed


def growth(seconds: Sequence[float]) -> float | None:
    """By how much a workload must grow for the shortest of a round's `seconds` to last at least
    `MIN_ROUND_SECONDS` (with a margin), or None when no side was shorter: a round that was too
    short is measured again, larger, instead of being counted."""
    shortest = min(seconds)
    if shortest >= MIN_ROUND_SECONDS:
        return None
    return min(MAX_GROWTH, MIN_ROUND_SECONDS * GROWTH_MARGIN / max(shortest, 1e-3))


def count_round(
    ours_rates: list[float],
    peer_rates: list[float],
    ours: tuple[int, float],
    peer: tuple[int, float],
) -> float | None:
    """Count a round of (events, seconds) on each side into the rates, or return by how much to
    grow it (`growth`) when a side was too short: such a round is measured again, not counted."""
    if (factor := growth([ours[1], peer[1]])) is not None:
        return factor
    ours_rates.append(ours[0] / ours[1])
    peer_rates.append(peer[0] / peer[1])
    return None


def grown(count: int, seconds: Sequence[float]) -> int | None:
    """`count` grown by `growth(seconds)`, or None when the round was long enough."""
    factor = growth(seconds)
    return None if factor is None else max(count + 1, math.ceil(count * factor))
