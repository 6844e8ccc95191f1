"""Rendered portfolios kept for the next read of the same state (ADR 0025), and participants'
rows while no change of them is heard (ADR 0080).

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

Entries are dropped, not merely left unreachable, when the read model says their participant
changed (ADR 0065): `changed` is a listener of the read model's change signals (ADR 0059: the
keys every commit of the projection names, in this process and, on PostgreSQL, heard through
NOTIFY in every API process), so an erasure's commit takes the participant's opened data out of
memory at once, and an older version's answer does not linger until it ages out. An answer
rendered from a state that a change has since replaced is not kept (`ticket` / `put`).

Where those changes are heard (`follows_commits`: the feed runs in this process, or the database
tells every process, PostgreSQL's NOTIFY), the participants' rows are kept too (ADR 0080): a row
changes only by a commit that names its participant, so until one is heard the kept row is the
row, and a 304 or a cached answer needs no read at all. Access, erasure and the consent gate are
still decided on it, per read, for the caller and the day. Where no change can be heard (a SQLite
read model another process feeds) no row is kept: each read reads it.
"""

import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Final

from bilet_portfolio.application.ports import Snapshot

DEFAULT_SIZE: Final = 1024
# As long as `FieldCipher` keeps a key: opened personal data stays no longer in memory than keys.
DEFAULT_TTL: Final = 60.0
# How many recently changed participants are remembered to refuse answers rendered before their
# change (`put`); an older change refuses every answer rendered before it instead.
RECENT_CHANGES: Final = 4096
# How long a participant's row is kept without a change heard: a second line should a lost
# listening connection go unnoticed (a lost connection that is noticed drops every row at once).
ROW_TTL: Final = 5.0


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
    """A bounded LRU of rendered answers by (participant, ETag), each kept `ttl` seconds, and,
    when `follows_commits`, one of participants' rows, each kept `row_ttl` seconds (as many of
    each as `size`); both dropped when their participant changes."""

    def __init__(
        self,
        size: int = DEFAULT_SIZE,
        ttl: float = DEFAULT_TTL,
        *,
        clock: Callable[[], float] = time.monotonic,
        recent: int = RECENT_CHANGES,
        follows_commits: bool = False,
        row_ttl: float = ROW_TTL,
    ) -> None:
        if size < 0 or ttl < 0 or row_ttl < 0 or recent < 1:
            raise ValueError("size and ttl are not negative, recent is positive")
        self._size = size
        self._remembered = recent
        self._ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        # Rows are kept only where every commit that changes one is heard.
        self._row_ttl = row_ttl if follows_commits and size else 0.0
        self._rows: OrderedDict[str, tuple[Snapshot, float]] = OrderedDict()
        self._tags: dict[str, set[str]] = {}  # each participant's ETags with an entry
        # Changes heard, numbered: the last one of each recent participant, and below `_floor`
        # every change counts as one of every participant's (forgotten, or "everything").
        self._changes = 0
        self._recent: OrderedDict[str, int] = OrderedDict()
        self._floor = 0

    def __len__(self) -> int:
        return len(self._entries)

    def participants(self) -> set[str]:
        """The participants with an answer kept."""
        return set(self._tags)

    def rows(self) -> set[str]:
        """The participants whose row is kept."""
        return set(self._rows)

    @property
    def keeps_rows(self) -> bool:
        """Whether rows are kept here at all (commits heard, the cache on)."""
        return bool(self._row_ttl)

    def get(self, participant_id: str, etag: str) -> RenderedView | None:
        key = (participant_id, etag)
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires <= self._clock():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry.view

    def row(self, participant_id: str) -> Snapshot | None:
        """The participant's row as last read, while no change of it has been heard."""
        kept = self._rows.get(participant_id)
        if kept is None:
            return None
        snapshot, expires = kept
        if expires <= self._clock():
            del self._rows[participant_id]
            return None
        self._rows.move_to_end(participant_id)
        return snapshot

    def keep_row(self, participant_id: str, snapshot: Snapshot, ticket: int) -> bool:
        """Keep the participant's row (read after `ticket`), unless rows are not kept here or a
        change of the participant was heard since: whether it was kept."""
        if not self._row_ttl or self._changed_since(participant_id, ticket):
            return False
        self._rows[participant_id] = (snapshot, self._clock() + self._row_ttl)
        self._rows.move_to_end(participant_id)
        while len(self._rows) > self._size:
            self._rows.popitem(last=False)
        return True

    def ticket(self) -> int:
        """Taken before reading the state an answer (or a row) comes from; `put` (`keep_row`)
        refuses it when the participant changed after it."""
        return self._changes

    def _changed_since(self, participant_id: str, ticket: int) -> bool:
        return ticket < self._floor or self._recent.get(participant_id, -1) > ticket

    def put(self, participant_id: str, view: RenderedView, ticket: int | None = None) -> bool:
        """Keep `view` (rendered from a state read after `ticket`), unless the cache is off or a
        change of the participant was heard since: whether it was kept."""
        if not (self._size and self._ttl):
            return False
        if ticket is not None and self._changed_since(participant_id, ticket):
            return False
        key = (participant_id, view.etag)
        self._entries[key] = _Entry(view, self._clock() + self._ttl)
        self._entries.move_to_end(key)
        self._tags.setdefault(participant_id, set()).add(view.etag)
        while len(self._entries) > self._size:
            self._drop(next(iter(self._entries)))
        return True

    def forget(self, participant_id: str) -> None:
        """Drop every answer and the row of the participant (erased: nothing of theirs is
        kept)."""
        self._rows.pop(participant_id, None)
        for etag in self._tags.pop(participant_id, ()):
            del self._entries[(participant_id, etag)]

    def changed(self, participant_ids: Collection[str] | None) -> None:
        """The read model committed changes of these participants (None: of anyone, e.g. the
        reference data every answer shows): drop their answers, refuse those rendered before."""
        self._changes += 1
        if participant_ids is None:
            self._entries.clear()
            self._tags.clear()
            self._rows.clear()
            self._recent.clear()
            self._floor = self._changes
            return
        for participant_id in participant_ids:
            self.forget(participant_id)
            self._recent[participant_id] = self._changes
            self._recent.move_to_end(participant_id)
        while len(self._recent) > self._remembered:
            _, number = self._recent.popitem(last=False)
            self._floor = max(self._floor, number)

    def _drop(self, key: tuple[str, str]) -> None:
        del self._entries[key]
        participant_id, etag = key
        tags = self._tags[participant_id]
        tags.discard(etag)
        if not tags:
            del self._tags[participant_id]
