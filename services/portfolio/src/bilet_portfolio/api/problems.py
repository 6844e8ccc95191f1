"""Refusals as `application/problem+json`: each `PortfolioError` code has one HTTP status."""

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from bilet.http.problems import PROBLEM_JSON, Problem, problem_response
from bilet_portfolio.application.errors import NotYetVisible, PortfolioError

# How soon a client may ask again after `not_yet_visible`.
RETRY_AFTER_SECONDS = 1


def problem_of(error: PortfolioError) -> Problem:
    extensions = {name: value for name, value in error.details.items() if value is not None}
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if isinstance(error, NotYetVisible) else {}
    return Problem(
        error.status, error.code, error.title, error.message, headers=headers, **extensions
    )


async def on_portfolio_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, PortfolioError)
    return problem_response(problem_of(error))


class ProblemDocument(BaseModel):
    """RFC 9457 problem details; branch on `code`. Extensions depend on the code
    (`consent_state`, `token`, `reached`, `erased_at`, `errors`, …)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    code: str
    detail: str | None = None


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the problems a route may answer with. Every route may answer 400
    (hostile text, a malformed position token or cursor), 401 (no valid token), 413 and 422
    (invalid request): the request guard and the bearer check stand in front of all of them."""
    schema = {"$ref": "#/components/schemas/ProblemDocument"}
    return {
        status: {
            "model": ProblemDocument,
            "content": {PROBLEM_JSON: {"schema": schema}},
            "description": "A problem (application/problem+json) with a stable `code`.",
        }
        for status in sorted({400, 401, 413, 422, *statuses})
    }
