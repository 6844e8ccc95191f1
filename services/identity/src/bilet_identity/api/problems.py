"""Refusals as `application/problem+json`: each domain or application code has one HTTP status."""

from typing import Any, Final

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from bilet.http.problems import PROBLEM_JSON, Problem, problem_response
from bilet_identity.application.errors import DuplicateRefused
from bilet_identity.domain.errors import DomainError

STATUS: Final[dict[str, int]] = {
    "forbidden": 403,
    "unknown_participant": 404,
    "unknown_region": 404,
    "duplicate_participant": 409,
    "duplicate_needs_review": 409,
    "version_conflict": 409,
    "region_already_admitted": 409,
    "duplicate_school": 409,
    "already_enrolled": 409,
    "participant_erased": 409,
    "invalid_text": 400,
    # Everything else a rule refuses is 422: the request was understood, and is not acceptable.
}
TITLES: Final[dict[str, str]] = {
    "invalid_snils": "Invalid СНИЛС",
    "not_eligible": "Not eligible",
    "duplicate_participant": "Already registered",
    "duplicate_needs_review": "Registered with other details: flagged for review",
    "version_conflict": "Version conflict",
    "forbidden": "Forbidden",
}


def problem_of(error: DomainError) -> Problem:
    extensions: dict[str, Any] = {
        name: value for name, value in error.details.items() if value is not None
    }
    if isinstance(error, DuplicateRefused) and error.existing is not None:
        extensions["existing_participant_id"] = str(error.existing)
    title = TITLES.get(error.code, error.code.replace("_", " ").capitalize())
    return Problem(STATUS.get(error.code, 422), error.code, title, error.message, **extensions)


async def on_domain_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, DomainError)
    return problem_response(problem_of(error))


class ProblemDocument(BaseModel):
    """RFC 9457 problem details; branch on `code`. Extensions depend on the code (`field`,
    `reasons`, `existing_participant_id`, `missing_columns`, `errors`, …)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    code: str
    detail: str | None = None


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the problems a route may answer with. Every route may answer 400
    (hostile text), 401 (no valid token), 413 (body too large) and 422 (invalid request): the
    request guard and the bearer check stand in front of all of them."""
    schema = {"$ref": "#/components/schemas/ProblemDocument"}
    return {
        status: {
            "model": ProblemDocument,
            "content": {PROBLEM_JSON: {"schema": schema}},
            "description": "A problem (application/problem+json) with a stable `code`.",
        }
        for status in sorted({400, 401, 413, 422, *statuses})
    }
