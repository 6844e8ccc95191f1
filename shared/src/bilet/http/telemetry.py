"""What a service tells its operators about each request: Prometheus metrics by route template,
and one JSON access line, with the request's correlation id and W3C trace id bound to every line
logged while it runs.

Both name a request by its route template, never its path: a path holds ids, a 404's path
whatever a client typed, and a query string search terms; none of it may become a metric label
or reach a log. The service frame (`bilet.http.frame`) calls these for every request.
"""

import logging
import re
import time
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import Scope

from bilet.http.correlation import CORRELATION_HEADER, correlation_id_of
from bilet.logs import bind_log_context

access_log: Final = logging.getLogger("bilet.http.access")

_METHODS: Final = frozenset({"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"})
# W3C Trace Context: version-traceid-parentid-flags; all-zero ids and version ff are invalid,
# and version 00 has exactly these four fields (later versions may append more).
_TRACEPARENT: Final = re.compile(
    r"(?!ff)(?P<version>[0-9a-f]{2})-(?!0{32})(?P<trace_id>[0-9a-f]{32})"
    r"-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}(?P<rest>-.*)?"
)
# Probes and scrapes answer every few seconds: their access lines are debug, unless they fail.
_OPERATIONS: Final = ("/healthz", "/readyz", "/metrics")


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id of a W3C `traceparent` header, None when absent or malformed."""
    if not traceparent:  # most requests: no tracing proxy in front
        return None
    match = _TRACEPARENT.fullmatch(traceparent)
    if match is None or (match["version"] == "00" and match["rest"]):
        return None
    return match["trace_id"]


def route_template(scope: Scope, prefix: str) -> str:
    """The template of the route that answered (`/identity/v1/participants/{participant_id}`),
    or `unmatched`."""
    template = getattr(scope.get("route"), "path", None)
    if template is None:
        return "unmatched"
    if not template.startswith(prefix):
        return str(prefix + template)  # routes of an included router
    return str(template)


def _method(scope: Scope) -> str:
    return str(scope["method"]) if scope["method"] in _METHODS else "OTHER"


_CORRELATION_HEADER: Final = CORRELATION_HEADER.encode()


def _ids_given(scope: Scope) -> tuple[str | None, str | None]:
    """The request's `X-Correlation-Id` and `traceparent` values (the first of each; None when
    absent), in one pass over its headers."""
    correlation = traceparent = None
    for key, value in scope.get("headers", ()):
        if key == _CORRELATION_HEADER:
            if correlation is None:
                correlation = bytes(value).decode("latin-1")
        elif key == b"traceparent" and traceparent is None:
            traceparent = bytes(value).decode("latin-1")
    return correlation, traceparent


def bind_request_ids(scope: Scope) -> str:
    """Binds the request's correlation id (the caller's `X-Correlation-Id` when it is a plain
    token, else a new one, also handed to the routes through `scope["state"]`) and the trace id
    of its `traceparent` to every line logged while it runs; returns the correlation id.

    The binding is left in place when the request ends: the server runs each request in a task of
    its own, so it ends with the task, and the server's own lines about the request (the
    traceback of an unhandled error, logged after the application returned) carry it too."""
    given, traceparent = _ids_given(scope)
    correlation_id = correlation_id_of(given)
    scope.setdefault("state", {})["correlation_id"] = correlation_id
    bind_log_context(correlation_id=correlation_id, trace_id=trace_id_of(traceparent))
    return correlation_id


def log_access(scope: Scope, prefix: str, status: int, started: float) -> None:
    """Writes the request's access line: method, route template, status, and the duration since
    `started` (`time.perf_counter`)."""
    template = route_template(scope, prefix)
    quiet = status < 400 and template.endswith(_OPERATIONS)
    level = logging.DEBUG if quiet else logging.INFO
    # The line's fields are built only when it is written: a server that logs no access lines
    # (or no debug lines, for probes) pays nothing more for them per request.
    if access_log.isEnabledFor(level):
        method = _method(scope)
        access_log.log(
            level,
            "%s %s %d",
            method,
            template,
            status,
            extra={
                "method": method,
                "route": template,
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            },
        )


class RouteMetrics:
    """Counts and times answers by route template, method and status."""

    def __init__(self, service: str, prefix: str, requests: Counter, latency: Histogram) -> None:
        self.service = service
        self.prefix = prefix
        self.requests = requests
        self.latency = latency
        # The children of the label sets seen: a label lookup takes a lock and builds a key.
        self._counters: dict[tuple[str, str, int], Counter] = {}
        self._timers: dict[tuple[str, str], Histogram] = {}

    def record(self, scope: Scope, status: int, seconds: float) -> None:
        template = route_template(scope, self.prefix)
        method = _method(scope)
        timer = self._timers.get((template, method))
        if timer is None:
            timer = self.latency.labels(self.service, template, method)
            self._timers[(template, method)] = timer
        timer.observe(seconds)
        counter = self._counters.get((template, method, status))
        if counter is None:
            counter = self.requests.labels(self.service, template, method, str(status))
            self._counters[(template, method, status)] = counter
        counter.inc()


def request_metrics(registry: CollectorRegistry) -> tuple[Counter, Histogram]:
    """The request counter and latency histogram of a service's registry."""
    requests = Counter(
        "bvb_http_requests",
        "HTTP requests answered, by route template, method and status",
        ["service", "route", "method", "status"],
        registry=registry,
    )
    latency = Histogram(
        "bvb_http_request_seconds",
        "HTTP request latency, by route template",
        ["service", "route", "method"],
        registry=registry,
        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    )
    return requests, latency
