"""An ASGI guard in front of every service: request size limits and hostile text.

What it refuses never reaches a handler, so no handler has to remember: bodies over the limit
(413 `payload_too_large`), NUL bytes and other C0 or C1 control characters, line separators,
bidirectional overrides and isolates, invisible format characters or unpaired surrogates in the
path, the query or a JSON body (400 `invalid_text`). Text like that breaks logs, databases and
exports far from where it came in, or reads otherwise than it is stored, so it is refused at the
door. A body that arrives too slowly (`bilet.http.deadlines.BodyDeadline`) is 408
`request_timeout`, and its connection closed.
"""

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any, Final
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bilet.http.deadlines import BodyDeadline
from bilet.http.problems import PROBLEM_JSON, Problem, problem_body

DEFAULT_MAX_BODY: Final = 1 << 20  # 1 MiB; upload routes set their own, larger limits
# What no free text needs and what makes text read otherwise than it is stored:
_HOSTILE_BMP: Final = (
    r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"  # C0 controls but tab, LF and CR; DEL
    r"\x80-\x9f"  # C1 controls (NEL, CSI: terminal escapes)
    r"\u2028\u2029"  # line and paragraph separators (JavaScript, CSV and logs split on them)
    r"\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"  # bidi marks, embeddings, isolates
    r"\u200b\u2060-\u2064\ufeff"  # zero-width space, word joiner, invisible operators, BOM
    r"\u206a-\u206f\ufff9-\ufffb"  # deprecated format characters, interlinear annotation
)
_HOSTILE: Final = re.compile(
    "["
    + _HOSTILE_BMP
    + r"\U000e0000-\U000e007f"  # tag characters: invisible ASCII smuggled in text
    + r"\ud800-\udfff"  # unpaired UTF-16 surrogates
    + "]"
)
# The OpenAPI `pattern` of free text (`bilet.http.document`): the same characters. The tag
# characters are a range of the characters themselves (JSON carries them as surrogate pairs; a
# validator reads them with Unicode on, as ajv does by default): `\U…` escapes are Python's only.
# Lone surrogates are left out: no JSON text validator can hold one.
FREE_TEXT_PATTERN: Final = "^[^" + _HOSTILE_BMP + "\U000e0000-\U000e007f]*$"
# Zero-width joiner and non-joiner (U+200C, U+200D) pass: emoji sequences and the spelling of
# some scripts need them, and names, where they could hide, admit letters only.


