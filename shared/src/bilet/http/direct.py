"""Hot routes called without FastAPI's dependency solving, answering exactly as with it.

For every request FastAPI's handler solves the route's dependency tree generically: the cache
keys of each dependency, the security scopes, the parameters of every level validated through
pydantic. For a route that takes only UUID or string path parameters, the `Request`, request-only
dependencies (the bearer principal or the request context: `BearerPrincipal`s; a coroutine
function taking the request alone, such as a service looked up in the app's state) and at most one
JSON body model, that machinery cost more than the portfolio's own work for a 304 (docs/adr/0098)
and a third of the HTTP layer's CPU of an answer save (docs/adr/0112). A `DirectRoute` is such a
route with a second handler that calls the dependencies and the endpoint itself.

It answers exactly what FastAPI's handler answers, in the same order, because it only takes the
cases whose outcome it can know without FastAPI and hands every other request to FastAPI's own
handler, unchanged:
- a path parameter, a UUID or a string (with constraints or not), is read by FastAPI's own field
  for it (the very value FastAPI would pass); any text it refuses goes to FastAPI, which
  answers the 422;
- a body model is read as FastAPI reads it (the body's bytes, `Request.json`, the route's own
  body field's validation) when it is sent as exactly `application/json` and validates; an
  empty body, one over `DIRECT_BODY_MAX`, another or no `Content-Type`, a body that is no JSON
  or does not validate goes to
  FastAPI (the body read stays on the request, so FastAPI reads the same bytes), which answers
  what it answers; a failed read of the bytes is answered as FastAPI answers it (400, or the
  `HTTPException` raised). Only a single, not embedded body that is a pydantic model qualifies;
- nothing is called before the path and the body are known to be FastAPI's values, so a request
  handed to FastAPI has had no dependency run;
- the dependencies are called in FastAPI's order, each once per request as FastAPI's cache does
  (before FastAPI would validate the path and body: with inputs both read alike the outcome is
  the same in either order), and their refusals raise as before;
- `app.dependency_overrides` set (tests) → FastAPI's handler, which applies them; so does a
  request under FastAPI's OpenTelemetry (its spans and request data are FastAPI's to give);
- the endpoint is declared to return a `Response` (FastAPI would serialise anything else through
  the response model), and one that returns anything else anyway is a programming error, raised.

The declaration judged is the one FastAPI's own handler was built from (read from its closure:
an including router's dependencies are in it). A route whose declaration has anything else (a
query, header, cookie, form or file parameter, several body parameters or an embedded one,
another kind of dependency or a limit on one, a path parameter that is neither a UUID nor a
string or has a validation alias, a `Response` or background-task parameter, a field of FastAPI's
`Dependant` this module does not know), or whose handler does not hold its declaration where
this FastAPI keeps it, is a plain `APIRoute`: `DirectRoute.direct` says whether the shortcut was
taken. The OpenAPI document is FastAPI's (built from the same declaration).
"""

import dataclasses
import inspect
import json
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Final, NamedTuple, cast
from uuid import UUID

from fastapi import params
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.telemetry import get_telemetry_data
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from bilet.http.auth import BearerPrincipal

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
# A path parameter's reader: the value, or _UNSURE when FastAPI must judge the text.
_Reader = Callable[[str], object]
# What a reader answers for a text FastAPI must judge (None may be a value).
_UNSURE: Final = object()
# The one `Content-Type` a body is read directly under: FastAPI reads it as JSON too.
_JSON: Final = "application/json"
# The largest body read directly. The direct route parses and validates a body before the token
# is checked, and a request it hands over is parsed again by FastAPI: a large body without a
# token would cost ~10 times FastAPI's refusal. A hot route's body is small (an answer save's
# ~30 bytes); anything larger is FastAPI's to read, the token first.
DIRECT_BODY_MAX: Final = 16 * 1024


class _Validated:
    """A path parameter read by FastAPI's own field for it: its value when the field takes the
    text, else _UNSURE (FastAPI answers the 422). As cheap as a reader of the canonical UUID
    form alone (~0.6 µs a UUID against ~1.1), and every form pydantic reads stays direct."""

    def __init__(self, field: Any, alias: str) -> None:
        self.field = field
        self.loc = ("path", alias)

    def __call__(self, text: str) -> object:
        value, errors = _validated(self.field, text, self.loc)
        return _UNSURE if errors else value


