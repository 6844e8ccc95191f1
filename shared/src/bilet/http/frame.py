"""The service frame: the rules the kit applies to every request, in one ASGI layer
(docs/adr/0116).

In this order, as the six middleware layers it replaces applied them (ADR 0029, 0071, 0073, 0086):
1. the request's correlation and trace ids are bound to its log lines, its correlation id is
   sent back in every answer's `X-Correlation-Id`, and its access line is written when it ends —
   every request, the guard's refusals and CORS's preflights included;
2. CORS, when a deployment names origins: around the guard, so its refusals carry the headers a
   browser needs to read them;
3. the guard (`RequestGuard`): the target's text, the body's size, deadline and text;
4. from here on the request is counted and timed in the metrics (the guard's refusals and
   preflights are not, as before);
5. `HEAD` is answered as `GET`; a body that is not JSON sent to a route that reads JSON is
   refused (415); a query parameter the route does not take is refused (400);
6. the application (gzip, innermost, is a layer of its own).

Each layer used to be an ASGI call of its own, the metrics and the access line each wrapped the
answer's `send`, and the media-type check read the headers again: ~30 µs of a 304's ~80 in-process
(ADR 0098, 0112). Here one call does it all, with one `send` wrapper for both the metrics and
the access line, and a plain request (no `HEAD`, no query string, no body or a JSON one) passes
step 5 with a check each.
"""

import time
from collections.abc import Callable
from typing import Final

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bilet.http.correlation import CORRELATION_HEADER
from bilet.http.guard import RequestGuard
from bilet.http.query import UnknownQueryRefused
from bilet.http.semantics import JsonBodiesOnly, as_get, keep_what_routing_learnt, with_cors
from bilet.http.telemetry import RouteMetrics, bind_request_ids, log_access

# The scope's note of when the guard let the request through: the metrics time from there, and
# count only what got there. A scope key, because CORS may stand between the two steps.
_COUNTED_SINCE: Final = "bilet.counted_since"
_CORRELATION_HEADER: Final = CORRELATION_HEADER.encode()


class ServiceFrame:
    """One ASGI layer for steps 1–5 above, around `app`."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        prefix: str,
        routes: FastAPI,
        metrics: RouteMetrics,
        guard: Callable[[ASGIApp], RequestGuard],
        cors_origins: list[str],
    ) -> None:
        self.app = app
        self.prefix = prefix
        self.metrics = metrics
        self.json_bodies = JsonBodiesOnly(routes)
        self.queries = UnknownQueryRefused(routes)
        # `guard` builds the request guard around what it lets through: `_counted`.
        self._guarded = with_cors(guard(self._counted), cors_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # the lifespan, a websocket: none of these rules apply
            await self.app(scope, receive, send)
            return
        # Only what this frame's guard let through is counted: a scope that arrives marked (a
        # frame within a frame, a test's reused scope) must not count a refusal of this guard.
        scope.pop(_COUNTED_SINCE, None)
        # Sent back on every answer, so that a client can quote it and its log lines be found.
        correlation = (_CORRELATION_HEADER, bind_request_ids(scope).encode("latin-1"))
        started = time.perf_counter()
        status = 0  # until the answer starts

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                # A new list: a response object may be sent again (a cached answer), and must
                # not keep this request's id.
                message = {**message, "headers": [*message.get("headers", ()), correlation]}
                # Until the answer starts, as long streams (server-sent events) would else
                # count their whole life.
                self._count_once(scope, status, message["status"])
                status = message["status"]
            await send(message)

        try:
            await self._guarded(scope, receive, watched)
        except BaseException:
            self._count_once(scope, status, 500)
            raise
        finally:
            # 500: what the client gets when the application fails before it answers.
            log_access(scope, self.prefix, status or 500, started)

    def _count_once(self, scope: Scope, answered: int, status: int) -> None:
        """Counts the request as `status` unless it has answered already (`answered`, its
        status, else 0) or never passed the guard."""
        if not answered and (since := scope.get(_COUNTED_SINCE)) is not None:
            self.metrics.record(scope, status, time.perf_counter() - since)

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[_COUNTED_SINCE] = time.perf_counter()
        if scope["method"] != "HEAD":
            await self._checked(scope, receive, send)
            return
        get, send_headers_only = as_get(scope, send)
        try:
            await self._checked(get, receive, send_headers_only)
        finally:
            # Also when the route fails before it answers: the metrics and the access line
            # name the route that failed, as they do for a GET.
            keep_what_routing_learnt(get, scope)

    async def _checked(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = self.json_bodies.refusal(scope)
        if refusal is None:
            refusal = self.queries.refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)
