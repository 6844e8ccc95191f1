"""Refusals of the application layer (who may do what, what is known, what the facts of other
services allow), with stable codes like the domain's own (`bilet_diagnostics.domain.errors`)."""

from uuid import UUID

from bilet_diagnostics.domain.errors import DomainError


class AccessDenied(DomainError):
    code = "forbidden"
    text = "You may not access this."


class UnknownParticipant(DomainError):
    """No such participant is known here (identity's events have not arrived, or there is none),
    or the participant is not the caller's: both get this answer."""

    code = "unknown_participant"
    text = "No such participant is known to the diagnostics service."


class ParticipantErased(DomainError):
    code = "participant_erased"
    text = "The participant's data was destroyed."


class ParticipantMerged(DomainError):
    """The profile was merged into another one of the same child (docs/adr/0043): nothing new
    is started under it; the kept profile is named."""

    code = "participant_merged"

    def __init__(self, kept: UUID) -> None:
        super().__init__(
            "This profile was merged into another one of the same child; use the kept profile.",
            kept_participant_id=str(kept),
        )


class ConsentRequired(DomainError):
    code = "consent_required"
    text = (
        "The online diagnostics need a verified guardian's consent covering them "
        "(purpose online_diagnostics) that is in force today."
    )


class NotEnrolled(DomainError):
    code = "not_enrolled"

    def __init__(self, season: int) -> None:
        super().__init__(f"The participant is not enrolled in the season {season}.", season=season)


class OutsideWindow(DomainError):
    code = "outside_window"

    def __init__(self, stage: str, today: object) -> None:
        super().__init__(
            f"The region's testing window for the stage {stage} is not open today ({today}).",
            stage=stage,
            today=str(today),
        )


class VersionConflict(DomainError):
    code = "version_conflict"
    text = "The attempt changed in the meantime; read it again and retry."
