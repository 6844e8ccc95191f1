"""The pupils of each school, as their registrar and navigators browse them: where each
participant is now (school, grade, class letter, season), in the order they were registered, the
blind index of their surname, and the keyed hash of the name and birth date they are registered
with (a second profile of one child under another СНИЛС is sent to a review, docs/adr/0041).
A profile merged into another (docs/adr/0043) is no pupil of any school list, nor is a
participant who left the school or the programme (docs/adr/0050) until they return.

A small in-process read model like the catalogue (`catalogue.py`): folded from the store's global
order with the participant decider's own `evolve`, caught up before every query (one indexed read
when nothing is new), so a registrar sees the pupil they registered a moment ago. The commits of
its own process's command path are applied as they are made (`committed`) when they directly
follow what it has applied, so a registration's events are not read back and decoded again by
the next registration (docs/adr/0081). It holds ids,
grades and keyed hashes only: no name, no birth date. The names a page shows are opened from the
participant's events for that page alone.

An erased participant's profile (and with it the surname's index) is purged from the store
(docs/adr/0016); `forget` drops them here as well when the purge runs in this process, and
another process's purge shows here as a pupil whose name cannot be opened (listed as erased,
never found by a search).
"""

import asyncio
from dataclasses import dataclass
from typing import Final
from uuid import UUID

from bilet.application import OwnCommit
from bilet.contracts.catalogue.identity import (
    ParticipantDetailsCorrected,
    ParticipantEnrolledInSeason,
    ParticipantLeftProgramme,
    ParticipantMerged,
    ParticipantMovedToSchool,
    ParticipantRegistered,
)
from bilet.eventstore import START, EventStore
from bilet_identity.application.eventlog import catch_up
from bilet_identity.domain import participant as participants
from bilet_identity.domain.internal import (
    ChildReserved,
    ClassLetterRecorded,
    ReservationReleased,
    SurnameIndexed,
)
from bilet_identity.domain.participant import Participant

_FOLDED: Final = (
    ParticipantRegistered,
    ParticipantDetailsCorrected,
    ParticipantMovedToSchool,
    ParticipantEnrolledInSeason,
    ParticipantMerged,
    ParticipantLeftProgramme,
)
_TYPES: Final = (
    *(kind.event_type for kind in _FOLDED),
    SurnameIndexed.event_type,
    ClassLetterRecorded.event_type,
    ChildReserved.event_type,
    ReservationReleased.event_type,
)
_TYPE_NAMES: Final = frozenset(_TYPES)


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a child's reservation (their СНИЛС's keyed hash) with which person key."""

    participant_id: UUID
    reservation_key: str


@dataclass(frozen=True, slots=True)
class RosterEntry:
    """A pupil as their school's list orders and filters them."""

    participant: Participant
    registered_at: int  # the store position of the registration: the list's second sort key
    class_letter: str | None = None

    @property
    def sort_key(self) -> tuple[int, int]:
        return (self.participant.grade, self.registered_at)


