"""Where a relay keeps the store position up to which the broker has acknowledged everything.

The position lives in the service's own database, next to its event store (a table in the same
SQLite file or PostgreSQL schema), so a backup or restore of the store carries the relay's position
with it. Positions only move forward: a late save from a relay that was replaced can never move
the position back (that would only cause duplicates) nor past what someone acknowledged.
"""

from abc import ABC, abstractmethod

from bilet.eventstore import START, EventStore

# Counting unpublished events stops here: a gauge that says "at least a million" says enough.
COUNT_LIMIT = 1_000_000


class PositionStore(ABC):
    """A relay's checkpoint, by relay name."""

    @abstractmethod
    async def load(self, relay: str) -> int:
        """The stored position; `START` for a relay that never stored one."""

    @abstractmethod
    async def save(self, relay: str, position: int) -> None:
        """Store `position` unless a later one is stored already."""

    async def count_after(self, position: int) -> int | None:
        """How many stored events lie after `position` (at most `COUNT_LIMIT`), or None when this
        adapter cannot count them cheaply. Adapters that sit next to a store count in its table."""
        return None

    @abstractmethod
    async def close(self) -> None: ...


class PositionsApart(PositionStore):
    """Positions kept apart from the events they count (a KurrentDB store's relay keeps them in
    SQLite or PostgreSQL, ADR 0058): the table of events they would count is not there."""

    def __init__(self, positions: PositionStore) -> None:
        self._positions = positions

    async def load(self, relay: str) -> int:
        return await self._positions.load(relay)

    async def save(self, relay: str, position: int) -> None:
        await self._positions.save(relay, position)

    async def close(self) -> None:
        await self._positions.close()


class InMemoryPositionStore(PositionStore):
    """For unit tests: counts through the store's `read_all` when given one."""

    def __init__(self, store: EventStore | None = None) -> None:
        self._positions: dict[str, int] = {}
        self._store = store
        self.saves: list[tuple[str, int]] = []

    async def load(self, relay: str) -> int:
        return self._positions.get(relay, START)

    async def save(self, relay: str, position: int) -> None:
        self.saves.append((relay, position))
        self._positions[relay] = max(self._positions.get(relay, START), position)

    async def count_after(self, position: int) -> int | None:
        if self._store is None:
            return None
        count = 0
        while count < COUNT_LIMIT:
            page = await self._store.read_all(position, 1000)
            count += len(page)
            if len(page) < 1000:
                break
            position = page[-1].position
        return min(count, COUNT_LIMIT)

    async def close(self) -> None:
        pass
