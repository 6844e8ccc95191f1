"""What an answer save (and a completion) decides on, without folding the whole answer sheet on
every save.

A save needs the sheet's opening (whose it is, its form, its deadline), whether it is closed,
and the current answer of its item. Folding the sheet from its first event on every save costs
a decode per answer already given: a pupil's 80th save decodes 80 events. A sheet's events never
change once appended, so its fold at version v stays true: `SheetCache` keeps the fold per
attempt (LRU, bounded) and reads only the events after it, so each save still reads the stream
(one round trip: writes of other replicas and completions are seen) but decodes only what is new.

Invalidation: nothing cached can go stale, since the tail read brings every later event (a
completion's `SheetClosed` included, from this replica or another). A closed sheet keeps no
answers in the cache; the completion scores the answers of the fold it reads here (closing the
sheet at that fold's version) and then forgets the attempt (`forget`). The answers are cached
**sealed** (as stored): opening one asks the key store, so a participant's erasure reaches them
as it reaches the stored events; no plaintext is kept here.

Own commits (docs/adr/0113): `appended` (a `Transactor.on_append` observer) folds the sheet
events of a commit made through `Transactor.commit` into the cached fold when they took the
versions right after it (version = cached + written): the stream is append-only, so nothing
landed between and the fold is the stream's as of that commit without reading it. `cached`
gives the fold as this process knows it, without a read, for a save that appends at its exact
version (refused, and read again, when it is not the stream's).
"""

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final
from uuid import UUID

from bilet.application import EventLog, OwnAppend
from bilet.contracts import DomainEvent
from bilet.eventstore import EventStore
from bilet_diagnostics.domain import answer_sheet
from bilet_diagnostics.domain.answer_sheet import Sheet
from bilet_diagnostics.domain.internal import SHEET_CATEGORY, AnswerRecorded, SheetOpened

# Attempts in progress kept per process: a region's cohort answering at once, with room.
CACHED_SHEETS: Final = 20_000


@dataclass(frozen=True)
class SheetSnapshot:
    """An answer sheet folded up to `version` (None: no sheet), with the latest answer recorded
    per item before its closing (sealed, as stored)."""

    state: Sheet
    version: int | None = None
    latest: dict[str, AnswerRecorded] = field(default_factory=dict)

    @property
    def opened(self) -> SheetOpened | None:
        return self.state.opened

    def after(self, events: list[answer_sheet.SheetEvent], version: int) -> "SheetSnapshot":
        """This snapshot with `events` (the next ones, up to `version`) folded in."""
        state = answer_sheet.fold(self.state, events)
        if state.closed is not None:
            # Answers count for nothing now: nothing to compare a save with. (A sheet once
            # closed stays closed: one still open had no closing among `events`, so every
            # answer in them came before any closing; `fold` alone says what a closing does.)
            return SheetSnapshot(state, version, {})
        latest = dict(self.latest)
        for event in events:
            if isinstance(event, AnswerRecorded):
                latest[event.item_id] = event
        return SheetSnapshot(state, version, latest)


class SheetCache:
    """The folds of answer sheets, caught up with their streams on every read."""

    def __init__(self, store: EventStore, log: EventLog, size: int = CACHED_SHEETS) -> None:
        self._store = store
        self._log = log
        self._size = size
        self._sheets: OrderedDict[UUID, SheetSnapshot] = OrderedDict()

    def appended(self, append: OwnAppend) -> None:
        """Fold a commit of this process into its sheet's cached fold when its events took the
        versions right after the fold's (`Transactor.on_append`); anything else is left for a
        read. A sheet's opening (version 0) starts its fold."""
        prefix, _, tail = append.stream_id.partition("-")
        if prefix != SHEET_CATEGORY:
            return
        attempt_id = UUID(tail)
        first = append.version - len(append.events) + 1
        cached = self._sheets.get(attempt_id)
        if cached is None:
            if first != 0:
                return
            cached = SheetSnapshot(answer_sheet.initial(attempt_id))
        if _version(cached) != first - 1:
            return  # something this process did not fold landed between, or it is behind
        events = _sheet_events(append.stream_id, append.events)
        self._keep(attempt_id, cached.after(events, append.version))

    def cached(self, attempt_id: UUID) -> SheetSnapshot | None:
        """The sheet's fold as this process knows it (no read): true as of its version, which a
        decision on it must expect."""
        cached = self._sheets.get(attempt_id)
        if cached is not None:
            self._sheets.move_to_end(attempt_id)
        return cached

    async def read(self, attempt_id: UUID) -> SheetSnapshot:
        """The sheet as its stream holds it now: the cached fold and the events after it."""
        cached = self._sheets.get(attempt_id) or SheetSnapshot(answer_sheet.initial(attempt_id))
        stream_id = answer_sheet.stream_id(attempt_id)
        start = _version(cached) + 1
        records = await self._store.read_stream(stream_id, start)
        if not records:
            return cached
        events = [self._log.decode(record, stream_id) for record in records]
        snapshot = cached.after(_sheet_events(stream_id, events), records[-1].version)
        self._keep(attempt_id, snapshot)
        return snapshot

    def forget(self, attempt_id: UUID) -> None:
        """Drop the attempt's sheet (completed: no save will count again)."""
        self._sheets.pop(attempt_id, None)

    def __contains__(self, attempt_id: UUID) -> bool:
        return attempt_id in self._sheets

    def _keep(self, attempt_id: UUID, snapshot: SheetSnapshot) -> None:
        # Saves to one sheet run concurrently: a slower read must not replace a newer fold.
        known = self._sheets.get(attempt_id)
        if known is not None and _version(known) >= _version(snapshot):
            self._sheets.move_to_end(attempt_id)
            return
        self._sheets[attempt_id] = snapshot
        self._sheets.move_to_end(attempt_id)
        while len(self._sheets) > self._size:
            self._sheets.popitem(last=False)


def _version(snapshot: SheetSnapshot) -> int:
    # Version 0 (the opening) is a version: only None is "no sheet".
    return -1 if snapshot.version is None else snapshot.version


def _sheet_events(stream_id: str, events: Sequence[DomainEvent]) -> list[answer_sheet.SheetEvent]:
    """A sheet's events as the fold takes them; anything else in its stream is a defect."""
    sheet_events = [e for e in events if isinstance(e, answer_sheet.SheetEvent)]
    if len(sheet_events) != len(events):
        raise AssertionError(f"{stream_id} holds only answer sheet events")
    return sheet_events
