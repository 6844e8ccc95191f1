"""The request context of a route: who asks (the bearer token's principal), the request's
correlation id and, where a use case waits for other services' writes, its position tokens.

`Context` is the dependency of routes that do not read `BVB-Position` themselves;
`ContextWithPositions` also carries the tokens the request named (a malformed one is a 400
`invalid_position_token`)."""

from typing import Annotated, Final

from fastapi import Depends, Request

from bilet.application.context import RequestContext
from bilet.http.auth import BearerPrincipal, current_principal
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


class BearerContext(BearerPrincipal):
    """The request's context as one dependency: the bearer token's principal (the same security
    scheme as `CurrentPrincipal`, so the OpenAPI document is unchanged), the correlation id and,
    `with_positions`, the `BVB-Position` tokens. One layer where a context built on a principal
    dependency was two: FastAPI's resolution of a layer costs more than what most of them
    resolve (docs/adr/0073). A coroutine, so that FastAPI resolves it on the event loop."""

    def __init__(self, *, with_positions: bool) -> None:
        super().__init__(
            auto_error=False,
            scheme_name=current_principal.scheme_name,
            description=current_principal.model.description,
        )
        self.with_positions = with_positions

    async def __call__(self, request: Request) -> RequestContext:  # type: ignore[override]
        principal = await self.principal_of(request)
        if not self.with_positions:
            return RequestContext(principal, correlation_id(request))
        tokens = parse_position_tokens(request.headers.get(POSITION_HEADER))
        return RequestContext(principal, correlation_id(request), tuple(tokens))


request_context: Final = BearerContext(with_positions=False)
request_context_with_positions: Final = BearerContext(with_positions=True)

Context = Annotated[RequestContext, Depends(request_context)]
ContextWithPositions = Annotated[RequestContext, Depends(request_context_with_positions)]
