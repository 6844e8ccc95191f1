"""Refusals as `application/problem+json`: each domain or application code has one HTTP status."""

from typing import Any, Final

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from bilet.http.problems import PROBLEM_JSON, Problem, problem_response
from bilet_consent.domain.errors import DomainError

STATUS: Final[dict[str, int]] = {
    "forbidden": 403,
    "unknown_participant": 404,
    "unknown_consent": 404,
    "consent_exists": 409,
    "consent_not_pending": 409,
    "consent_not_in_force": 409,
    "erasure_scheduled": 409,
    "version_conflict": 409,
    "participant_erased": 410,
    "document_gone": 410,
    "document_too_large": 413,
    "unsupported_document_type": 415,
    "unsupported_document": 415,
    # Everything else a rule refuses is 422: the request was understood, and is not acceptable.
}
TITLES: Final[dict[str, str]] = {
    "forbidden": "Forbidden",
    "unsupported_document_type": "Not a PDF, JPEG or PNG",
    "unsupported_document": "The document cannot be accepted",
    "participant_erased": "The participant's data was destroyed",
}


def problem_of(error: DomainError) -> Problem:
    extensions: dict[str, Any] = {
        name: value for name, value in error.details.items() if value is not None
    }
    title = TITLES.get(error.code, error.code.replace("_", " ").capitalize())
    return Problem(STATUS.get(error.code, 422), error.code, title, error.message, **extensions)


async def on_domain_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, DomainError)
    return problem_response(problem_of(error))


class ProblemDocument(BaseModel):
    """RFC 9457 problem details; branch on `code`. Extensions depend on the code (`field`,
    `errors`, `erase_by`, `purposes`, `limit`, …)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    code: str
    detail: str | None = None


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the problems a route may answer with (400, 401, 413 and 422 stand
    in front of every route: the request guard and the bearer check)."""
    schema = {"$ref": "#/components/schemas/ProblemDocument"}
    return {
        status: {
            "model": ProblemDocument,
            "content": {PROBLEM_JSON: {"schema": schema}},
            "description": "A problem (application/problem+json) with a stable `code`.",
        }
        for status in sorted({400, 401, 413, 422, *statuses})
    }
