"""Query parameters an operation does not take are refused, not ignored (docs/adr/0071).

A client that misspells a filter (`?scool=…` for `?school=…`) would otherwise get the unfiltered
list with 200 and never learn why; a gateway that forwards a parameter the API dropped would
never notice either. So every route answers 400 `unknown_query_parameter`, naming the
parameters it does take, when the query names any other; the request changes nothing.

The names a route takes are those FastAPI resolved for it (its own and its dependencies'
query parameters, by alias), computed once per route.
"""

from typing import Final

from fastapi import Request
from fastapi.dependencies.utils import get_flat_params
from fastapi.params import Query
from fastapi.routing import APIRoute

from bilet.http.problems import Problem

UNKNOWN_QUERY_PARAMETER: Final = "unknown_query_parameter"
# What the OpenAPI document says of it on every operation's 400 (`bilet.http.document`).
UNKNOWN_QUERY_REFUSED: Final = (
    "A query parameter the operation does not list is refused with the code "
    "`unknown_query_parameter` (a misspelt filter is never silently ignored)."
)
# Names echoed back at most: enough to spot a typo, bounded for a hostile query.
_ECHOED: Final = 5
_ECHOED_LENGTH: Final = 64

# Kept on the route itself (routes are not hashable), made on its first request.
_TAKEN: Final = "_bvb_query_names_taken"


def _names_taken(route: APIRoute) -> frozenset[str]:
    names: frozenset[str] | None = getattr(route, _TAKEN, None)
    if names is None:
        names = frozenset(
            field.alias
            for field in get_flat_params(route.dependant)
            if isinstance(field.field_info, Query)
        )
        setattr(route, _TAKEN, names)
    return names


async def refuse_unknown_query_parameters(request: Request) -> None:
    """The app-wide dependency: 400 `unknown_query_parameter` when the query names a parameter
    the matched route does not take."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.scope.get("query_string"):
        return
    taken = _names_taken(route)
    unknown = sorted({name for name in request.query_params if name not in taken})
    if not unknown:
        return
    listed = ", ".join(f"`{name}`" for name in sorted(taken)) or "none"
    raise Problem(
        400,
        UNKNOWN_QUERY_PARAMETER,
        "Unknown query parameter",
        f"This operation takes these query parameters: {listed}.",
        unknown=[name[:_ECHOED_LENGTH] for name in unknown[:_ECHOED]],
        accepted=sorted(taken),
    )
