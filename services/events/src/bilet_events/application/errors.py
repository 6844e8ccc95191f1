"""Refusals of the application layer (who may, what is known, what other services' facts
allow), with stable codes like the domain's own (`bilet_events.domain.errors`)."""

from uuid import UUID

from bilet_events.domain.errors import DomainError


class AccessDenied(DomainError):
    code = "forbidden"
    text = "You may not do this."


class UnknownParticipant(DomainError):
    """No such participant is known here, or they are not the caller's: both answer alike."""

    code = "unknown_participant"
    text = "No such participant is known to the career events service."


class ParticipantMerged(DomainError):
    """The profile was merged into another one of the same child (docs/adr/0043): nothing new
    is booked under it; the kept profile is named."""

    code = "participant_merged"

    def __init__(self, kept: UUID) -> None:
        super().__init__(
            "This profile was merged into another one of the same child; use the kept profile.",
            kept_participant_id=str(kept),
        )


class ConsentRequired(DomainError):
    code = "consent_required"
    text = (
        "Booking a career event needs a verified guardian's consent in force covering "
        "career events (purpose career_events)."
    )


class SeasonUnknown(DomainError):
    code = "season_unknown"

    def __init__(self, season: int) -> None:
        super().__init__(f"The rules of the season {season} are not known.", season=season)


class VersionConflict(DomainError):
    code = "version_conflict"
    text = "The career event changed in the meantime; read it again and retry."
