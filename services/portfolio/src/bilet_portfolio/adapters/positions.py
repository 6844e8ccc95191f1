"""The positions a portfolio answer reports in `BVB-Position`, kept between commits (ADR 0065).

Every answer says how far the read model is, one token per source; reading the watermarks for
each request was a fifth of a 304's work. They change only when the projection commits, so they
are kept until a commit is heard (the read model's change signals: in-process, and on PostgreSQL
through NOTIFY) and, where no commit can be heard (a SQLite read model another process feeds),
for at most `KEPT_SECONDS` — as long as a read-your-writes wait goes without looking again
(`ReadModel.poll_interval`). Positions only grow: an answer that reports ones read a moment
earlier still reflects at least them, so a client's token is weaker at worst, never wrong.
"""

import time
from collections.abc import Awaitable, Callable
from typing import Final

KEPT_SECONDS: Final = 0.1


class KeptPositions:
    """The last positions read by `read`, while no commit was heard and `KEPT_SECONDS` have not
    passed."""

    def __init__(
        self,
        read: Callable[[], Awaitable[dict[str, int]]],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._clock = clock
        self._kept: dict[str, int] | None = None
        self._read_at = 0.0
        self._commits = 0  # commits heard: a read that one overtook is not kept

    async def get(self) -> dict[str, int]:
        now = self._clock()
        if self._kept is None or now - self._read_at >= KEPT_SECONDS:
            commits = self._commits
            positions = await self._read()
            if commits != self._commits:
                return positions  # a commit was heard during the read: read again next time
            self._kept, self._read_at = positions, now
        return dict(self._kept)

    def moved(self) -> None:
        """The projection committed: the next `get` reads again."""
        self._commits += 1
        self._kept = None
