"""Refusals as `application/problem+json`: each domain or application code has one HTTP status."""

from typing import Any, Final

from bilet.http.problems import ProblemCodes, problem_responses, refusal_handler
from bilet_diagnostics.domain.errors import DomainError

CODES: Final = ProblemCodes(
    status={
        "forbidden": 403,
        "consent_required": 403,
        "unknown_participant": 404,
        "unknown_attempt": 404,
        "unknown_item": 404,
        "attempt_exists": 409,
        "attempt_in_progress": 409,
        "attempt_completed": 409,
        "stage_completed": 409,
        "stage_locked": 409,
        "outside_window": 409,
        "not_enrolled": 409,
        "participant_merged": 409,
        "time_limit_passed": 409,
        "version_conflict": 409,
        "participant_erased": 410,
        # Everything else a rule refuses is 422 (`unknown_option`, `incomplete_sheet`,
        # `stage_not_in_season`): the request was understood, and is not acceptable.
    },
    titles={
        "forbidden": "Forbidden",
        "consent_required": "A verified consent to the online diagnostics is required",
        "participant_erased": "The participant's data was destroyed",
        "incomplete_sheet": "Some items are not answered",
        "time_limit_passed": "The attempt's time is up",
    },
)

on_domain_error = refusal_handler(DomainError, CODES.problem_of)


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the problems a route may answer with (400, 401, 413 and 422 stand
    in front of every route: the request guard and the bearer check). The kernel's problem
    document, as the school progress route uses: extensions depend on the code (`missing`: the
    unanswered item ids; `attempt_id`: the attempt in progress; `waiting_for`: the stage to
    complete first; `options`: an item's option ids; `deadline`, `stage`, `season`, `today`)."""
    return problem_responses(*statuses)
