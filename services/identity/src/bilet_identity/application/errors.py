"""Refusals of the application layer (who may do what, concurrency), with stable codes like the
domain's own (`bilet_identity.domain.errors`)."""

from uuid import UUID

from bilet_identity.domain.errors import DomainError


class AccessDenied(DomainError):
    code = "forbidden"

    def __init__(self, message: str = "You may not access this.") -> None:
        super().__init__(message)


class VersionConflict(DomainError):
    code = "version_conflict"

    def __init__(self, expected: int | None = None, actual: int | None = None) -> None:
        super().__init__(
            "The participant changed in the meantime; read it again and retry.",
            expected_version=expected,
            actual_version=actual,
        )


class StaleVersion(DomainError):
    """`If-Match` named a version of the participant that is no longer the current one: it
    changed since the caller read it (nothing was done). 412, as in every service
    (docs/adr/0050); `version_conflict` (409) stays for writers racing past the retries."""

    code = "stale_version"

    def __init__(self, expected: int, current: int | None) -> None:
        super().__init__(
            f"The participant changed since you read it (version {expected}, now {current}): "
            "read it again and correct what it says now.",
            expected_version=expected,
            current_version=current,
        )


class DuplicateRefused(DomainError):
    """A second profile of one child was refused; `existing` is named only to callers who may
    see that participant (their school, their region, the federal operator)."""

    def __init__(self, code: str, message: str, existing: UUID | None) -> None:
        super().__init__(message)
        self.code = code
        self.existing = existing


class ParticipantErasedError(DomainError):
    code = "participant_erased"

    def __init__(self) -> None:
        super().__init__("The participant's personal data was erased.")


class UnknownPositionSource(DomainError):
    """A `BVB-Position` token of a service no read of identity is built from."""

    code = "invalid_position_token"

    def __init__(self, token: str) -> None:
        super().__init__(
            "Identity's reads follow identity's and the consent service's commands only.",
            token=token,
        )


class NotYetVisible(DomainError):
    """A consent command the caller named (`BVB-Position`) was not applied within the wait:
    answering now could show health data whose consent was just withdrawn."""

    code = "not_yet_visible"

    def __init__(self, token: str, waited: float) -> None:
        super().__init__(
            f"Identity had not applied {token} after {waited:g} s; ask again shortly.",
            token=token,
        )