class RosterView:
    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._lock = asyncio.Lock()
        # Every event of the roster's types up to `_position` is applied (the catch-up's cursor).
        # The last position of the latest own commit told (`committed`): the store's head was
        # at least there when it was told, so a catch-up begun after it reads up to it at least.
        self._own_last = START
        # Erased participants forgotten here (`forget`): a read whose snapshot predates their
        # purge, or a read from the start, must not bring back their surname or reservations.
        self._forgotten: set[UUID] = set()
        # `refresh` calls made (numbered from 1).
        self._calls = 0
        self._reset()

    def _reset(self) -> None:
        """Nothing applied: the next `refresh` reads everything from the start."""
        self._position = START
        # The last `refresh` call the latest read covered (0: none; a reset forgets it, so a
        # call waiting then reads everything again).
        self._fresh_for = 0
        self._participants: dict[UUID, Participant] = {}
        self._registered_at: dict[UUID, int] = {}
        self._surname_keys: dict[UUID, frozenset[str]] = {}
        self._class_letters: dict[UUID, str | None] = {}
        # Reservation key → (holder, person key), and person key → the reservations with it:
        # which participants are registered with a name and birth date (their keyed hash).
        self._reservations: dict[str, tuple[UUID, str]] = {}
        self._by_person: dict[str, set[str]] = {}

    async def refresh(self) -> None:
        """Apply everything committed before this call. Concurrent calls share a read: a call
        that waited for the lock while a read begun after it was made returns once that read
        is applied, as it covered every commit made before the call (docs/adr/0099)."""
        self._calls += 1
        called = self._calls
        async with self._lock:
            if self._fresh_for >= called:
                return
            # Every call made so far is covered by the read begun now.
            begun = self._calls
            # Taken before reading: everything up to it is committed and will be read.
            own_last = self._own_last
            position = await catch_up(self._store, self._position, self._apply, event_types=_TYPES)
            # The read covered the store up to its head at least, which was past `own_last`: no
            # event of the roster's types lies between the last applied and there.
            self._position = max(position, own_last)
            self._fresh_for = begun

    def committed(self, commit: OwnCommit) -> None:
        """Apply a commit of this process's command path (`Transactor.on_commit`) without
        reading it back, when it directly follows the last position applied, so nothing of
        anyone else's lies between; else (a gap, a catch-up under way) the next `refresh` reads
        it from the store as any other commit."""
        self._own_last = max(self._own_last, commit.last)
        if self._lock.locked() or commit.first != self._position + 1:
            return
        try:
            for event, position in commit.events:
                if event.event_type in _TYPE_NAMES:
                    self._apply(event, position)
        except Exception:
            # Half applied, and applying again is not safe for every event: start over, the
            # next refresh reads everything (the transactor logs the error).
            self._reset()
            raise
        self._position = commit.last

    def _apply(self, event: object, position: int) -> None:
        if isinstance(event, SurnameIndexed):
            if event.participant_id not in self._forgotten:
                self._surname_keys[event.participant_id] = frozenset(event.prefix_keys)
        elif isinstance(event, ClassLetterRecorded):
            self._class_letters[event.participant_id] = event.class_letter
        elif isinstance(event, ChildReserved):
            self._unreserve(event.reservation_key)
            if event.participant_id not in self._forgotten:
                self._reservations[event.reservation_key] = (
                    event.participant_id,
                    event.person_key,
                )
                self._by_person.setdefault(event.person_key, set()).add(event.reservation_key)
        elif isinstance(event, ReservationReleased):
            self._unreserve(event.reservation_key)
        elif isinstance(event, _FOLDED):
            pid = event.participant_id
            if isinstance(event, ParticipantRegistered):
                self._registered_at[pid] = position
            evolved = participants.evolve(self._participants.get(pid), event)
            if evolved is not None:
                self._participants[pid] = evolved

    def _unreserve(self, reservation_key: str) -> None:
        held = self._reservations.pop(reservation_key, None)
        if held is not None:
            self._by_person.get(held[1], set()).discard(reservation_key)

    def forget(self, participant_id: UUID) -> None:
        """An erased participant's surname index and reservations are gone (purged), and stay
        gone here whatever a read still gives of them."""
        self._forgotten.add(participant_id)
        self._surname_keys.pop(participant_id, None)
        for key, (holder, _) in list(self._reservations.items()):
            if holder == participant_id:
                self._unreserve(key)

    def unindexed(self) -> list[UUID]:
        """The participants whose surname has no index (registered before it existed, or
        erased), in registration order."""
        found = [pid for pid in self._participants if pid not in self._surname_keys]
        return sorted(found, key=lambda pid: self._registered_at.get(pid, 0))

    def same_child_at(
        self, school_id: UUID, person_key: str, reservation_key: str
    ) -> Holder | None:
        """A pupil of the school registered with this name and birth date (`person_key`) under
        another СНИЛС (`reservation_key`): most likely the same child typed twice. A hint to
        check against the store, which may have released or purged it since."""
        for key in sorted(self._by_person.get(person_key, ())):
            holder = self._reservations[key][0]
            participant = self._participants.get(holder)
            if key != reservation_key and participant and participant.school_id == school_id:
                return Holder(holder, key)
        return None

    def pupils_of(
        self, school_id: UUID, *, grade: int | None = None, surname_key: str | None = None
    ) -> list[RosterEntry]:
        """The school's pupils now, by grade then registration; only those of `grade` and whose
        surname's index holds `surname_key`, when given."""
        found = [
            RosterEntry(participant, self._registered_at.get(pid, 0), self._class_letters.get(pid))
            for pid, participant in self._participants.items()
            if participant.school_id == school_id
            and participant.merged_into is None  # a closed second profile (docs/adr/0043)
            and participant.left is None  # left the school or the programme (docs/adr/0050)
            and (grade is None or participant.grade == grade)
            and (surname_key is None or surname_key in self._surname_keys.get(pid, ()))
        ]
        return sorted(found, key=lambda entry: entry.sort_key)
