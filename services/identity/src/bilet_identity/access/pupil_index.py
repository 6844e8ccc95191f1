"""A small in-process index of keys by pupil (an account's or a code's keyed hash → its pupil),
folded from one category of identity's store and caught up before each use. Accounts and codes
are kept under keyed hashes, so "whose are they" is answered here (docs/adr/0053)."""

import asyncio
from abc import ABC, abstractmethod
from uuid import UUID

from bilet.eventstore import START, EventStore
from bilet_identity.application.eventlog import catch_up


class PupilIndex(ABC):
    category: str

    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._lock = asyncio.Lock()
        self._position = START
        self._pupil_of: dict[str, UUID] = {}  # key -> its pupil

    async def of_pupil(self, participant_id: UUID) -> list[str]:
        async with self._lock:
            self._position = await catch_up(
                self._store, self._position, self._apply, categories=(self.category,)
            )
        return sorted(key for key, pid in self._pupil_of.items() if pid == participant_id)

    @abstractmethod
    def _apply(self, event: object, position: int) -> None: ...
