"""HTTP semantics every service gets from the frame rather than from each route (docs/adr/0029).

- `HEAD` is answered wherever `GET` is: the same status and headers, no body (RFC 9110, 9.3.2).
  FastAPI's routes name only the methods they are declared with, so the frame answers `HEAD` by
  running the `GET` route and dropping its body.
- A route that reads a JSON body refuses another declared content type with 415
  `unsupported_media_type` (problem+json) before FastAPI reads it (which would say 422 about the
  body's *shape*), and says so in its OpenAPI `responses`.
- Browser front ends: CORS for the exact origins a deployment names (`BVB_CORS_ORIGINS`, off by
  default) and gzip for responses of 1 KiB and more, never for `text/event-stream`.
"""

from collections.abc import Iterable
from typing import Any, Final

from fastapi import FastAPI, params
from fastapi.routing import iter_route_contexts
from starlette.datastructures import MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware, GZipResponder
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bilet.http.document import amend_openapi
from bilet.http.problems import PROBLEM_JSON, Problem, problem_response

GZIP_MINIMUM_BYTES: Final = 1024
UNSUPPORTED_MEDIA_TYPE: Final = 415


def as_get(scope: Scope, send: Send) -> tuple[Scope, Send]:
    """`HEAD` answered by running the `GET` route: the request as a `GET`, and a `send` that
    passes its status and headers (`Content-Length` included), then an empty body. The rest of
    the `GET` answer is dropped, and the server tells a stream that the client has gone (ASGI:
    `receive` after the response is `http.disconnect`), so an event stream does not run on for
    nobody. Refusals answered on the `GET` request go through the same `send`."""
    answered = False
    get = {**scope, "method": "GET"}

    async def send_headers_only(message: Message) -> None:
        nonlocal answered
        if answered:
            return
        if message["type"] == "http.response.start":
            keep_what_routing_learnt(get, scope)
            await send(message)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            answered = True
            return
        await send(message)

    return get, send_headers_only


def keep_what_routing_learnt(get: Scope, head: Scope) -> None:
    """Copies what routing learnt of the `GET` copy (`as_get`) back into the `HEAD` request: the
    route (its template) and the path parameters, for the metrics and the access line, which
    keep saying HEAD."""
    head.update({key: value for key, value in get.items() if key != "method"})


