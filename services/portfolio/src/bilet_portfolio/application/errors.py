"""Refusals of the portfolio's queries, each with a stable code (problem+json `code`)."""

from typing import Any


class PortfolioError(Exception):
    code: str = "portfolio_error"
    status: int = 400
    title: str = "Refused"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class AccessDenied(PortfolioError):
    code = "forbidden"
    status = 403
    title = "Forbidden"


class ConsentRequired(PortfolioError):
    """The caller may see this participant, but without a verified consent that covers the
    portfolio nobody but the school sees it."""

    code = "consent_required"
    status = 403
    title = "No verified consent"


class UnknownParticipant(PortfolioError):
    code = "unknown_participant"
    status = 404
    title = "Unknown participant"


class UnknownSchool(PortfolioError):
    code = "unknown_school"
    status = 404
    title = "Unknown school"


class ParticipantErased(PortfolioError):
    code = "participant_erased"
    status = 410
    title = "Participant erased"


class InvalidCursor(PortfolioError):
    code = "invalid_cursor"
    status = 400
    title = "Invalid cursor"


class NotYetVisible(PortfolioError):
    """A read-your-writes token was not reached within the wait."""

    code = "not_yet_visible"
    status = 409
    title = "Not yet visible"


class UnknownSource(PortfolioError):
    """A position token of a service the portfolio is not built from."""

    code = "invalid_position_token"
    status = 400
    title = "Invalid position token"
