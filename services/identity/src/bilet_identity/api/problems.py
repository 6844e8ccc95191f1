"""Refusals as `application/problem+json`: each domain or application code has one HTTP status."""

from typing import Any, Final

from bilet.http.problems import Problem, ProblemCodes, problem_responses, refusal_handler
from bilet.http.problems import ProblemDocument as BaseProblemDocument
from bilet_identity.access.attempts import TooManyAttempts
from bilet_identity.application.errors import DuplicateRefused, NotYetVisible
from bilet_identity.domain.errors import DomainError

# How soon a client may ask again after `not_yet_visible`.
RETRY_AFTER_SECONDS: Final = 1

CODES: Final = ProblemCodes(
    status={
        "forbidden": 403,
        "grant_not_allowed": 403,
        "unknown_grant": 404,
        "no_claims": 404,
        "grant_exists": 409,
        "conflicting_grant": 409,
        "invalid_query": 400,
        "unknown_participant": 404,
        "unknown_review": 404,
        "guardian_not_linked": 404,
        "unknown_region": 404,
        "school_not_found": 404,
        "season_not_found": 404,
        "duplicate_participant": 409,
        "duplicate_needs_review": 409,
        "snils_taken": 409,
        "version_conflict": 409,
        "region_already_admitted": 409,
        "duplicate_school": 409,
        "already_enrolled": 409,
        "season_started": 409,
        "season_closed": 409,
        "participant_erased": 409,
        "participant_merged": 409,
        "participant_left": 409,
        "review_resolved": 409,
        "health_data_withdrawn": 409,
        # Refused for the state the participant is in, not for the request's form (ADR 0049).
        "season_not_after_current": 409,
        "too_many_guardians": 409,
        "not_yet_visible": 409,
        "binding_code_used": 409,
        "account_already_bound": 409,
        "unknown_consent": 404,
        "no_bound_account": 404,
        "too_many_attempts": 429,
        "guardian_codes_off": 403,
        "stale_version": 412,
        "invalid_text": 400,
        "invalid_position_token": 400,
        # Everything else a rule refuses is 422: the request was understood, and is not acceptable.
    },
    titles={
        "invalid_snils": "Invalid СНИЛС",
        "not_eligible": "Not eligible",
        "duplicate_participant": "Already registered",
        "duplicate_needs_review": "Registered with other details: flagged for review",
        "version_conflict": "Version conflict",
        "forbidden": "Forbidden",
        "not_yet_visible": "Not yet visible",
        "invalid_position_token": "Invalid position token",
        "too_many_attempts": "Too many attempts",
    },
)


def problem_of(error: DomainError) -> Problem:
    if isinstance(error, DuplicateRefused) and error.existing is not None:
        return CODES.problem_of(error, existing_participant_id=str(error.existing))
    problem = CODES.problem_of(error)
    if isinstance(error, NotYetVisible):
        problem.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    if isinstance(error, TooManyAttempts):
        problem.headers["Retry-After"] = str(error.retry_after)
    return problem


on_domain_error = refusal_handler(DomainError, problem_of)


class ProblemDocument(BaseProblemDocument):
    """RFC 9457 problem details; branch on `code`. Extensions depend on the code (`field`,
    `reasons`, `existing_participant_id`, `missing_columns`, `errors`, …)."""


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the problems a route may answer with. Every route may answer 400
    (hostile text), 401 (no valid token), 413 (body too large) and 422 (invalid request): the
    request guard and the bearer check stand in front of all of them."""
    return problem_responses(*statuses, document=ProblemDocument)
