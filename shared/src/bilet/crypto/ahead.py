"""New subjects whose data keys were created ahead: a registration takes a fresh id whose keys
are already durable in the key store, instead of creating and storing them while it commits.

A new participant's keys must be durable before the first event sealed with them (a key lost
after its events were written is their data lost), so creating them on the command path costs a
key-store transaction (a sync) per registration. The ids of new participants are the server's
to choose, so the keys can be made before the id is used: `SubjectsAhead` makes `batch` fresh
ids' keys in one key-store transaction and hands the ids out one by one, each with its keys
placed in the cipher's cache. One registration in `batch` pays the batch's transaction.

An id never taken (the process stopped first) leaves keys that seal nothing: they name a random
id nobody knows, and hold no personal data.
"""

import asyncio
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from typing import Final

from bilet.crypto.fields import FieldCipher, KeysFetched

# How many new subjects' keys one key-store transaction creates.
SUBJECTS_PER_BATCH: Final = 64


class SubjectsAhead:
    """Fresh random subject ids (UUID4), each with the keys `key_subjects(id)` names created
    ahead in batches, durable in the key store, and cached in `cipher` when the id is taken."""

    def __init__(
        self,
        cipher: FieldCipher,
        key_subjects: Callable[[uuid.UUID], Sequence[str]],
        *,
        batch: int = SUBJECTS_PER_BATCH,
    ) -> None:
        if batch < 1:
            raise ValueError("a batch holds at least one subject")
        self._cipher = cipher
        self._key_subjects = key_subjects
        self._batch = batch
        self._ready: deque[tuple[uuid.UUID, KeysFetched]] = deque()
        self._refilling = asyncio.Lock()

    @property
    def ready(self) -> int:
        """How many ids can be taken without a key-store call."""
        return len(self._ready)

    async def take(self) -> uuid.UUID:
        """A new subject id, never handed out before, whose keys exist and are cached now."""
        while not self._ready:
            async with self._refilling:  # concurrent takers wait for one refill, not one each
                if not self._ready:
                    await self._refill()
        subject_id, keys = self._ready.popleft()
        self._cipher.adopt(keys)
        return subject_id

    async def _refill(self) -> None:
        ids = [uuid.uuid4() for _ in range(self._batch)]
        wanted = {subject_id: list(self._key_subjects(subject_id)) for subject_id in ids}
        fetched = await self._cipher.fetch_keys([s for names in wanted.values() for s in names])
        self._ready.extend(
            (subject_id, fetched.only(names)) for subject_id, names in wanted.items()
        )
