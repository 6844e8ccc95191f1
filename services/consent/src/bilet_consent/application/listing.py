"""Consent's list use cases: the verification queue and the consent state of a school's (or a
region's) participants, with their cursors. Who may list what is `access.list_scope`; the SQL is
`lists.ConsentLists`.

A cursor is where the previous page ended, in the open (nothing in it that the page did not show):
the queue's is `<microseconds since 1970 of the submission>_<consent id>`, the states' the last
participant id. Anything else is 400 `invalid_cursor` before a query runs. The lists hold ids,
statuses, dates and reasons, no personal data: they are not audited (a consent's details, its
document and the single status are).
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Generic, TypeVar
from uuid import UUID

from bilet_consent.application import access
from bilet_consent.application.base import ConsentCore
from bilet_consent.application.errors import InvalidCursor
from bilet_consent.application.inputs import CommandContext
from bilet_consent.application.lists import (
    EPOCH,
    ConsentLists,
    ConsentListStatus,
    ParticipantState,
    ParticipantStateRow,
    QueuedConsent,
)
from bilet_consent.application.participants import SOURCES

_UUID: Final = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
QUEUE_CURSOR: Final = rf"^[0-9]{{1,17}}_{_UUID}$"
STATES_CURSOR: Final = rf"^{_UUID}$"
CURSOR_MAX_LENGTH: Final = 54


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def _page(rows: list[T], limit: int, cursor_of: Callable[[T], str]) -> Page[T]:
    """A page of `limit` rows out of the `limit + 1` asked for: one more means a next page."""
    items = rows[:limit]
    return Page(items, cursor_of(items[-1]) if len(rows) > limit else None)


def queue_cursor(item: QueuedConsent) -> str:
    micros = (item.submitted_at - EPOCH) // timedelta(microseconds=1)
    return f"{micros}_{item.consent_id}"


def read_queue_cursor(cursor: str) -> tuple[datetime, UUID]:
    if not re.fullmatch(QUEUE_CURSOR, cursor):
        raise InvalidCursor()
    micros, consent_id = cursor.split("_")
    try:
        return EPOCH + timedelta(microseconds=int(micros)), UUID(consent_id)
    except OverflowError:  # beyond the year 9999: no page gave it
        raise InvalidCursor() from None


def read_states_cursor(cursor: str) -> UUID:
    if not re.fullmatch(STATES_CURSOR, cursor):
        raise InvalidCursor()
    return UUID(cursor)


class ConsentListing(ConsentCore):
    @property
    def lists(self) -> ConsentLists:
        return ConsentLists(self.directory.read_model)

    async def _caught_up(self, ctx: CommandContext) -> None:
        """Read-your-writes: wait (bounded) until the read model has applied the writes the
        request's position tokens name (a consent command's, identity's registration); then
        answer what it holds."""
        for token in ctx.tokens:
            if token.source in SOURCES:
                await self.directory.wait_for(
                    token.source, token.position, self.wait_timeout, token.stream_id
                )

    async def queue(
        self,
        ctx: CommandContext,
        status: ConsentListStatus,
        school_id: UUID | None,
        region_id: UUID | None,
        cursor: str | None,
        limit: int,
    ) -> Page[QueuedConsent]:
        scope = access.list_scope(ctx.principal, school_id, region_id)
        after = None if cursor is None else read_queue_cursor(cursor)
        await self._caught_up(ctx)
        rows = await self.lists.queue(status, scope, after, limit + 1)
        return _page(rows, limit, queue_cursor)

    async def participant_states(
        self,
        ctx: CommandContext,
        school_id: UUID | None,
        region_id: UUID | None,
        states: frozenset[ParticipantState],
        cursor: str | None,
        limit: int,
    ) -> Page[ParticipantStateRow]:
        scope = access.list_scope(ctx.principal, school_id, region_id)
        after = None if cursor is None else read_states_cursor(cursor)
        await self._caught_up(ctx)
        rows = await self.lists.states(
            scope, states, after, limit + 1, self.today(), self.erasure_days
        )
        return _page(rows, limit, lambda row: str(row.participant_id))
