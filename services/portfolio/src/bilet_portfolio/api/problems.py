"""Refusals as `application/problem+json`: each `PortfolioError` code has one HTTP status."""

from typing import Any

from bilet.http.problems import Problem, problem_responses, refusal_handler, refusal_problem
from bilet.http.problems import ProblemDocument as BaseProblemDocument
from bilet_portfolio.application.errors import NotYetVisible, PortfolioError

# How soon a client may ask again after `not_yet_visible`.
RETRY_AFTER_SECONDS = 1


def problem_of(error: PortfolioError) -> Problem:
    # The error carries its own status and title.
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if isinstance(error, NotYetVisible) else {}
    return refusal_problem(error, error.status, error.title, headers=headers)


on_portfolio_error = refusal_handler(PortfolioError, problem_of)


class ProblemDocument(BaseProblemDocument):
    """RFC 9457 problem details; branch on `code`. Extensions depend on the code
    (`consent_state`, `token`, `reached`, `erased_at`, `errors`, …)."""


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the problems a route may answer with. Every route may answer 400
    (hostile text, a malformed position token or cursor), 401 (no valid token), 413 and 422
    (invalid request): the request guard and the bearer check stand in front of all of them."""
    return problem_responses(*statuses, document=ProblemDocument)