class _Refused(Exception):
    def __init__(
        self, status: int, code: str, title: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(code)
        self.status, self.code, self.title, self.detail = status, code, title, detail
        self.headers = headers or {}


# Checks a request's bearer token from its `Authorization` header value (None: absent); raises a
# Problem (401, or 503 when the signing keys cannot be had) when it does not verify.
Authenticate = Callable[[str | None], Awaitable[object]]


def has_hostile_text(value: Any) -> bool:
    """True when a decoded JSON value holds a string with a character we refuse."""
    if isinstance(value, str):
        return _HOSTILE.search(value) is not None
    if isinstance(value, dict):
        return any(has_hostile_text(k) or has_hostile_text(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_hostile_text(v) for v in value)
    return False


class RequestGuard:
    def __init__(
        self,
        app: ASGIApp,
        max_body: int = DEFAULT_MAX_BODY,
        body_limits: dict[str, int] | None = None,
        authenticate: Authenticate | None = None,
        body_deadline: BodyDeadline | None = None,
    ) -> None:
        self.app = app
        self.body_deadline = body_deadline or BodyDeadline()
        # Upload routes verify the caller before reading a body larger than the default: an
        # anonymous client must not make the service buffer megabytes.
        self.authenticate = authenticate
        self.max_body = max_body
        # Exact path → limit, for the few routes that take uploads; the routes under them (an
        # upload's /verify, /withdraw) keep the default, so a large limit is never inherited.
        self.body_limits = {path.rstrip("/"): limit for path, limit in (body_limits or {}).items()}

    def _limit_for(self, path: str) -> int:
        return self.body_limits.get(path.rstrip("/"), self.max_body)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            self._check_target(scope)
            limit = self._limit_for(scope["path"])
            headers = dict(scope.get("headers", []))
            if limit > self.max_body and self.authenticate is not None:
                await self._authenticate(headers.get(b"authorization"))
            declared = headers.get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise _too_large(limit)
            if _bodiless(scope, headers):
                # Nothing to read, to measure or to check: the application reads the (empty)
                # request from the server itself.
                await self.app(scope, receive, send)
                return
            body = await self._read_body(receive, limit)
            self._check_json(headers, body)
        except _Refused as refused:
            await _send_problem(send, refused)
            return

        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _authenticate(self, header: bytes | None) -> None:
        assert self.authenticate is not None
        try:
            await self.authenticate(None if header is None else header.decode("latin-1"))
        except Problem as problem:
            raise _Refused(
                problem.status, problem.code, problem.title, problem.detail or "", problem.headers
            ) from None

    @staticmethod
    def _check_target(scope: Scope) -> None:
        raw_path = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
        target = (
            unquote_to_bytes(raw_path) + b"?" + unquote_to_bytes(scope.get("query_string", b""))
        )
        try:
            text = target.decode("utf-8")
        except UnicodeDecodeError:
            raise _Refused(400, "invalid_text", "Invalid text", "The URL is not UTF-8.") from None
        if _HOSTILE.search(text):
            raise _Refused(400, "invalid_text", "Invalid text", "The URL holds control characters.")

    async def _read_body(self, receive: Receive, limit: int) -> bytes:
        chunks: list[bytes] = []
        size = 0
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            try:
                async with asyncio.timeout_at(self.body_deadline.until(started, size)):
                    message = await receive()
            except TimeoutError:
                raise _Refused(
                    408,
                    "request_timeout",
                    "Request timeout",
                    "The request's body did not arrive in time.",
                    # The rest of the body would be read as the next request: close instead.
                    {"Connection": "close"},
                ) from None
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    @staticmethod
    def _check_json(headers: dict[bytes, bytes], body: bytes) -> None:
        content_type = headers.get(b"content-type", b"")
        if not body or b"json" not in content_type:
            return
        if json_holds_hostile_text(body):
            raise _Refused(
                400,
                "invalid_text",
                "Invalid text",
                "The body holds control, direction or invisible format characters.",
            )


def json_holds_hostile_text(body: bytes) -> bool:
    """Whether a JSON body holds a string with a character we refuse; False for a body that is
    not JSON (malformed: the application answers 422 with where it broke).

    Most bodies (an answer's option, a form's fields) hold no escape: then each string in the
    document is a piece of the body's text as it is, so a text with no hostile character
    anywhere has none in any string, and one scan of it answers without parsing (~1 µs against
    ~3 for a save's body, docs/adr/0116). A body with an escape (`\\u…`), with a hostile
    character anywhere (in a string or not, JSON or not) or not UTF-8 (another encoding
    `json.loads` reads) is parsed and its strings checked."""
    if b"\\" not in body:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            if _HOSTILE.search(text) is None:
                return False
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return False
    return has_hostile_text(document)


def _bodiless(scope: Scope, headers: dict[bytes, bytes]) -> bool:
    """Whether the request has no body by its framing: HTTP/1 without `Transfer-Encoding` and
    with no or a zero `Content-Length` (RFC 9112, 6.3; the server reads exactly that). HTTP/2 and
    later frame bodies without these headers, so their bodies are always read."""
    return (
        scope.get("http_version", "1.1") in ("1.0", "1.1")
        and b"transfer-encoding" not in headers
        and headers.get(b"content-length", b"0") == b"0"
    )


def _too_large(limit: int) -> _Refused:
    return _Refused(
        413, "payload_too_large", "Payload too large", f"The body exceeds {limit} bytes."
    )


async def _send_problem(send: Send, refused: _Refused) -> None:
    payload = json.dumps(
        problem_body(refused.status, refused.code, refused.title, refused.detail)
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": refused.status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(payload)).encode()),
                *((k.lower().encode(), v.encode()) for k, v in refused.headers.items()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
