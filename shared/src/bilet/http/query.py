"""Query parameters an operation does not take are refused, not ignored (docs/adr/0071).

A client that misspells a filter (`?scool=…` for `?school=…`) would otherwise get the unfiltered
list with 200 and never learn why; a gateway that forwards a parameter the API dropped would
never notice either. So every route answers 400 `unknown_query_parameter`, naming the
parameters it does take, when the query names any other; the request changes nothing.

The names a route takes are those FastAPI resolved for it (its own and its dependencies'
query parameters, by alias), computed once per route.

The check is made by the service frame's one ASGI layer (docs/adr/0116), not an app-wide
dependency (docs/adr/0073): a request without a query string — most of them — costs it one
dictionary lookup, where a dependency cost every request of every route a turn of FastAPI's
dependency resolution. A request with a query finds its route as the router will (the first
full match) before it is checked.
"""

from collections.abc import Iterable
from typing import Any, Final
from urllib.parse import parse_qsl

from fastapi import FastAPI
from fastapi.dependencies.utils import get_flat_params
from fastapi.params import Query
from fastapi.routing import RouteContext, iter_route_contexts
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import Scope

from bilet.http.problems import Problem, problem_response

UNKNOWN_QUERY_PARAMETER: Final = "unknown_query_parameter"
# What the OpenAPI document says of it on every operation's 400 (`bilet.http.document`).
UNKNOWN_QUERY_REFUSED: Final = (
    "A query parameter the operation does not list is refused with the code "
    "`unknown_query_parameter` (a misspelt filter is never silently ignored)."
)
# Names echoed back at most: enough to spot a typo, bounded for a hostile query.
_ECHOED: Final = 5
_ECHOED_LENGTH: Final = 64


def names_taken(route: Any) -> frozenset[str] | None:
    """The query parameter names (aliases) an API route takes; None for a route that is not an
    API route (a mount, the docs pages), whose query is not ours to judge."""
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return None
    return frozenset(
        field.alias for field in get_flat_params(dependant) if isinstance(field.field_info, Query)
    )


def unknown_query_problem(taken: frozenset[str], names: Iterable[str]) -> Problem | None:
    """The 400 for a query naming `names` on an operation that takes `taken`; None when every
    name is taken."""
    unknown = sorted({name for name in names if name not in taken})
    if not unknown:
        return None
    listed = ", ".join(f"`{name}`" for name in sorted(taken)) or "none"
    return Problem(
        400,
        UNKNOWN_QUERY_PARAMETER,
        "Unknown query parameter",
        f"This operation takes these query parameters: {listed}.",
        unknown=[name[:_ECHOED_LENGTH] for name in unknown[:_ECHOED]],
        accepted=sorted(taken),
    )


class UnknownQueryRefused:
    """Refuses with 400 `unknown_query_parameter` a query naming a parameter the matched route
    does not take; a request without a query string passes untouched. A check the service
    frame makes (`bilet.http.frame`), not a middleware of its own."""

    def __init__(self, routes: FastAPI) -> None:
        self.routes = routes
        # By the route's identity and path: routes are not hashable, one app's routes live as
        # long as the app does, and a router included twice takes each inclusion's names.
        self._taken: dict[tuple[int, str], tuple[object, frozenset[str] | None]] = {}

    def _taken_by_route(self, scope: Scope) -> tuple[RouteContext, frozenset[str] | None] | None:
        """The matched route and the query parameters it takes (None: not an API route, its
        query not ours to judge); None when no route matches."""
        for route in iter_route_contexts(self.routes.router.routes):
            match, _ = route.matches(scope)
            if match is not Match.FULL:
                continue
            target = route.original_route
            key = (id(target), str(route.path_format))
            known = self._taken.get(key)
            if known is None or known[0] is not target:
                known = (target, names_taken(route))
                self._taken[key] = known
            return route, known[1]
        return None  # no route: the router answers 404 or 405 as it would

    def refusal(self, scope: Scope) -> Response | None:
        """The 400 for this request, None when it may pass."""
        if not scope.get("query_string"):
            return None
        matched = self._taken_by_route(scope)
        route, taken = matched if matched is not None else (None, None)
        if taken is None:
            return None
        query = scope["query_string"].decode("latin-1")
        names = (name for name, _ in parse_qsl(query, keep_blank_values=True))
        problem = unknown_query_problem(taken, names)
        if problem is None:
            return None
        # The access log and the metrics name the route refused, as the router would have set
        # it, not `unmatched`.
        scope["route"] = route
        return problem_response(problem)