def _validated(field: Any, value: object, loc: tuple[str, ...]) -> tuple[object, object]:
    """`field.validate`, FastAPI's very call, with any exception turned into a refusal: pydantic
    reports only a validator's `ValueError` or `AssertionError` as an error and lets any other
    (a `TypeError`, a `KeyError`…) escape. FastAPI validates after the dependencies, so such a
    request without a token is its 401 (its 500 with one): FastAPI must answer it."""
    try:
        return field.validate(value, {}, loc=loc)  # type: ignore[no-any-return]
    except Exception as error:
        return None, [error]


def _reader_of(field: Any) -> _Reader | None:
    info = field.field_info
    if info.validation_alias is not None:
        # FastAPI looks the value up by the validation alias, this module by `field.alias`.
        return None
    if info.annotation is UUID or info.annotation is str:
        return _Validated(field, field.alias)
    return None


class _Dependency(NamedTuple):
    """A request-only dependency: the endpoint's parameter it gives (None: called for its
    effect), its call, the name it takes the request under, whether FastAPI caches it and
    under which key (its call and scope: no OAuth scopes here)."""

    name: str | None
    call: Callable[..., Awaitable[object]]
    request_name: str
    use_cache: bool
    cache_key: tuple[object, str]


class _Shape(NamedTuple):
    """What a direct call needs of a route's declaration: the path parameters (alias, name,
    reader), the request's parameter name, the dependencies in FastAPI's order, the body
    (FastAPI's field for it, named as the endpoint's parameter)."""

    path: list[tuple[str, str, _Reader]]
    request_name: str | None
    dependencies: list[_Dependency]
    body: Any | None
    call: Callable[..., Awaitable[object]]