def takes_json_body(route: object) -> bool:
    """Whether FastAPI reads the route's body as JSON: a body parameter that is not a form or a
    file. Routes that read the raw request (uploads) have no body field and are not JSON routes.
    `route` is a route or a `fastapi.routing.RouteContext` (a route of an included router)."""
    body_field = getattr(route, "body_field", None)
    return body_field is not None and not isinstance(body_field.field_info, params.Form)


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def _declares_body(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether the raw headers announce a body: most requests (a GET) have none, and are let
    through without building a dictionary of their headers. A plain loop: `any()` over a
    generator costs more than the dictionary it spares (~350 ns against ~250 for seven
    headers; the loop ~220, CPU time, docs/adr/0116)."""
    for key, value in headers:
        if key == b"transfer-encoding" or (key == b"content-length" and value != b"0"):
            return True
    return False


_UNSUPPORTED: Final = Problem(
    UNSUPPORTED_MEDIA_TYPE,
    "unsupported_media_type",
    "Unsupported media type",
    "This operation reads a JSON body: send it as application/json.",
)


class JsonBodiesOnly:
    """Refuses, with 415 `unsupported_media_type`, a body sent to a route that reads JSON in
    anything but JSON, or without saying what it is (FastAPI reads a body as JSON only when its
    `Content-Type` says so). A request without a body passes: the route says what it misses.
    A check the service frame makes (`bilet.http.frame`), not a middleware of its own."""

    def __init__(self, routes: FastAPI) -> None:
        self.routes = routes

    def _route_takes_json(self, scope: Scope) -> bool:
        for route in iter_route_contexts(self.routes.router.routes):
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return takes_json_body(route)
        return False

    def refusal(self, scope: Scope) -> Response | None:
        """The 415 for this request, None when it may pass."""
        raw = scope.get("headers", ())
        if not _declares_body(raw):
            return None
        content_type = dict(raw).get(b"content-type", b"").decode("latin-1")
        if not _is_json(content_type) and self._route_takes_json(scope):
            return problem_response(_UNSUPPORTED)
        return None


def _with_unsupported_media_type(spec: dict[str, Any]) -> dict[str, Any]:
    for item in spec.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            body_types = operation.get("requestBody", {}).get("content", {})
            responses = operation.setdefault("responses", {})
            if "application/json" not in body_types or str(UNSUPPORTED_MEDIA_TYPE) in responses:
                continue
            # The same problem document as the route's other refusals (every route lists 422).
            like = responses.get("422", {}).get("content", {}).get(PROBLEM_JSON)
            schema = (like or {}).get("schema", {"$ref": "#/components/schemas/ProblemDocument"})
            responses[str(UNSUPPORTED_MEDIA_TYPE)] = {
                "description": "A problem (application/problem+json) with the stable code "
                "`unsupported_media_type`: the body was not sent as application/json.",
                "content": {PROBLEM_JSON: {"schema": schema}},
            }
            operation["responses"] = dict(sorted(responses.items()))
    return spec


def declare_unsupported_media_type(app: FastAPI) -> None:
    """Lists 415 in the OpenAPI `responses` of every operation that takes a JSON body: in the
    document FastAPI generates, so routes added to the app later are covered too."""
    amend_openapi(app, _with_unsupported_media_type)


def cors_origins_from(setting: str) -> list[str]:
    """The exact origins a comma-separated `BVB_CORS_ORIGINS` names. A wildcard is refused:
    the API takes bearer tokens, and a page of any origin must not be let to read answers."""
    origins = [origin.strip().rstrip("/") for origin in setting.split(",") if origin.strip()]
    for origin in origins:
        scheme, separator, host = origin.partition("://")
        if "*" in origin or not separator or scheme not in ("http", "https") or not host:
            raise ValueError(
                f"BVB_CORS_ORIGINS names exact origins (https://host[:port]): {origin!r}"
            )
        if "/" in host:
            raise ValueError(f"BVB_CORS_ORIGINS names origins without a path: {origin!r}")
    return origins


# What a page of another origin may send beyond CORS's safe list, and read of an answer: every
# header the services take or give (read-your-writes' `BVB-Position` both ways, the
# conditional reads' `If-None-Match` and writes' `If-Match`, an event stream's
# `Last-Event-ID`, a trace's `traceparent`; `Retry-After` of a 409, 429 or 503).
CORS_REQUEST_HEADERS: Final = [
    "Authorization",
    "BVB-Position",
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "Last-Event-ID",
    "traceparent",
    "X-Correlation-Id",
]
CORS_RESPONSE_HEADERS: Final = [
    "BVB-Position",
    "ETag",
    "Location",
    "Retry-After",
    "X-Correlation-Id",
]


def with_cors(app: ASGIApp, origins: list[str]) -> ASGIApp:
    """`app` behind CORS for the exact `origins` (none: `app` itself, no CORS header at all, so
    browsers keep other origins' pages out). Credentials are allowed, which is why a wildcard
    never is."""
    if not origins:
        return app
    return CORSMiddleware(
        app,
        allow_origins=origins,
        allow_credentials=True,
        allow_methods=["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"],
        allow_headers=CORS_REQUEST_HEADERS,
        expose_headers=CORS_RESPONSE_HEADERS,
        max_age=600,
    )


def _accepts_gzip(scope: Scope) -> bool:
    # As Starlette reads it: the first `Accept-Encoding` header names gzip.
    for key, value in scope.get("headers", ()):
        if key == b"accept-encoding":
            return b"gzip" in value
    return False


class Gzip(GZipMiddleware):
    """Starlette's gzip middleware, with a lean path for what it does not compress: Starlette
    builds a responder and parses the answer's headers on every request (~10 µs, docs/adr/0086,
    0116), though most answers pass unchanged — to a client that does not accept gzip (a
    gateway's polling, most API clients), and, to one that does, an answer under
    `minimum_size` (a 304, a save's answer). The answer is the same: the body as the route sent
    it, with `Vary: Accept-Encoding` added where Starlette adds it — an answer it would have
    compressed for a client that accepts gzip (its first body of `minimum_size` bytes or more,
    or a stream), unless already encoded, partial (206) or of an excluded type. Such an answer
    to a client that accepts gzip is handed to Starlette's own responder, from its start."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        gzip = _accepts_gzip(scope)
        start: Message | None = None  # held until the first body says whether it varies
        as_is = False  # the answer passes untouched (encoded, partial, excluded)
        started = False
        compressing: GZipResponder | None = None  # Starlette's, for an answer it compresses

        async def lean(message: Message) -> None:
            nonlocal start, as_is, started, compressing
            if compressing is not None:
                await compressing.send_with_compression(message)
                return
            kind = message["type"]
            if kind == "http.response.start":
                as_is = self._untouched(message) or message["status"] == 206
                if as_is:
                    await send(message)
                else:
                    start = message
            elif as_is or kind in ("http.response.early_hint", "http.response.trailers"):
                await send(message)
            elif kind == "http.response.body" and not started:
                started = True
                assert start is not None
                more = message.get("more_body", False)
                if len(message.get("body", b"")) < self.minimum_size and not more:
                    pass  # too small to compress: as it is, to either client
                elif gzip:
                    compressing = GZipResponder(
                        self.app,
                        self.minimum_size,
                        compresslevel=self.compresslevel,
                        thread_minimum_size=self.thread_minimum_size,
                        exclude_content_types=self.exclude_content_types,
                    )
                    compressing.send = send
                    await compressing.send_with_compression(start)
                    await compressing.send_with_compression(message)
                    return
                else:
                    MutableHeaders(raw=start["headers"]).add_vary_header("Accept-Encoding")
                await send(start)
                await send(message)
            elif kind == "http.response.body":
                await send(message)
            elif kind == "http.response.pathsend":
                assert start is not None
                await send(start)
                await send(message)

        await self.app(scope, receive, lean)

    def _untouched(self, start: Message) -> bool:
        """Whether the answer is already encoded or of an excluded type (Starlette's rules)."""
        content_type = ""
        for key, value in start.setdefault("headers", []):
            if key == b"content-encoding":
                return True
            if key == b"content-type" and not content_type:
                content_type = value.decode("latin-1")
        media_type = content_type.partition(";")[0].strip().lower()
        media_types = {media_type, media_type.partition("/")[0] + "/*"}
        if media_type.startswith("application/grpc+"):
            media_types.add("application/grpc")
        return not media_types.isdisjoint(self.exclude_content_types)


def add_gzip(app: FastAPI) -> None:
    """Gzip for answers of `GZIP_MINIMUM_BYTES` and more when the client accepts it; never for an
    event stream, which would be held back until a compressed block fills."""
    app.add_middleware(
        Gzip,
        minimum_size=GZIP_MINIMUM_BYTES,
        exclude_content_types=("text/event-stream",),
    )
