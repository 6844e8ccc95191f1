"""Refusals as `application/problem+json`: each domain or application code has one HTTP status."""

from typing import Any, Final

from bilet.http.problems import ProblemCodes, problem_responses, refusal_handler
from bilet.http.problems import ProblemDocument as BaseProblemDocument
from bilet_consent.domain.errors import DomainError

CODES: Final = ProblemCodes(
    status={
        "invalid_cursor": 400,
        "forbidden": 403,
        "outside_analytics_purpose": 403,
        "unknown_participant": 404,
        "unknown_consent": 404,
        "consent_exists": 409,
        "participant_merged": 409,
        "consent_not_pending": 409,
        "consent_not_in_force": 409,
        "erasure_scheduled": 409,
        "version_conflict": 409,
        "participant_erased": 410,
        "stale_version": 412,
        "document_gone": 410,
        "document_too_large": 413,
        "unsupported_document_type": 415,
        "unsupported_document": 415,
        "document_check_busy": 503,
        # Everything else a rule refuses is 422: the request was understood, and is not acceptable.
    },
    titles={
        "forbidden": "Forbidden",
        "outside_analytics_purpose": "Not part of the analytics purpose",
        "stale_version": "The consents changed since you read them",
        "unsupported_document_type": "Not a PDF, JPEG or PNG",
        "unsupported_document": "The document cannot be accepted",
        "participant_erased": "The participant's data was destroyed",
        "document_check_busy": "Documents are being checked: try again shortly",
    },
)

on_domain_error = refusal_handler(DomainError, CODES.problem_of)


class ProblemDocument(BaseProblemDocument):
    """RFC 9457 problem details; branch on `code`. Extensions depend on the code (`field`,
    `errors`, `erase_by`, `purposes`, `limit`, …)."""


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the problems a route may answer with (400, 401, 413 and 422 stand
    in front of every route: the request guard and the bearer check)."""
    return problem_responses(*statuses, document=ProblemDocument)
