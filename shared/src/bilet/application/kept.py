"""Folded states of the streams almost every command decides on (a school, its region, the
season's rules: reference data), kept between commands and brought up to date by version.

A registration read and folded the same three streams on every command, though they change a
few times a season. A kept fold is checked instead: one look at the stream's version (an index
lookup), and only the events after the version kept are read and folded on top. Nothing is
trusted without that look, so a change made by another process is seen by the next command as
it would be by a full read; a stream that went back (deleted, recreated, cut) is read whole.
Where the store can tell cheaply that nobody wrote a category since (`EventStore.change_marks`:
SQLite's data_version and the store's own writes), a command takes one such mark and the kept
folds of unwritten categories need no look at their versions at all (docs/adr/0081).
The states are the deciders' own immutable values, shared by the commands that read them.
"""

from collections import OrderedDict
from collections.abc import Callable, Collection, Hashable
from typing import Any, Final, TypeVar, cast

from bilet.application.eventlog import EventLog, Loaded
from bilet.eventstore import EventStore, category_of

S = TypeVar("S")

# How many folded streams one transactor keeps (least recently used out).
KEPT_FOLDS: Final = 1024

_FoldKey = tuple[str, Callable[[Any, Any], Any]]


class KeptFolds:
    """The kept folds of one store's streams in `categories` (`Transactor(kept_categories=)`)."""

    def __init__(self, log: EventLog, categories: Collection[str], limit: int = KEPT_FOLDS) -> None:
        self._log = log
        self.categories = frozenset(categories)
        self._limit = limit
        # Each fold with its `initial` and the category's change mark taken before it was
        # last looked at (None: the store gives none).
        self._kept: OrderedDict[_FoldKey, tuple[Any, Loaded[Any], Hashable | None]] = OrderedDict()

    def keeps(self, stream_id: str) -> bool:
        return category_of(stream_id) in self.categories

    async def load(
        self,
        store: EventStore,
        stream_id: str,
        evolve: Callable[[Any, Any], S],
        initial: S,
        mark: Hashable | None = None,
    ) -> Loaded[S]:
        """The stream folded with `evolve` from `initial`, as `EventLog.load` would give it now.
        `mark`: the stream's category's change mark (`EventStore.change_marks`), taken before
        this call; a fold kept under the same mark is as the store holds it, unlooked at."""
        key: _FoldKey = (stream_id, evolve)
        kept = self._kept.get(key)
        loaded: Loaded[S] | None = None
        if kept is not None and kept[0] is initial:
            if mark is not None and kept[2] == mark:
                loaded = cast(Loaded[S], kept[1])  # nobody wrote the category since
            else:
                loaded = await self._brought_up_to_date(store, cast(Loaded[S], kept[1]), evolve)
        if loaded is None:
            loaded = await self._log.load(store, stream_id, evolve, initial)
        self._kept[key] = (initial, loaded, mark)
        self._kept.move_to_end(key)
        if len(self._kept) > self._limit:
            self._kept.popitem(last=False)
        return loaded

    async def _brought_up_to_date(
        self, store: EventStore, kept: Loaded[S], evolve: Callable[[Any, Any], S]
    ) -> Loaded[S] | None:
        """`kept` with the events appended since, or None when it must be read whole."""
        version = await store.stream_version(kept.stream_id)
        if version == kept.version:
            return kept
        if version is None or kept.version is None or version < kept.version:
            return None
        records = await store.read_stream(kept.stream_id, kept.version + 1)
        if not records or records[0].version != kept.version + 1:
            return None  # cut or rewritten meanwhile: not an extension of what is kept
        state = kept.state
        events = list(kept.events)
        for record in records:
            event = self._log.decode(record, kept.stream_id)
            events.append(event)
            state = evolve(state, event)
        last = records[-1]
        return Loaded(kept.stream_id, tuple(events), last.version, last.position, state)
