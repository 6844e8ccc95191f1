"""Hot routes called without FastAPI's dependency solving, answering exactly as with it.

For every request FastAPI's handler solves the route's dependency tree generically: the cache
keys of each dependency, the security scopes, the parameters of every level validated through
pydantic. For a route that takes only UUID (or plain string) path parameters, the `Request` and
request-only dependencies (the bearer principal or the request context: `BearerPrincipal`s) that
machinery cost more than the portfolio's own work for a 304 (docs/adr/0098). A `DirectRoute` is
such a route with a second handler that calls the dependencies and the endpoint itself.

It answers exactly what FastAPI's handler answers, in the same order, because it only takes the
cases whose outcome it can know without FastAPI and hands every other request to FastAPI's own
handler, unchanged:
- a path parameter of a UUID in canonical form (lower-case hexadecimal, hyphens at the canonical
  places: what pydantic and `uuid.UUID` read alike) or a plain string; any other value (upper
  case, no hyphens, braces, not a UUID at all) goes to FastAPI, which reads it or answers 422;
- the dependencies are called in FastAPI's order (before the path is validated: a request with
  neither a token nor a valid path is a 401 both ways), and their refusals raise as before;
- `app.dependency_overrides` set (tests) → FastAPI's handler, which applies them;
- the endpoint must answer with a `Response` (FastAPI would serialise anything else through the
  response model): anything else is a programming error, raised.

A route whose declaration has anything else (a query, header, cookie or body parameter, another
kind of dependency, a constrained path parameter, a `Response` or background-task parameter) is a
plain `APIRoute`: `DirectRoute.direct` says whether the shortcut was taken. The OpenAPI document
is FastAPI's (built from the same declaration).
"""

import inspect
import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Final
from uuid import UUID

import fastapi.routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from bilet.http.auth import BearerPrincipal

# The canonical text of a UUID: pydantic and `uuid.UUID` read it as the same value.
_CANONICAL_UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
# A path parameter's reader: the value, or None when FastAPI must judge the text.
_Reader = Callable[[str], object | None]


def _uuid(text: str) -> UUID | None:
    return UUID(text) if _CANONICAL_UUID.fullmatch(text) else None


def _text(text: str) -> str:
    return text


def _reader_of(annotation: object) -> _Reader | None:
    if annotation is UUID:
        return _uuid
    if annotation is str:
        return _text
    return None


class _Shape:
    """What a direct call needs of a route's declaration: the path parameters (alias, name,
    reader), the request's parameter name, the dependencies (name, call) in FastAPI's order."""

    def __init__(
        self,
        path: list[tuple[str, str, _Reader]],
        request_name: str | None,
        dependencies: list[tuple[str, Callable[[Request], Awaitable[object]]]],
        call: Callable[..., Awaitable[object]],
    ) -> None:
        self.path = path
        self.request_name = request_name
        self.dependencies = dependencies
        self.call = call


def _request_only(dependency: Dependant) -> bool:
    """A `BearerPrincipal` (its `__call__` takes the request alone), nothing under it."""
    return (
        isinstance(dependency.call, BearerPrincipal)
        and dependency.name is not None
        and dependency.request_param_name is not None
        and not dependency.dependencies
        and not (
            dependency.path_params
            or dependency.query_params
            or dependency.header_params
            or dependency.cookie_params
            or dependency.body_params
        )
        and dependency.websocket_param_name is None
        and dependency.http_connection_param_name is None
        and dependency.response_param_name is None
        and dependency.background_tasks_param_name is None
        and dependency.security_scopes_param_name is None
    )


def shape_of(dependant: Dependant) -> _Shape | None:
    """How to call the route directly, or None when FastAPI must handle it."""
    call = dependant.call
    if call is None or not inspect.iscoroutinefunction(call):
        return None
    if (
        dependant.query_params
        or dependant.header_params
        or dependant.cookie_params
        or dependant.body_params
        or dependant.websocket_param_name is not None
        or dependant.http_connection_param_name is not None
        or dependant.response_param_name is not None
        or dependant.background_tasks_param_name is not None
        or dependant.security_scopes_param_name is not None
    ):
        return None
    path: list[tuple[str, str, _Reader]] = []
    for field in dependant.path_params:
        info = field.field_info
        reader = _reader_of(info.annotation)
        if reader is None or info.metadata:
            return None
        path.append((field.alias, field.name, reader))
    if not all(_request_only(dependency) for dependency in dependant.dependencies):
        return None
    dependencies: list[tuple[str, Callable[[Request], Awaitable[object]]]] = [
        (str(dependency.name), dependency.call)  # type: ignore[misc]
        for dependency in dependant.dependencies
    ]
    return _Shape(path, dependant.request_param_name, dependencies, call)


def _effective(route: APIRoute) -> Any | None:
    """What FastAPI's own handler is built from (its dependant, its overrides' provider): an
    included router's context (its dependencies added) while one is being built, else the
    route itself. None when this FastAPI does not say (its private name changed): then the
    route is not called directly, lest an including router's dependency be left out."""
    context_var = getattr(fastapi.routing, "_effective_route_context_var", None)
    if context_var is None:
        return None
    context = context_var.get()
    if context is not None and getattr(context, "original_route", None) is route:
        return context
    return route


class DirectRoute(APIRoute):
    """An `APIRoute` that calls its endpoint directly when its declaration allows (see the
    module); `direct`: whether its last built handler does."""

    direct: bool = False

    def get_route_handler(self) -> Handler:
        fastapi_handler = super().get_route_handler()
        effective = _effective(self)
        shape = None if effective is None else shape_of(effective.dependant)
        self.direct = shape is not None
        if effective is None or shape is None:
            return fastapi_handler
        overrides = effective.dependency_overrides_provider

        async def handler(request: Request) -> Response:
            if overrides is not None and getattr(overrides, "dependency_overrides", None):
                return await fastapi_handler(request)
            values: dict[str, object] = {}
            # The path first: a text only FastAPI can judge goes to it before anything is
            # called. FastAPI solves the dependencies before it validates the path, so with a
            # path both read alike the outcome is the same in either order.
            path_params = request.path_params
            for alias, name, read in shape.path:
                value = read(path_params[alias])
                if value is None:
                    return await fastapi_handler(request)
                values[name] = value
            for dependency_name, dependency in shape.dependencies:
                values[dependency_name] = await dependency(request)
            if shape.request_name is not None:
                values[shape.request_name] = request
            response = await shape.call(**values)
            if not isinstance(response, Response):
                raise TypeError(f"the direct route {self.path} must answer with a Response")
            return response

        return handler
