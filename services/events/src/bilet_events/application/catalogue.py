"""The catalogue as callers read it: career events by filter, cursor-paged, and one career event
(`facts.Catalogue`, the read model), and `suitable_for` a pupil.

`suitable_for` narrows the filter to the pupil's region and grade and keeps the career events
that accommodate their accessibility needs (opened only while a consent covers `health_data`;
without it they are treated as none, as a booking would), that they hold no seat of, and the
sessions that do not overlap a seat they hold (their `careerbookings-` stream: authoritative, so
a seat just booked is never offered again). Career events the pupil waits in line for are not
known here (the read model keeps no participant ids) and are still listed; booking them again is
refused (`already_booked`). Filtering drops entries after the read model's paging, so pages are
fetched until `limit` entries are found or the catalogue ends.
"""

from dataclasses import replace
from typing import Final
from uuid import UUID

from bilet.audit import Access
from bilet_events.application import access
from bilet_events.application.accessibility import FIELD, Needs, open_needs
from bilet_events.application.base import EventsCore
from bilet_events.application.errors import UnknownParticipant
from bilet_events.application.facts import (
    CatalogueCursor,
    CatalogueEntry,
    CatalogueFilter,
    CataloguePage,
)
from bilet_events.application.inputs import CommandContext
from bilet_events.application.streams import seats_of
from bilet_events.domain.errors import UnknownCareerEvent
from bilet_events.domain.pupil_bookings import Seats

SUITABLE_FOR: Final = "career_event_catalogue"


class CatalogueQueries(EventsCore):
    async def career_event(self, ctx: CommandContext, career_event_id: UUID) -> CatalogueEntry:
        """A career event as the catalogue shows it (cancelled ones too), for any caller."""
        entry = await self.listings.career_event(career_event_id)
        if entry is None:
            raise UnknownCareerEvent()
        return entry

    async def catalogue(
        self,
        ctx: CommandContext,
        where: CatalogueFilter,
        *,
        after: CatalogueCursor | None,
        limit: int,
        suitable_for: UUID | None = None,
    ) -> CataloguePage:
        """Career events matching `where` (any caller), `limit` at most after `after`; with
        `suitable_for`, only those that suit that pupil (the pupil, a guardian of theirs,
        their school's registrar or navigator; anyone else: unknown participant)."""
        if suitable_for is None:
            return await self.listings.search(where, after=after, limit=limit)
        pupil = await self.facts.pupil(suitable_for, self.clock().date())
        if pupil is None or pupil.erased or not access.may_ask_for(ctx.principal, pupil):
            raise UnknownParticipant()
        if (where.region_id not in (None, pupil.region_id)) or (
            where.grade not in (None, pupil.grade)
        ):
            return CataloguePage((), None)  # asked for another region or grade: none suits
        needs = await open_needs(self.cipher, pupil)
        if needs.checked and pupil.accessibility_needs is not None:
            await self.audit.record(ctx.audit(Access.READ, suitable_for, SUITABLE_FOR, [FIELD]))
        seats = await self.transactor.attempt().state(seats_of(suitable_for))
        narrowed = replace(where, region_id=pupil.region_id, grade=pupil.grade)
        return await self._suitable(narrowed, after, limit, needs, seats)

    async def _suitable(
        self,
        where: CatalogueFilter,
        after: CatalogueCursor | None,
        limit: int,
        needs: Needs,
        seats: Seats,
    ) -> CataloguePage:
        """Pages of the read model, filtered, until `limit` entries or the end."""
        found: list[CatalogueEntry] = []
        cursor = after
        while True:
            page = await self.listings.search(where, after=cursor, limit=limit)
            for index, entry in enumerate(page.entries):
                kept = _suiting(entry, needs, seats)
                if kept is not None:
                    found.append(kept)
                if len(found) == limit:
                    last = index == len(page.entries) - 1 and page.next_cursor is None
                    return CataloguePage(
                        tuple(found), None if last else CatalogueCursor.after(entry)
                    )
            if page.next_cursor is None:
                return CataloguePage(tuple(found), None)
            cursor = page.next_cursor


def _suiting(entry: CatalogueEntry, needs: Needs, seats: Seats) -> CatalogueEntry | None:
    """The entry with only the matching sessions that suit the pupil, or None."""
    published = entry.career_event
    if not needs.needs <= set(published.accommodates):
        return None
    held = seats.held.values()
    if any(seat.career_event_id == published.career_event_id for seat in held):
        return None
    times = {s.session_id: s for s in entry.sessions}
    free = tuple(
        session
        for session in entry.matching
        if not any(
            seat.starts_at < times[session].ends_at and times[session].starts_at < seat.ends_at
            for seat in held
        )
    )
    return replace(entry, matching=free) if free else None
