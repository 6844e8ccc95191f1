"""Read-your-writes tokens: a command answers with where its effect was recorded; a read that
carries the token back waits (bounded) until its read model has applied that effect.

The token is opaque to clients: `<service>:<position>[:<stream id>]`, sent by commands in the
`BVB-Position` response header and accepted by reads in the `BVB-Position` request header
(several tokens separated by commas, e.g. after commands to two services). The stream id makes
the wait exact on every feed (docs/adr/0008, decision 5).
"""

import re
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Final, Protocol

from fastapi import Header
from starlette.responses import Response

from bilet.http.headers import HeaderParameter
from bilet.http.problems import Problem

POSITION_HEADER: Final = "BVB-Position"
MAX_TOKENS: Final = 8
POSITION_HEADER_MAX_LENGTH: Final = 2000
# How long a read waits, in all, for the commands its `BVB-Position` names.
WAIT_SECONDS: Final = 2.0
# How soon a client may ask again after `not_yet_visible`.
RETRY_AFTER_SECONDS: Final = 1
_TOKEN: Final = re.compile(
    r"^(?P<source>[a-z][a-z0-9_]{0,40}):(?P<position>[0-9]{1,18})"
    r"(?::(?P<stream>[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}))?$"
)


def position_header_pattern(sources: Collection[str]) -> str:
    """The header's form in the OpenAPI document: one to `MAX_TOKENS` tokens, comma-separated,
    each of one of the `sources` the read follows."""
    token = (
        f"(?:{'|'.join(sorted(sources))}):[0-9]{{1,18}}(?::[A-Za-z0-9][A-Za-z0-9_.\\-]{{0,199}})?"
    )
    # Blank is no token at all (a client that has none may still send the header).
    return f"^(?:{token}(?:, ?{token}){{0,{MAX_TOKENS - 1}}})?$"


def position_header(description: str, sources: Collection[str]) -> Any:
    """The `BVB-Position` request header of a read, as a FastAPI parameter: optional, its form
    stated in the document. A value not of that form is 400 `invalid_position_token` (not
    FastAPI's 422: it is the token that is wrong, and the code says so), so the pattern is
    stated, not validated by FastAPI. `description` says whose commands the read waits for."""
    return Header(
        alias=POSITION_HEADER,
        description=description,
        max_length=POSITION_HEADER_MAX_LENGTH,
        json_schema_extra={"pattern": position_header_pattern(sources)},
    )


def position_parameter(description: str, sources: Collection[str]) -> HeaderParameter:
    """The same header for a route that reads it itself (`bilet.http.headers`: the document says
    the same, an over-long value is the same 422; FastAPI's resolution of it is saved)."""
    return HeaderParameter(
        POSITION_HEADER,
        max_length=POSITION_HEADER_MAX_LENGTH,
        description=description,
        pattern=position_header_pattern(sources),
    )


@dataclass(frozen=True, slots=True)
class PositionToken:
    source: str
    position: int
    stream_id: str | None = None

    def encode(self) -> str:
        base = f"{self.source}:{self.position}"
        return base if self.stream_id is None else f"{base}:{self.stream_id}"


def positions_value(*tokens: PositionToken) -> str:
    """The `BVB-Position` header's value for these tokens (empty when there are none)."""
    return ", ".join(token.encode() for token in tokens)


def send_positions(response: Response, *tokens: PositionToken) -> None:
    """Put the tokens in an answer's `BVB-Position` header (nothing when there are none)."""
    if tokens:
        response.headers[POSITION_HEADER] = positions_value(*tokens)


def invalid_token(detail: str) -> Problem:
    return Problem(400, "invalid_position_token", "Invalid position token", detail)


def parse_position_tokens(header: str | None) -> list[PositionToken]:
    """The tokens of a `BVB-Position` request header (none when absent or blank)."""
    if header is None or not header.strip():
        return []
    parts = [part.strip() for part in header.split(",")]
    if len(parts) > MAX_TOKENS:
        raise invalid_token(f"At most {MAX_TOKENS} position tokens in one request.")
    tokens = []
    for part in parts:
        match = _TOKEN.match(part)
        if match is None:
            raise invalid_token(
                "A position token is the BVB-Position value a command returned, "
                "`<service>:<position>[:<stream id>]`."
            )
        tokens.append(PositionToken(match["source"], int(match["position"]), match["stream"]))
    return tokens


def not_yet_visible(reader: str, token: str, waited: float) -> Problem:
    """A command the caller named (`BVB-Position`) is not applied by `reader` yet (409 with
    `Retry-After`)."""
    problem = Problem(
        409,
        "not_yet_visible",
        "Not yet visible",
        f"The {reader} had not applied {token} after {waited:g} s; ask again shortly.",
        token=token,
    )
    problem.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return problem


class PositionWaiter(Protocol):
    async def wait_for(
        self, source: str, position: int, timeout: float, stream_id: str | None = None
    ) -> bool:
        """True once `source`'s events up to `position` are applied; False when `timeout`
        seconds passed first."""
        ...


class ReadYourWrites:
    """The wait of a read that carries `BVB-Position` tokens, for one read model (`reader`
    names it in refusals) following `sources`."""

    def __init__(
        self,
        reader: str,
        waiter: PositionWaiter,
        sources: Collection[str],
        wait_seconds: float = WAIT_SECONDS,
    ) -> None:
        self.reader = reader
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
                    f"The {self.reader} follows {', '.join(self.sources)}, not {token.source!r}."
                )
        deadline = time.monotonic() + self.wait_seconds
        for token in tokens:
            remaining = max(0.0, deadline - time.monotonic())
            if not await self.waiter.wait_for(
                token.source, token.position, remaining, token.stream_id
            ):
                raise not_yet_visible(self.reader, token.encode(), self.wait_seconds)
