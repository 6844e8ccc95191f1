"""Deadlines for slow clients: a connection that never finishes its request must not hold a
server's connection slot, memory and task forever (a «slowloris»).

Two deadlines, at the two depths where a request can stall:
- Headers, in the HTTP protocol (uvicorn's h11 protocol, subclassed: uvicorn itself times out only
  idle keep-alive connections): from a connection's opening, and from the first byte of each
  further request on it, its headers must be complete within `BVB_REQUEST_HEADERS_SECONDS`;
  else it is answered 408 (when it sent something) and closed.
- Bodies, in the request guard (`bilet.http.guard`, which reads every body before a handler
  runs): a body must arrive within `BVB_REQUEST_BODY_SECONDS` plus one second per
  `BVB_REQUEST_BODY_MIN_RATE` bytes received; else 408 `request_timeout`, and the connection is
  closed (a body left unread cannot be skipped).
"""

import asyncio
import json
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from bilet.http.problems import PROBLEM_JSON, problem_body
from bilet.settings import PlatformSettings

DEFAULT_HEADERS_SECONDS: Final = 10.0
DEFAULT_BODY_SECONDS: Final = 10.0
DEFAULT_BODY_MIN_RATE: Final = 1024  # bytes per second, once the first seconds have passed


@dataclass(frozen=True, slots=True)
class BodyDeadline:
    """When a request's body must have arrived: `seconds` after its reading started, and one
    second more for every `min_rate` bytes received (a large upload on a slow line goes on; a
    trickle of a few bytes a second does not)."""

    seconds: float = DEFAULT_BODY_SECONDS
    min_rate: float = DEFAULT_BODY_MIN_RATE

    def until(self, started: float, received: int) -> float:
        return started + self.seconds + received / self.min_rate


def body_deadline_from(settings: PlatformSettings) -> BodyDeadline:
    return BodyDeadline(settings.request_body_seconds, settings.request_body_min_rate)


def _timeout_response() -> bytes:
    body = json.dumps(
        problem_body(
            408,
            "request_timeout",
            "Request timeout",
            "The request's headers did not arrive in time.",
        )
    ).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\n"
        f"content-type: {PROBLEM_JSON}\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class HeaderDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on request headers (see the module docstring)."""

    headers_seconds: ClassVar[float] = DEFAULT_HEADERS_SECONDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._headers_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # A connection that sends nothing at all is held no longer than one with half a request.
        self._watch_headers()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch_headers()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.conn.their_state is not h11.IDLE:
            return
        # Keep-alive: while nothing of a next request arrived, uvicorn's keep-alive timeout
        # governs; bytes of one that are already buffered (pipelined) start the deadline now.
        pending, _ = self.conn.trailing_data
        if pending:
            self._watch_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_headers_deadline()
        super().connection_lost(exc)

    def _watch_headers(self) -> None:
        """Arm the deadline while a request's headers are awaited; disarm once they are in."""
        if self.transport.is_closing():
            self._cancel_headers_deadline()
            return
        if self.conn.their_state is h11.IDLE:
            if self._headers_deadline is None:
                self._headers_deadline = self.loop.call_later(
                    self.headers_seconds, self._headers_too_late
                )
        else:
            self._cancel_headers_deadline()

    def _cancel_headers_deadline(self) -> None:
        if self._headers_deadline is not None:
            self._headers_deadline.cancel()
            self._headers_deadline = None

    def _headers_too_late(self) -> None:
        self._headers_deadline = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        pending, _ = self.conn.trailing_data
        if pending:
            # Written by hand: h11 answers only a request it has read whole.
            self.transport.write(_timeout_response())
        self.transport.close()


def http_protocol(settings: PlatformSettings) -> type[HeaderDeadlineProtocol]:
    """The HTTP protocol class (`uvicorn.Config(http=...)`) with the settings' header deadline."""
    return type(
        "HeaderDeadlineProtocol",
        (HeaderDeadlineProtocol,),
        {"headers_seconds": settings.request_headers_seconds},
    )
