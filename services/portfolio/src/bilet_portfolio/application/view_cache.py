"""Rendered portfolios kept for the next read of the same state (ADR 0025).

A portfolio's answer is a function of what its ETag names — the participant's version, the
version of the reference data, the caller's scope, the consent state on the day and whether the
names read as erased — so an answer rendered once (opened, built and serialised) can be sent
again to the next caller whose read yields the same ETag for the same participant. The queries
decide access and the consent gate afresh on every read, before anything here is looked at; the
cache only spares the read of the whole portfolio, the decryption and the serialisation.

What it never does: serve one scope's answer to another (the scope is in the ETag, so in the
key), outlive the participant's key (an entry holding opened personal fields is served only while
the key exists, as the key cache knows it: `FieldCipher.has_key`), or outlive a key cache entry
(the same time to live, 60 s). The audit record of a read is the queries' to write, hit or miss.
"""

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

DEFAULT_SIZE: Final = 1024
# As long as `FieldCipher` keeps a key: opened personal data stays no longer in memory than keys.
DEFAULT_TTL: Final = 60.0


@dataclass(frozen=True, slots=True)
class RenderedView:
    """One rendered answer: its ETag, its bytes, the personal fields an audit record of a read of
    it names (empty: it shows none, so a read of it is not audited)."""

    etag: str
    body: bytes
    audited_fields: tuple[str, ...]

    @property
    def personal(self) -> bool:
        return bool(self.audited_fields)


@dataclass(frozen=True, slots=True)
class _Entry:
    view: RenderedView
    expires: float


class ViewCache:
    """A bounded LRU of rendered answers by (participant, ETag), each kept `ttl` seconds."""

    def __init__(
        self,
        size: int = DEFAULT_SIZE,
        ttl: float = DEFAULT_TTL,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if size < 0 or ttl < 0:
            raise ValueError("size and ttl are not negative")
        self._size = size
        self._ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, participant_id: str, etag: str) -> RenderedView | None:
        key = (participant_id, etag)
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry.view

    def put(self, participant_id: str, view: RenderedView) -> None:
        if not (self._size and self._ttl):
            return
        key = (participant_id, view.etag)
        self._entries[key] = _Entry(view, self._clock() + self._ttl)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def forget(self, participant_id: str) -> None:
        """Drop every answer of the participant (erased: nothing of theirs is kept)."""
        for key in [key for key in self._entries if key[0] == participant_id]:
            del self._entries[key]
