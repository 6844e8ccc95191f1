"""Errors as `application/problem+json` (RFC 9457) with a stable `code`, for every service.

A client branches on `code`, never on `title` or `detail` (which are for people and may change).
Validation errors list where and what, never the submitted values: those may be personal data.
A service's refusals (its error base: a `code`, a message, details) become problems through its
own table of statuses and titles (`ProblemCodes`) and `refusal_handler`; `problem_responses`
documents them in OpenAPI.
"""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from bilet.http.correlation import CORRELATION_HEADER

PROBLEM_JSON: Final = "application/problem+json"

# HTTP statuses that Starlette raises by itself, and the codes we give them.
_STATUS_CODES: Final = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


class Problem(Exception):
    """Raise from any handler: becomes a problem+json response with this status and code."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(f"{status} {code}: {title}")
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.headers = dict(headers or {})
        self.extensions = extensions


def problem_body(
    status: int, code: str, title: str, detail: str | None = None, **extensions: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "code": code}
    if detail is not None:
        body["detail"] = detail
    body.update(extensions)
    return body


def problem_response(problem: Problem) -> JSONResponse:
    return JSONResponse(
        problem_body(
            problem.status, problem.code, problem.title, problem.detail, **problem.extensions
        ),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers,
    )


class Refusal(Protocol):
    """What a service's error base carries: a stable `code`, a message for people (never a
    personal value) and details, which become the problem's extensions."""

    @property
    def code(self) -> str: ...

    @property
    def message(self) -> str: ...

    @property
    def details(self) -> Mapping[str, Any]: ...


_R = TypeVar("_R", bound=Exception)
ExceptionHandler = Callable[[Request, Exception], Awaitable[JSONResponse]]


def refusal_problem(
    error: Refusal,
    status: int,
    title: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> Problem:
    """The refusal as a problem: its code, its message as the detail, its details (those that
    are not None) and `extensions` as the problem's extensions."""
    given = {name: value for name, value in error.details.items() if value is not None}
    return Problem(
        status, error.code, title, error.message, headers=headers, **(given | extensions)
    )


def default_title(code: str) -> str:
    """A title made of the code (`unknown_consent` → "Unknown consent")."""
    return code.replace("_", " ").capitalize()


@dataclass(frozen=True)
class ProblemCodes:
    """A service's HTTP status and title of each refusal code. A code not in `status` is 422
    (the request was understood, and is not acceptable); one not in `titles` is titled after
    the code."""

    status: Mapping[str, int]
    titles: Mapping[str, str] = field(default_factory=dict)
    default_status: int = 422

    def problem_of(self, error: Refusal, **extensions: Any) -> Problem:
        title = self.titles.get(error.code, default_title(error.code))
        status = self.status.get(error.code, self.default_status)
        return refusal_problem(error, status, title, **extensions)


OUTSIDE_ANALYTICS_PURPOSE: Final = "outside_analytics_purpose"


def for_the_caller(request: Request, problem: Problem) -> Problem:
    """An analyst refused (403) learns why in the code: the role exists for the pseudonymised
    analytics export (`bvb analytics export`), which no service's routes are part of. A client
    tells "not what your role is for" from a scope it lacks (docs/adr/0049)."""
    principal = getattr(request.state, "principal", None)
    if problem.status != 403 or getattr(principal, "role", None) != "analyst":
        return problem
    if problem.code == OUTSIDE_ANALYTICS_PURPOSE:
        return problem  # the service said why in its own words
    return Problem(
        403,
        OUTSIDE_ANALYTICS_PURPOSE,
        "Not part of the analytics purpose",
        "Analysts work with the pseudonymised analytics export (participants whose consent "
        "covers `pseudonymised_analytics`); this route is not part of it.",
        headers=problem.headers,
    )


def refusal_handler(error_type: type[_R], problem_of: Callable[[_R], Problem]) -> ExceptionHandler:
    """The exception handler that answers a service's refusals (`error_type`) as problems."""

    async def on_refusal(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, error_type)
        return problem_response(for_the_caller(request, problem_of(error)))

    return on_refusal


class ProblemDocument(BaseModel):
    """RFC 9457 problem details; branch on `code`. Extensions depend on the code."""

    # A service subclasses it to say which extensions its codes carry: the subclass's docstring
    # is the schema's description in the service's OpenAPI document.

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    code: str
    detail: str | None = None


# Every route may answer these: the request guard (hostile text, a body too large or too slow),
# the bearer check and request validation stand in front of all of them.
ALWAYS: Final = (400, 401, 408, 413, 422)


def problem_responses(
    *statuses: int, document: type[ProblemDocument] = ProblemDocument
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the problems a route may answer with (`ALWAYS` and `statuses`),
    each a `document` (referenced by its schema name)."""
    schema = {"$ref": f"#/components/schemas/{document.__name__}"}
    return {
        status: {
            "model": document,
            "content": {PROBLEM_JSON: {"schema": schema}},
            "description": "A problem (application/problem+json) with a stable `code`.",
        }
        for status in sorted({*ALWAYS, *statuses})
    }


def _validation_errors(error: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": list(e.get("loc", ())), "type": e.get("type"), "msg": e.get("msg")}
        for e in error.errors()
    ]


_METHODS: Final = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> str:
    """Every method some route of the path answers. Starlette names only the first route's, and a
    path often has several routes (GET and PATCH of one resource); included routers are routes of
    their own, so each method is asked of the router as a whole."""
    routes = request.app.router.routes
    allowed = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]
    if "GET" in allowed and "HEAD" not in allowed:
        # The frame answers HEAD wherever GET is (bilet.http.semantics.as_get).
        allowed.insert(allowed.index("GET") + 1, "HEAD")
    return ", ".join(allowed)


def install_problem_handlers(app: FastAPI) -> None:
    async def on_problem(request: Request, problem: Exception) -> JSONResponse:
        assert isinstance(problem, Problem)
        return problem_response(for_the_caller(request, problem))

    async def on_validation(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        return problem_response(
            Problem(
                422,
                "invalid_request",
                "The request is not valid",
                "See `errors` for where and why.",
                errors=_validation_errors(error),
            )
        )

    async def on_http(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        code = _STATUS_CODES.get(error.status_code, "error")
        title = default_title(code)
        detail = error.detail if isinstance(error.detail, str) and error.detail != title else None
        headers = dict(error.headers or {})
        if error.status_code == 405:
            headers["Allow"] = _allowed_methods(request)
        return problem_response(Problem(error.status_code, code, title, detail, headers=headers))

    async def on_unexpected(request: Request, _: Exception) -> JSONResponse:
        # The cause is logged by the server; the client learns nothing about internals but the
        # request's correlation id, to quote. Starlette answers this outside the service frame
        # (which sends the id on every other answer), so it is added here.
        correlation_id = request.scope.get("state", {}).get("correlation_id")
        headers = {} if correlation_id is None else {CORRELATION_HEADER: correlation_id}
        return problem_response(Problem(500, "internal_error", "Internal error", headers=headers))

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
