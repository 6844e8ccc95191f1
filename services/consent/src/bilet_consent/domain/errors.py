"""Refusals of the consent rules. Each has a stable `code`, the same in the API's problem+json."""

from bilet.errors import DomainError as RuleRefusal


class DomainError(RuleRefusal):
    """A refusal of the consent service's rules or of its application layer: the
    refusals its API answers as problems."""


class InvalidGuardian(DomainError):
    """A detail of the signer (name, passport, authority, contact) is malformed."""

    code = "invalid_guardian"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field=field)


class InvalidConsent(DomainError):
    """The consent's own terms do not hold (purposes, period, form version)."""

    code = "invalid_consent"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field=field)


class AuthorityRequired(DomainError):
    code = "authority_required"

    def __init__(self) -> None:
        super().__init__(
            "A custodian or curator signs with the act of their appointment: give its document, "
            "number and date.",
            field="guardian.authority",
        )


class ConsentExists(DomainError):
    code = "consent_exists"
    text = "A consent with this id was already submitted."


class UnknownConsent(DomainError):
    code = "unknown_consent"
    text = "No consent with this id."


class ConsentNotPending(DomainError):
    """Only a submitted consent that nobody has decided on can be verified or rejected."""

    code = "consent_not_pending"

    def __init__(self, status: str) -> None:
        super().__init__(f"The consent is {status}: it is no longer waiting for a decision.")


class ConsentNotInForce(DomainError):
    code = "consent_not_in_force"

    def __init__(self, status: str) -> None:
        super().__init__(f"The consent is {status}: there is nothing to withdraw.")


class ConsentExpired(DomainError):
    code = "consent_expired"
    text = "The consent's validity period has ended: ask for a new one."


class PurposeNotConsented(DomainError):
    code = "purpose_not_consented"

    def __init__(self, purposes: list[str]) -> None:
        super().__init__(
            "The consent does not (or no longer) allow these purposes.", purposes=purposes
        )


class ErasureScheduled(DomainError):
    """After a withdrawal the participant's data is to be destroyed: no new consent until then."""

    code = "erasure_scheduled"

    def __init__(self, erase_by: str) -> None:
        super().__init__(
            "The consent was withdrawn and the participant's data is scheduled for destruction.",
            erase_by=erase_by,
        )


class ParticipantErasedError(DomainError):
    code = "participant_erased"
    text = "The participant's personal data was destroyed."


class ErasureNotDue(DomainError):
    code = "erasure_not_due"
    text = "No destruction of this participant's data is due."
