"""Errors as `application/problem+json` (RFC 9457) with a stable `code`, for every service.

A client branches on `code`, never on `title` or `detail` (which are for people and may change).
Validation errors list where and what, never the submitted values: those may be personal data.
"""

from collections.abc import Mapping
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

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
    return ", ".join(allowed)


def install_problem_handlers(app: FastAPI) -> None:
    async def on_problem(_: Request, problem: Exception) -> JSONResponse:
        assert isinstance(problem, Problem)
        return problem_response(problem)

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
        title = code.replace("_", " ").capitalize()
        detail = error.detail if isinstance(error.detail, str) and error.detail != title else None
        headers = dict(error.headers or {})
        if error.status_code == 405:
            headers["Allow"] = _allowed_methods(request)
        return problem_response(Problem(error.status_code, code, title, detail, headers=headers))

    async def on_unexpected(_: Request, __: Exception) -> JSONResponse:
        # The cause is logged by the server; the client learns nothing about internals.
        return problem_response(Problem(500, "internal_error", "Internal error"))

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
