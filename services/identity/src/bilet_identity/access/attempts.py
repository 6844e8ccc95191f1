"""How many wrong binding codes an account or a source may try (docs/adr/0053): a bounded counter
of failures per key in a fixed window. Once a key has used up its failures, every attempt of it
is refused with `too_many_attempts` (429, `Retry-After`) until its window ends, the right code
included, so that guessing cannot go on behind the refusals.

The counter lives in the process (each replica counts its own): the codes' entropy, not the
counter, is what makes guessing fail; the counter bounds how fast anyone can try. It holds at
most `max_keys` keys, dropping the oldest window first, so a flood of sources cannot exhaust
memory.
"""

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bilet_identity.domain.errors import DomainError


class TooManyAttempts(DomainError):
    code = "too_many_attempts"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"Too many wrong codes: try again in {retry_after} s.", retry_after=retry_after
        )
        self.retry_after = retry_after


@dataclass(frozen=True)
class AttemptLimit:
    """At most `failures` wrong codes per `window_seconds` for each key of a kind."""

    failures: int
    window_seconds: float


@dataclass
class _Window:
    started: float
    failures: int


class AttemptLimiter:
    def __init__(
        self,
        limits: dict[str, AttemptLimit],
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits  # by kind: "account", "source"
        self.max_keys = max_keys
        self.clock = clock
        self._windows: OrderedDict[tuple[str, str], _Window] = OrderedDict()

    def check(self, keys: Sequence[tuple[str, str]]) -> None:
        """Refuse when any of the (kind, key) pairs has used up its failures in its window."""
        now = self.clock()
        wait = max((self._wait(kind, key, now) for kind, key in keys), default=0.0)
        if wait > 0:
            raise TooManyAttempts(max(1, math.ceil(wait)))

    def failed(self, keys: Sequence[tuple[str, str]]) -> None:
        """Count one wrong code against each of the (kind, key) pairs."""
        now = self.clock()
        for kind, key in keys:
            window = self._current(kind, key, now)
            if window is None:
                window = _Window(now, 0)
                self._windows[(kind, key)] = window
                while len(self._windows) > self.max_keys:
                    self._windows.popitem(last=False)
            window.failures += 1

    def _current(self, kind: str, key: str, now: float) -> _Window | None:
        window = self._windows.get((kind, key))
        if window is None or now - window.started >= self.limits[kind].window_seconds:
            self._windows.pop((kind, key), None)
            return None
        return window

    def _wait(self, kind: str, key: str, now: float) -> float:
        """Seconds until the key may try again (0: it may now)."""
        window = self._current(kind, key, now)
        limit = self.limits[kind]
        if window is None or window.failures < limit.failures:
            return 0.0
        return window.started + limit.window_seconds - now
