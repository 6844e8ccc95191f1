"""Read-your-writes tokens: a command answers with where its effect was recorded; a read that
carries the token back waits (bounded) until its read model has applied that effect.

The token is opaque to clients: `<service>:<position>[:<stream id>]`, sent by commands in the
`BVB-Position` response header and accepted by reads in the `BVB-Position` request header
(several tokens separated by commas, e.g. after commands to two services). The stream id makes
the wait exact on every feed (docs/adr/0008, decision 5).
"""

import re
from dataclasses import dataclass
from typing import Final

from starlette.responses import Response

from bilet.http.problems import Problem

POSITION_HEADER: Final = "BVB-Position"
MAX_TOKENS: Final = 8
_TOKEN: Final = re.compile(
    r"^(?P<source>[a-z][a-z0-9_]{0,40}):(?P<position>[0-9]{1,19})"
    r"(?::(?P<stream>[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}))?$"
)


@dataclass(frozen=True, slots=True)
class PositionToken:
    source: str
    position: int
    stream_id: str | None = None

    def encode(self) -> str:
        base = f"{self.source}:{self.position}"
        return base if self.stream_id is None else f"{base}:{self.stream_id}"


def send_positions(response: Response, *tokens: PositionToken) -> None:
    """Put the tokens in an answer's `BVB-Position` header (nothing when there are none)."""
    if tokens:
        response.headers[POSITION_HEADER] = ", ".join(token.encode() for token in tokens)


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
        if match is None or int(match["position"]) >= 1 << 63:
            raise invalid_token(
                "A position token is the BVB-Position value a command returned, "
                "`<service>:<position>[:<stream id>]`."
            )
        tokens.append(PositionToken(match["source"], int(match["position"]), match["stream"]))
    return tokens