# What a direct call reads of a declaration (FastAPI's `Dependant`): every other field must be at
# its default, so a field FastAPI adds one day (or one this module does not know the meaning of:
# a dependency's `concurrency` limit, OAuth scopes) makes the route FastAPI's.
_ROUTE_FIELDS: Final = frozenset(
    {"path_params", "body_params", "dependencies", "name", "call", "request_param_name"}
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
    """A `BearerPrincipal` (its `__call__` a coroutine taking the request alone) or a coroutine
    function taking the request alone, nothing under it, nothing else declared."""
    call = dependency.call
    coroutine = (
        inspect.iscoroutinefunction(type(call).__call__)
        if isinstance(call, BearerPrincipal)
        else inspect.isfunction(call) and inspect.iscoroutinefunction(call)
    )
    return (
        coroutine
        and dependency.request_param_name is not None
        and not dependency.dependencies
        and _others_at_default(dependency, _DEPENDENCY_FIELDS)
    )


def _model_body(dependant: Dependant, held: dict[str, object]) -> bool:
    """Whether the route's body, if it has one, is one JSON model FastAPI reads whole (not
    several, not embedded, not a form or a file, and a handler that says how it reads it)."""
    if not dependant.body_params:
        return True
    if (
        len(dependant.body_params) != 1
        or held.get("embed_body_fields") is not False
        or held.get("is_body_form") is not False
    ):
        return False
    info = dependant.body_params[0].field_info
    model = info.annotation
    return (
        type(info) is params.Body
        and not info.embed
        and not info.metadata
        and isinstance(model, type)
        and issubclass(model, BaseModel)
    )


def _answers_a_response(call: Callable[..., object]) -> bool:
    """Declared to return a `Response`: a direct route sends what its endpoint returns, so an
    endpoint that may return a model (FastAPI would serialise it) is left to FastAPI."""
    returns = inspect.signature(call, eval_str=True).return_annotation
    return isinstance(returns, type) and issubclass(returns, Response)


def shape_of(held: dict[str, object]) -> _Shape | None:
    """How to call the route directly, or None when FastAPI must handle it. `held`: what
    FastAPI's handler was built from (`_built_from`): its declaration and how it reads a body."""
    dependant = cast(Dependant, held["dependant"])  # `_built_from` made sure
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
        reader = _reader_of(field)
        if reader is None:
            return None
        path.append((field.alias, field.name, reader))
    if not all(_request_only(dependency) for dependency in dependant.dependencies):
        return None
    if not _model_body(dependant, held):
        return None
    body = dependant.body_params[0] if dependant.body_params else None
    dependencies = [
        _Dependency(
            dependency.name,
            dependency.call,  # type: ignore[arg-type]
            str(dependency.request_param_name),
            dependency.use_cache,
            (dependency.call, dependency.scope or ""),
        )
        for dependency in dependant.dependencies
    ]
    return _Shape(path, dependant.request_param_name, dependencies, body, call)


def _built_from(handler: Handler) -> dict[str, object] | None:
    """What FastAPI's own handler was built from, read from the handler's closure: its
    `dependant` (with an including router's dependencies added), its overrides' provider and
    how it reads a body: what FastAPI will run, however it found it. None when this FastAPI's
    handler does not hold them under those names: then the route is not called directly."""
    cells = handler.__closure__ or ()
    try:
        contents = [cell.cell_contents for cell in cells]
        held = dict(zip(handler.__code__.co_freevars, contents, strict=True))
    except ValueError:  # an empty cell, or not one cell per name
        return None
    dependant = held.get("dependant")
    if not isinstance(dependant, Dependant) or "dependency_overrides_provider" not in held:
        return None
    return held


async def _body_read(request: Request) -> bytes:
    """The body's bytes, a failed read answered as FastAPI's handler answers it (its very
    exception types: Starlette's `HTTPException` raised again, anything else a 400)."""
    try:
        return await request.body()
    except HTTPException:
        raise
    except Exception as error:
        raise HTTPException(400, detail="There was an error parsing the body") from error


class DirectRoute(APIRoute):
    """An `APIRoute` that calls its endpoint directly when its declaration allows (see the
    module); `direct`: whether its last built handler does."""

    direct: bool = False

    def get_route_handler(self) -> Handler:
        fastapi_handler = super().get_route_handler()
        held = _built_from(fastapi_handler)
        shape = None if held is None else shape_of(held)
        self.direct = shape is not None
        if held is None or shape is None:
            return fastapi_handler
        overrides = held["dependency_overrides_provider"]

        async def handler(request: Request) -> Response:
            if (
                overrides is not None and getattr(overrides, "dependency_overrides", None)
            ) or get_telemetry_data() is not None:
                # Overrides (tests) are FastAPI's to apply; with OpenTelemetry on, FastAPI's
                # handler gives its spans (dependencies, endpoint) and the request's data.
                return await fastapi_handler(request)
            values: dict[str, object] = {}
            # The path and the body first: an input only FastAPI can judge goes to it before
            # anything is called. FastAPI solves the dependencies before it validates them, so
            # with inputs both read alike the outcome is the same in either order.
            path_params = request.path_params
            for alias, name, read in shape.path:
                value = read(path_params[alias])
                if value is _UNSURE:
                    return await fastapi_handler(request)
                values[name] = value
            field = shape.body
            if field is not None:
                body = await _body_read(request)  # kept on the request: FastAPI reads it again
                if (
                    not body
                    or len(body) > DIRECT_BODY_MAX
                    or request.headers.get("content-type") != _JSON
                ):
                    return await fastapi_handler(request)
                try:
                    # As FastAPI reads it (`Request.json`: `json.loads` of the bytes).
                    document = json.loads(body)
                except Exception:  # not JSON, not text: FastAPI's 422 or 400
                    return await fastapi_handler(request)
                value, errors = _validated(field, document, ("body",))
                if errors:
                    return await fastapi_handler(request)
                values[field.name] = value
            solved: dict[object, object] = {}
            for dependency in shape.dependencies:
                # FastAPI calls a cached dependency once per request, however often declared.
                if dependency.use_cache and dependency.cache_key in solved:
                    result = solved[dependency.cache_key]
                else:
                    result = await dependency.call(**{dependency.request_name: request})
                    solved.setdefault(dependency.cache_key, result)
                if dependency.name is not None:
                    values[dependency.name] = result
            if shape.request_name is not None:
                values[shape.request_name] = request
            response = await shape.call(**values)
            if not isinstance(response, Response):
                raise TypeError(f"the direct route {self.path} must answer with a Response")
            return response

        return handler


def model_response(model: BaseModel) -> Response:
    """The answer FastAPI gives when an endpoint returns `model` as its response model: the
    model's JSON by alias, `application/json` (FastAPI's `dump_json` path), 200. A direct route
    answers a `Response`; with this, and its `response_model=` naming the model for the
    document, it answers what it answered when FastAPI serialised the model. Nothing validates
    the model against `response_model` here (FastAPI would): a route's test must."""
    return Response(model.model_dump_json(by_alias=True), media_type=_JSON)


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
