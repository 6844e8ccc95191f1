"""Refusals as `application/problem+json`: each domain or application code has one HTTP status
(docs/adr/0033): 403 who may not, 404 what is unknown to the caller, 409 what the career event's
or the booking's state (or the read model's progress) does not allow now, 422 what the pupil or
the request does not meet."""

from typing import Any, Final

from bilet.http.problems import Problem, ProblemCodes, problem_responses, refusal_handler
from bilet.http.problems import ProblemDocument as BaseProblemDocument
from bilet_events.domain.errors import DomainError

CODES: Final = ProblemCodes(
    status={
        "forbidden": 403,
        "consent_required": 403,
        "unknown_participant": 404,
        "unknown_career_event": 404,
        "unknown_session": 404,
        "unknown_booking": 404,
        "career_event_exists": 409,
        "career_event_cancelled": 409,
        "bookings_exist": 409,
        "booking_closed": 409,
        "already_booked": 409,
        "participant_merged": 409,
        "session_not_started": 409,
        "attendance_recorded": 409,
        "not_attended": 409,
        "feedback_given": 409,
        "version_conflict": 409,
        "not_yet_visible": 409,
        "invalid_cursor": 400,
        "invalid_position_token": 400,
        # Everything else a rule refuses is 422 (`not_eligible`, `not_accessible`,
        # `season_limit_reached`, `overlapping_booking`, `season_unknown`): the request was
        # understood, and the pupil does not meet the rule.
    },
    titles={
        "forbidden": "Forbidden",
        "consent_required": "A verified consent to career events is required",
        "not_eligible": "Not eligible",
        "not_accessible": "The career event does not provide the accommodations needed",
        "season_limit_reached": "The season's maximum of career events is reached",
        "overlapping_booking": "Another booking at the same time",
        "version_conflict": "Version conflict",
        "not_yet_visible": "Not yet visible",
        "invalid_position_token": "Invalid position token",
    },
)


def problem_of(error: DomainError) -> Problem:
    return CODES.problem_of(error)


on_domain_error = refusal_handler(DomainError, problem_of)


class ProblemDocument(BaseProblemDocument):
    """RFC 9457 problem details; branch on `code`. Extensions depend on the code (`reason`:
    why a pupil is not eligible; `missing`: the accommodations a career event lacks, only to
    the pupil and their school's registrar; `season` and `maximum`; `overlapping`: the booking
    at the same time; `booking_id`: the booking held already; `session_id`; `closed_at`;
    `starts_at`; `token`)."""


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the problems a route may answer with. Every route may answer 400
    (hostile text), 401 (no valid token), 408, 413 (body too large) and 422 (invalid request):
    the request guard and the bearer check stand in front of all of them."""
    return problem_responses(*statuses, document=ProblemDocument)
