"""Refusals of the application layer (who may, what is known, what a consent allows), with
stable codes like the domain's own (`bilet_recommender.domain.errors`)."""

from bilet_recommender.domain.errors import DomainError


class AccessDenied(DomainError):
    code = "forbidden"

    def __init__(self, message: str = "You may not do this.") -> None:
        super().__init__(message)


class UnknownParticipant(DomainError):
    """No such participant is known here, or they are not the caller's: both answer alike."""

    code = "unknown_participant"

    def __init__(self) -> None:
        super().__init__("No such participant is known to the recommender.")


class ParticipantErased(DomainError):
    code = "participant_erased"

    def __init__(self) -> None:
        super().__init__("The participant's data was destroyed: nothing is recommended.")


class ConsentRequired(DomainError):
    """No verified consent covering `recommendations` is in force: nothing is shown (and
    nothing new is computed) until there is one again."""

    code = "consent_required"

    def __init__(self) -> None:
        super().__init__(
            "Recommendations are shown only while a verified consent covering recommendations "
            "(purpose recommendations) is in force."
        )


class VersionConflict(DomainError):
    code = "version_conflict"

    def __init__(self) -> None:
        super().__init__("The opportunity changed in the meantime; read it again and retry.")
