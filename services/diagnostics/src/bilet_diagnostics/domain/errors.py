"""Refusals of the diagnostics rules. Each has a stable `code`, the same in the API's
problem+json (`bilet_diagnostics.api.problems`)."""

from bilet.errors import DomainError as RuleRefusal


class DomainError(RuleRefusal):
    """A refusal of the diagnostics service's rules or of its application layer: the
    refusals its API answers as problems."""


class StageNotInSeason(DomainError):
    code = "stage_not_in_season"

    def __init__(self, stage: str, season: int) -> None:
        super().__init__(
            f"The stage {stage} does not run in the season {season}.", stage=stage, season=season
        )


class StageLocked(DomainError):
    """The season's rules give the stages an order: an earlier one is not completed yet."""

    code = "stage_locked"

    def __init__(self, waiting_for: str) -> None:
        super().__init__(
            f"Complete the stage {waiting_for} first: the season's stages run in order.",
            waiting_for=waiting_for,
        )


class StageAlreadyCompleted(DomainError):
    """A stage is taken once per season (ADR 0021): its result stands until the next season."""

    code = "stage_completed"

    def __init__(self, stage: str) -> None:
        super().__init__(
            f"The stage {stage} is already completed this season; it is taken once a season.",
            stage=stage,
        )


class AttemptInProgress(DomainError):
    code = "attempt_in_progress"

    def __init__(self, attempt_id: object) -> None:
        super().__init__(
            "An attempt at this stage is in progress: continue it.", attempt_id=str(attempt_id)
        )


class AttemptExists(DomainError):
    code = "attempt_exists"
    text = "An attempt with this id was started already."


class UnknownAttempt(DomainError):
    code = "unknown_attempt"
    text = "No such attempt is known."


class AttemptCompleted(DomainError):
    code = "attempt_completed"
    text = "The attempt is completed: its answers can no longer change."


class TimeLimitPassed(DomainError):
    code = "time_limit_passed"

    def __init__(self, deadline: object) -> None:
        super().__init__(
            "The attempt's time is up: no more answers are taken.", deadline=str(deadline)
        )


class UnknownItem(DomainError):
    code = "unknown_item"

    def __init__(self, item_id: str) -> None:
        super().__init__(f"The attempt has no item {item_id!r}.", item_id=item_id)


class UnknownOption(DomainError):
    code = "unknown_option"

    def __init__(self, item_id: str, options: tuple[str, ...]) -> None:
        super().__init__(
            f"The item {item_id!r} has no such option.", item_id=item_id, options=list(options)
        )


class IncompleteSheet(DomainError):
    code = "incomplete_sheet"

    def __init__(self, missing: tuple[str, ...]) -> None:
        super().__init__(
            f"{len(missing)} item(s) are not answered yet: answer them, then complete.",
            missing=list(missing),
        )
