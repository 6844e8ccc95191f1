"""Server-sent events of a participant's portfolio: a `portfolio` event whenever its ETag
changes (and once at the start, unless `Last-Event-ID` is already current). The event id is the
ETag's opaque value, so a change of the reference data shown (a school's name) or of the names
read (erased) is an event too, not only a new version.

A stream sleeps until a commit of the projection changes its participant (docs/adr/0059: the
read model's in-process signals, fed on PostgreSQL by NOTIFY; a slow poll only where no signal
can exist), then re-checks access and the ETag: when the caller may no longer see the portfolio
(a withdrawn consent, an erasure) it sends `closed` with the refusal's code and ends. It never
outlives the caller's token: at the token's `exp` it sends `closed` `{"code": "token_expired"}`
and ends (the client reconnects with a fresh token). It also ends when the client goes away
(Starlette cancels it on `http.disconnect`), after `portfolio_sse_max_seconds` (clients reconnect
by themselves, `retry:` tells them how soon), and when the process shuts down: on the lifespan's
end, and — since uvicorn waits for open responses before it runs the lifespan's end — on
SIGTERM/SIGINT, whose handler is chained for that.
"""

import asyncio
import json
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from types import FrameType
from typing import Any, Final

from bilet.projections import Watch
from bilet_portfolio.application.errors import PortfolioError
from bilet_portfolio.application.service import PortfolioQueries, PortfolioView, ReadContext

RETRY_MILLISECONDS: Final = 2000
TOKEN_EXPIRED: Final = "token_expired"  # noqa: S105 - a problem code, not a secret
_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)
# Opens a wait for commits that change one participant (`ReadModel.watch` of the projection).
WatchParticipant = Callable[[str], AbstractAsyncContextManager[Watch]]


def etag_event_id(etag: str) -> str:
    """A `portfolio` event's id: the ETag's opaque value (`14.3-self-verified`)."""
    return etag.removeprefix("W/").strip('"')


def _event(kind: str, data: dict[str, Any], event_id: str | None = None) -> str:
    lines = [f"event: {kind}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"data: {json.dumps(data, separators=(',', ':'))}")
    return "\n".join(lines) + "\n\n"


class UpdateStreams:
    """The open update streams of one application, and how they are told to stop.

    `watch(participant_id)` opens a wait for commits that change the participant (the read
    model's `watch`). `signalled`: whether every commit of the read model reaches those waits
    (an in-process feed, or PostgreSQL's NOTIFY); when not (a SQLite read model fed by another
    process), a stream looks again every `poll` seconds instead."""

    def __init__(
        self,
        *,
        watch: WatchParticipant,
        signalled: bool,
        poll: float,
        keepalive: float,
        max_seconds: float,
    ) -> None:
        self.watch = watch
        self.signalled = signalled
        self.poll = poll
        self.keepalive = keepalive
        self.max_seconds = max_seconds
        self.open = 0
        self._closing = asyncio.Event()
        self._watches: set[Watch] = set()
        self._previous: dict[int, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def closing(self) -> bool:
        return self._closing.is_set()

    def close(self) -> None:
        """End every open stream (and refuse none: new ones end at once)."""
        self._closing.set()
        for watch in self._watches:
            watch.poke()

    # ------------------------------------------------------------------ shutdown signals
    def chain_signals(self) -> None:
        """Close the streams on SIGTERM/SIGINT before the server's own handler runs, so that a
        server waiting for open responses before its shutdown is not kept waiting."""
        if threading.current_thread() is not threading.main_thread():
            return
        self._loop = asyncio.get_running_loop()
        for sig in _SIGNALS:
            previous = signal.getsignal(sig)
            if not callable(previous):
                continue  # default or ignored: nothing to chain to; the lifespan's end closes
            self._previous[sig] = previous
            signal.signal(sig, self._on_signal)

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.close)
        previous = self._previous.get(sig)
        if callable(previous):
            previous(sig, frame)

    def unchain_signals(self) -> None:
        for sig, previous in self._previous.items():
            if signal.getsignal(sig) == self._on_signal:
                signal.signal(sig, previous)
        self._previous.clear()

    # ------------------------------------------------------------------ one stream
    async def follow(
        self,
        queries: PortfolioQueries,
        ctx: ReadContext,
        participant_id: str,
        first: PortfolioView,
        last_event_id: str | None,
        *,
        expires_at: float | None = None,
    ) -> AsyncIterator[str]:
        """The stream; `expires_at`: the caller's token's `exp` (seconds since the epoch)."""
        self.open += 1
        try:
            async with self.watch(participant_id) as watch:
                self._watches.add(watch)
                try:
                    async for message in self._messages(
                        watch, queries, ctx, participant_id, first, last_event_id, expires_at
                    ):
                        yield message
                finally:
                    self._watches.discard(watch)
        finally:
            self.open -= 1

    async def _messages(
        self,
        watch: Watch,
        queries: PortfolioQueries,
        ctx: ReadContext,
        participant_id: str,
        first: PortfolioView,
        last_event_id: str | None,
        expires_at: float | None,
    ) -> AsyncIterator[str]:
        yield f"retry: {RETRY_MILLISECONDS}\n\n"
        sent = last_event_id
        view: PortfolioView | None = first
        started = last_beat = time.monotonic()
        day = _utc_day()
        while True:
            if expires_at is not None and time.time() >= expires_at:
                yield _event("closed", {"code": TOKEN_EXPIRED})
                return
            if view is not None and etag_event_id(view.etag) != sent:
                sent = etag_event_id(view.etag)
                yield _event(
                    "portfolio",
                    {
                        "participant_id": participant_id,
                        "version": view.participant.version,
                        "etag": view.etag,
                    },
                    sent,
                )
            now = time.monotonic()
            if self.closing or now - started >= self.max_seconds:
                return
            if now - last_beat >= self.keepalive:
                last_beat = now
                yield ": keep-alive\n\n"
            # Asleep until the participant changes, or the next thing due: the keep-alive, the
            # stream's end, the token's, the next day (a consent expires on a day, with no
            # commit to say so) and, without signals, the next poll.
            pause = min(
                self.keepalive - (now - last_beat),
                self.max_seconds - (now - started),
                _seconds_to_next_utc_day(),
            )
            if not self.signalled:
                pause = min(pause, self.poll)
            if expires_at is not None:
                pause = min(pause, expires_at - time.time())
            changed = await watch.wait(max(0.0, pause))
            if self.closing:
                return
            if expires_at is not None and time.time() >= expires_at:
                continue  # ends at the top, before anything more is read for the caller
            today = _utc_day()
            if not changed and self.signalled and today == day:
                continue  # a timer only: nothing the caller sees can have changed
            day = today
            try:
                view = await queries.check(ctx, participant_id)
            except PortfolioError as refused:
                yield _event("closed", {"code": refused.code})
                return


_DAY_SECONDS: Final = 86_400


def _utc_day() -> int:
    """Today's number (UTC), the day consents are judged on (`PortfolioQueries.today`)."""
    return int(time.time() // _DAY_SECONDS)


def _seconds_to_next_utc_day() -> float:
    return _DAY_SECONDS - time.time() % _DAY_SECONDS
