"""The request context of a route: who asks (the bearer token's principal), the request's
correlation id and, where a use case waits for other services' writes, its position tokens.

`Context` is the dependency of routes that do not read `BVB-Position` themselves;
`ContextWithPositions` also carries the tokens the request named (a malformed one is a 400
`invalid_position_token`)."""

from typing import Annotated

from fastapi import Depends, Request

from bilet.application.context import RequestContext
from bilet.http.auth import CurrentPrincipal
from bilet.http.consistency import POSITION_HEADER, parse_position_tokens
from bilet.http.correlation import CORRELATION_HEADER, correlation_id_of

__all__ = [
    "CORRELATION_HEADER",
    "Context",
    "ContextWithPositions",
    "correlation_id",
    "correlation_id_of",
    "request_context",
    "request_context_with_positions",
]


def correlation_id(request: Request) -> str:
    """The request's correlation id: the one its log lines carry (`bilet.http.telemetry` chose
    it), else the caller's `X-Correlation-Id` when it is a plain token, else a new one."""
    chosen = getattr(request.state, "correlation_id", None)
    if isinstance(chosen, str):
        return chosen
    return correlation_id_of(request.headers.get(CORRELATION_HEADER))


# Coroutines, so that FastAPI resolves them on the event loop: a plain function dependency is
# handed to a worker thread and back with every request.
async def request_context(request: Request, principal: CurrentPrincipal) -> RequestContext:
    return RequestContext(principal, correlation_id(request))


async def request_context_with_positions(
    request: Request, principal: CurrentPrincipal
) -> RequestContext:
    tokens = parse_position_tokens(request.headers.get(POSITION_HEADER))
    return RequestContext(principal, correlation_id(request), tuple(tokens))


Context = Annotated[RequestContext, Depends(request_context)]
ContextWithPositions = Annotated[RequestContext, Depends(request_context_with_positions)]
