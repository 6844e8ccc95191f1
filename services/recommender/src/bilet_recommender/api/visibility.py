"""Read-your-writes: a read that carries the `BVB-Position` a command returned (of this service,
identity, consent, diagnostics or events) waits (bounded) until the projection it reads has
applied it. The app gives each route group the wait of its projection (the issuing one for
recommendations and opportunities, the insights one for insights) and the sources it follows."""

import time
from collections.abc import Collection
from typing import Final, Protocol

from bilet.http.consistency import invalid_token, parse_position_tokens
from bilet_recommender.api.problems import not_yet_visible

# How long a read waits, in all, for the commands its `BVB-Position` names.
WAIT_SECONDS: Final = 2.0


class PositionWaiter(Protocol):
    async def wait_for(
        self, source: str, position: int, timeout: float, stream_id: str | None = None
    ) -> bool:
        """True once `source`'s events up to `position` are applied; False when `timeout`
        seconds passed first."""
        ...


class ReadYourWrites:
    def __init__(
        self, waiter: PositionWaiter, sources: Collection[str], wait_seconds: float = WAIT_SECONDS
    ) -> None:
        self.waiter = waiter
        self.sources = tuple(sources)
        self.wait_seconds = wait_seconds

    async def await_header(self, header: str | None) -> None:
        """Wait (`wait_seconds` in all) until every token of a `BVB-Position` header is applied:
        400 `invalid_position_token` for a malformed one or one of a service not followed; 409
        `not_yet_visible` when the time runs out first."""
        tokens = parse_position_tokens(header)
        for token in tokens:
            if token.source not in self.sources:
                raise invalid_token(
                    f"The recommender follows {', '.join(self.sources)}, not {token.source!r}."
                )
        deadline = time.monotonic() + self.wait_seconds
        for token in tokens:
            remaining = max(0.0, deadline - time.monotonic())
            if not await self.waiter.wait_for(
                token.source, token.position, remaining, token.stream_id
            ):
                raise not_yet_visible(token.encode(), self.wait_seconds)
