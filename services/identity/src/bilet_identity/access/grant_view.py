"""Grants by id, by account and by scope: a small in-process view of the grant streams, folded
from the store's global order with the decider's `evolve` and caught up before every query (so a
list shows the caller's own earlier commands). Lists only: the claims of a token are folded from
the account's stream itself (`grants.AccountAccess.claims`)."""

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final
from uuid import UUID

from bilet.eventstore import START, EventStore
from bilet_identity.application.eventlog import catch_up
from bilet_identity.domain import grants
from bilet_identity.domain.grants import Grant, Scope
from bilet_identity.domain.internal import GRANT_CATEGORY, GrantIssued, GrantRevoked

_CATEGORIES: Final = (GRANT_CATEGORY,)


@dataclass(frozen=True, slots=True)
class HeldGrant:
    """A grant and where its stream stood when the view last changed it."""

    grant: Grant
    position: int


class GrantsView:
    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._lock = asyncio.Lock()
        self._position = START
        self._grants: dict[UUID, HeldGrant] = {}

    async def refresh(self) -> None:
        async with self._lock:
            self._position = await catch_up(
                self._store, self._position, self._apply, categories=_CATEGORIES
            )

    def _apply(self, event: object, position: int) -> None:
        match event:
            case GrantIssued() | GrantRevoked():
                held = self._grants.get(event.grant_id)
                before = () if held is None else (held.grant,)
                [grant] = grants.evolve(before, event)
                self._grants[event.grant_id] = HeldGrant(grant, position)
            case _:
                pass  # not a grant

    async def grant(self, grant_id: UUID) -> HeldGrant | None:
        await self.refresh()
        return self._grants.get(grant_id)

    async def of_account(self, subject: str) -> list[HeldGrant]:
        await self.refresh()
        return _ordered(h for h in self._grants.values() if h.grant.subject == subject)

    async def in_scope(self, scope: Scope) -> list[HeldGrant]:
        """The grants within every id `scope` names (a region's include its schools' grants)."""
        await self.refresh()
        return _ordered(h for h in self._grants.values() if h.grant.scope.within(scope))


def _ordered(found: Iterable[HeldGrant]) -> list[HeldGrant]:
    return sorted(found, key=lambda held: (held.grant.starts_at, str(held.grant.grant_id)))
