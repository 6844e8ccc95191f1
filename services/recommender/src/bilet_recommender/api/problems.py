"""Refusals as `application/problem+json`: each domain or application code has one HTTP status:
403 who may not (and a consent that does not cover recommendations), 404 what is unknown to the
caller, 409 what the opportunity's state (or the read model's progress) does not allow now, 410
a participant whose data was destroyed, 422 what the request does not meet."""

from typing import Any, Final

from pydantic_core import to_jsonable_python

from bilet.http.problems import Problem, ProblemCodes, problem_responses, refusal_handler
from bilet_recommender.domain.errors import DomainError

CODES: Final = ProblemCodes(
    status={
        "forbidden": 403,
        "consent_required": 403,
        "unknown_participant": 404,
        "unknown_opportunity": 404,
        "opportunity_exists": 409,
        "opportunity_withdrawn": 409,
        "version_conflict": 409,
        "not_yet_visible": 409,
        "invalid_position_token": 400,
        "participant_erased": 410,
        # Everything else a rule refuses is 422 (`invalid_opportunity`).
    },
    titles={
        "forbidden": "Forbidden",
        "consent_required": "A verified consent covering recommendations is required",
        "participant_erased": "The participant's data was destroyed",
        "invalid_opportunity": "The opportunity's terms do not hold",
        "not_yet_visible": "Not yet visible",
    },
)


def problem_of(error: DomainError) -> Problem:
    """The refusal as a problem; its details (ids, dates) as JSON values."""
    return CODES.problem_of(error, **to_jsonable_python(error.details))


on_domain_error = refusal_handler(DomainError, problem_of)


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the problems a route may answer with (400, 401, 408, 413 and 422
    stand in front of every route: the request guard and the bearer check)."""
    return problem_responses(*statuses)
