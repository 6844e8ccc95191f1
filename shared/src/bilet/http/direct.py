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
- `app.dependency_overrides` set (tests) → FastAPI's handler, which applies them; so does a
  request under FastAPI's OpenTelemetry (its spans and request data are FastAPI's to give);
- the endpoint is declared to return a `Response` (FastAPI would serialise anything else through
  the response model), and one that returns anything else anyway is a programming error, raised.

The declaration judged is the one FastAPI's own handler was built from (read from its closure:
an including router's dependencies are in it). A route whose declaration has anything else (a
query, header, cookie or body parameter, another kind of dependency or a limit on one, a
constrained path parameter, a `Response` or background-task parameter, a field of FastAPI's
`Dependant` this module does not know), or whose handler does not hold its declaration where
this FastAPI keeps it, is a plain `APIRoute`: `DirectRoute.direct` says whether the shortcut was
taken. The OpenAPI document is FastAPI's (built from the same declaration).
"""

import dataclasses
import inspect
import re
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Final, NamedTuple
from uuid import UUID

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.telemetry import get_telemetry_data
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

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


class _Shape(NamedTuple):
    """What a direct call needs of a route's declaration: the path parameters (alias, name,
    reader), the request's parameter name, the dependencies (name, call) in FastAPI's order."""

    path: list[tuple[str, str, _Reader]]
    request_name: str | None
    dependencies: list[tuple[str, Callable[[Request], Awaitable[object]]]]
    call: Callable[..., Awaitable[object]]


# What a direct call reads of a declaration (FastAPI's `Dependant`): every other field must be at
# its default, so a field FastAPI adds one day (or one this module does not know the meaning of:
# a dependency's `concurrency` limit, OAuth scopes) makes the route FastAPI's.
_ROUTE_FIELDS: Final = frozenset(
    {"path_params", "dependencies", "name", "call", "request_param_name"}
    | {"path", "use_cache", "scope"}
)
_DEPENDENCY_FIELDS: Final = frozenset(
    {"name", "call", "request_param_name", "path", "use_cache", "scope"}
)


def _others_at_default(dependant: Dependant, read: frozenset[str]) -> bool:
    for field in dataclasses.fields(Dependant):
        if field.name in read:
            continue
        value = getattr(dependant, field.name)
        # Empty counts as unset (FastAPI gives a dependency `[]` OAuth scopes where the route
        # has None; a factory's list is empty by default).
        empty = isinstance(value, (list, tuple, dict, set, frozenset)) and not value
        if not empty and value != field.default:
            return False
    return True


def _request_only(dependency: Dependant) -> bool:
    """A `BearerPrincipal` (its `__call__` a coroutine taking the request alone), nothing under
    it, nothing else declared."""
    call = dependency.call
    return (
        isinstance(call, BearerPrincipal)
        and inspect.iscoroutinefunction(type(call).__call__)
        and dependency.name is not None
        and dependency.request_param_name is not None
        and not dependency.dependencies
        and _others_at_default(dependency, _DEPENDENCY_FIELDS)
    )


def _answers_a_response(call: Callable[..., object]) -> bool:
    """Declared to return a `Response`: a direct route sends what its endpoint returns, so an
    endpoint that may return a model (FastAPI would serialise it) is left to FastAPI."""
    returns = inspect.signature(call, eval_str=True).return_annotation
    return isinstance(returns, type) and issubclass(returns, Response)


def shape_of(dependant: Dependant) -> _Shape | None:
    """How to call the route directly, or None when FastAPI must handle it."""
    call = dependant.call
    if (
        call is None
        or not inspect.iscoroutinefunction(call)
        or not _answers_a_response(call)
        or not _others_at_default(dependant, _ROUTE_FIELDS)
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


def _built_from(handler: Handler) -> tuple[Dependant, object] | None:
    """The declaration FastAPI's own handler was built from (its dependant, with an including
    router's dependencies added) and its overrides' provider, read from the handler's closure:
    what FastAPI will run, however it found it. None when this FastAPI's handler does not hold
    them under those names: then the route is not called directly."""
    cells = handler.__closure__ or ()
    try:
        contents = [cell.cell_contents for cell in cells]
        held = dict(zip(handler.__code__.co_freevars, contents, strict=True))
    except ValueError:  # an empty cell, or not one cell per name
        return None
    dependant = held.get("dependant")
    if not isinstance(dependant, Dependant) or "dependency_overrides_provider" not in held:
        return None
    return dependant, held["dependency_overrides_provider"]


class DirectRoute(APIRoute):
    """An `APIRoute` that calls its endpoint directly when its declaration allows (see the
    module); `direct`: whether its last built handler does."""

    direct: bool = False

    def get_route_handler(self) -> Handler:
        fastapi_handler = super().get_route_handler()
        built_from = _built_from(fastapi_handler)
        shape = None if built_from is None else shape_of(built_from[0])
        self.direct = shape is not None
        if built_from is None or shape is None:
            return fastapi_handler
        overrides = built_from[1]

        async def handler(request: Request) -> Response:
            if (
                overrides is not None and getattr(overrides, "dependency_overrides", None)
            ) or get_telemetry_data() is not None:
                # Overrides (tests) are FastAPI's to apply; with OpenTelemetry on, FastAPI's
                # handler gives its spans (dependencies, endpoint) and the request's data.
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


def direct_routes(app: Starlette) -> dict[str, bool]:
    """Each `DirectRoute` of the app (its path in its router) and whether it is called directly:
    what a test pins, so that a declaration that stops qualifying is seen, not only slower."""
    found: dict[str, bool] = {}

    def walk(routes: Sequence[BaseRoute]) -> None:
        for route in routes:
            if isinstance(route, DirectRoute):
                found[route.path] = route.direct
            included = getattr(route, "original_router", None)
            if included is not None:
                walk(included.routes)

    walk(app.router.routes)
    return found
