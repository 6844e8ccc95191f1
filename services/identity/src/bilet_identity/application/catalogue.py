"""The lists callers browse: seasons' rules, admitted regions, schools of a region, and the
duplicates flagged for review.

A small in-process read model, folded from the store's global order with the same `evolve`
functions the deciders use. Every query first catches up from its last position (one indexed read
when nothing is new), so a list always shows the caller's own earlier commands (read your writes)
and what other processes committed, without a background task. Rebuilt from the store at start;
a few thousand regions and schools fit in memory many times over.
"""

import asyncio
from dataclasses import dataclass
from datetime import date
from typing import Final
from uuid import UUID

from bilet.contracts.catalogue.identity import (
    DiagnosticsWindowScheduled,
    RegionAdmitted,
    SchoolRegistered,
    SeasonRulesPublished,
)
from bilet.eventstore import START, EventStore
from bilet_identity.application.eventlog import catch_up, decode_event
from bilet_identity.domain import region as regions
from bilet_identity.domain import school as schools
from bilet_identity.domain import season as seasons
from bilet_identity.domain.internal import DuplicateReviewRequested, DuplicateReviewResolved
from bilet_identity.domain.region import Region
from bilet_identity.domain.reservation import review_id
from bilet_identity.domain.school import School
from bilet_identity.domain.season import SeasonRules

_CATEGORIES: Final = (
    SeasonRulesPublished.stream_category,
    RegionAdmitted.stream_category,
    SchoolRegistered.stream_category,
)
_PAGE: Final = 1000


@dataclass(frozen=True, slots=True)
class ReviewRequest:
    review_id: UUID
    reservation_key: str
    ordinal: int  # in its reservation's stream (docs/adr/0043)
    participant_id: UUID
    requested_by_school_id: UUID
    requested_at: str
    position: int


class CatalogueView:
    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._lock = asyncio.Lock()
        self._position = START
        self.seasons: dict[int, SeasonRules] = {}
        self.regions: dict[UUID, Region] = {}
        self.schools: dict[UUID, School] = {}
        self.reviews: list[ReviewRequest] = []  # open ones
        # Every review asked, resolved or not: id → (reservation key, ordinal).
        self.known_reviews: dict[UUID, tuple[str, int]] = {}

    @property
    def position(self) -> int:
        return self._position

    async def refresh(self) -> None:
        async with self._lock:
            self._position = await catch_up(
                self._store,
                self._position,
                lambda event, _: self._apply(event),
                categories=_CATEGORIES,
            )

    async def refresh_reviews(self) -> None:
        """The open review requests as the store holds them now, read whole each time (they
        are few, and an operator asks): a request of an erased child, purged from the store by
        another process (identity's worker), is gone from every replica's answer at once; a
        resolved one is gone too (docs/adr/0043)."""
        types = (DuplicateReviewRequested.event_type, DuplicateReviewResolved.event_type)
        async with self._lock:
            asked: dict[tuple[str, int], ReviewRequest] = {}
            count: dict[str, int] = {}  # requests seen per reservation: the next ordinal
            position = 0
            while True:
                batch = await self._store.read_all(position, _PAGE, event_types=types)
                for record in batch:
                    event = decode_event(record, record.stream_id)
                    if isinstance(event, DuplicateReviewResolved):
                        asked.pop((event.reservation_key, event.ordinal), None)
                    elif isinstance(event, DuplicateReviewRequested):
                        key = event.reservation_key
                        ordinal = count.get(key, 0)
                        count[key] = ordinal + 1
                        asked[key, ordinal] = ReviewRequest(
                            review_id(key, ordinal),
                            key,
                            ordinal,
                            event.participant_id,
                            event.requested_by_school_id,
                            record.recorded_at.isoformat(),
                            record.position,
                        )
                    position = record.position
                if len(batch) < _PAGE:
                    break
            self.reviews[:] = sorted(asked.values(), key=lambda r: r.position)
            self.known_reviews = {
                review_id(key, n): (key, n) for key, total in count.items() for n in range(total)
            }

    def _apply(self, event: object) -> None:
        if isinstance(event, SeasonRulesPublished):
            self.seasons[event.season] = seasons.evolve(self.seasons.get(event.season), event)
        elif isinstance(event, RegionAdmitted | DiagnosticsWindowScheduled):
            evolved = regions.evolve(self.regions.get(event.region_id), event)
            if evolved is not None:
                self.regions[event.region_id] = evolved
        elif isinstance(event, SchoolRegistered):
            self.schools[event.school_id] = schools.evolve(None, event)

    def season_for(self, today: date) -> SeasonRules | None:
        """The season running today; else the latest one published."""
        running = [r for r in self.seasons.values() if r.starts_on <= today <= r.ends_on]
        if running:
            return max(running, key=lambda r: r.season)
        if self.seasons:
            return self.seasons[max(self.seasons)]
        return None

    def schools_of(self, region_id: UUID) -> list[School]:
        found = [s for s in self.schools.values() if s.region_id == region_id]
        return sorted(found, key=lambda s: (s.municipality, s.name))
