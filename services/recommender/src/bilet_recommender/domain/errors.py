"""Refusals of the recommender's rules. Each has a stable `code`, the same in the API's
problem+json."""

from typing import Any
from uuid import UUID


class DomainError(Exception):
    code: str = "rule_violated"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidRules(DomainError):
    """A recommendation table file breaks the format or the rules (raised at start, never to a
    caller)."""

    code = "invalid_rules"

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}", source=source)


class InvalidOpportunity(DomainError):
    """The opportunity's own terms do not hold (dates, kind)."""

    code = "invalid_opportunity"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field=field)


class OpportunityExists(DomainError):
    code = "opportunity_exists"

    def __init__(self, opportunity_id: UUID) -> None:
        super().__init__(
            "An opportunity with this id is already registered.", opportunity_id=opportunity_id
        )


class UnknownOpportunity(DomainError):
    code = "unknown_opportunity"

    def __init__(self) -> None:
        super().__init__("No opportunity with this id.")


class OpportunityWithdrawn(DomainError):
    code = "opportunity_withdrawn"

    def __init__(self) -> None:
        super().__init__("The opportunity was withdrawn: it can no longer be changed.")
