"""Refusals of the application layer (who may do what, what is known, documents), with stable
codes like the domain's own (`bilet_consent.domain.errors`)."""

from uuid import UUID

from bilet_consent.domain.errors import DomainError


class AccessDenied(DomainError):
    code = "forbidden"
    text = "You may not access this."


class UnknownParticipant(DomainError):
    """The participant is not (yet) known here: identity's events have not arrived, or there is
    no such participant. A `BVB-Position` token from identity makes the service wait for them."""

    code = "unknown_participant"
    text = (
        "No such participant is known to the consent service. If identity registered them "
        "just now, send its BVB-Position token with the request."
    )


class VersionConflict(DomainError):
    code = "version_conflict"
    text = "The consents changed in the meantime; read them again and retry."


class DocumentCheckBusy(DomainError):
    """Every document sandbox is busy and enough uploads already wait: nothing was looked at or
    stored; send it again in a little while."""

    code = "document_check_busy"
    text = "Too many documents are being checked right now; send this one again in a minute."


class UnsupportedDocument(DomainError):
    code = "unsupported_document_type"
    text = (
        "The document is not a PDF, JPEG or PNG (its content decides, not its name or "
        "declared type). Upload the scan or the PDF of the signed form."
    )


class UnacceptableDocument(DomainError):
    """The file is (by its first bytes) a PDF, JPEG or PNG, but not a sound one: damaged, with
    something hidden behind or inside it, or (a PDF) with active content. The detail says what,
    in words a school can act on."""

    code = "unsupported_document"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)


class DocumentTooLarge(DomainError):
    code = "document_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"The document exceeds {limit} bytes.", limit=limit)


class EmptyDocument(DomainError):
    code = "empty_document"
    text = "The document is empty."


class DocumentGone(DomainError):
    code = "document_gone"
    text = "The document was destroyed with the participant's data."


class WrittenRequestRequired(DomainError):
    code = "written_request_required"

    def __init__(self) -> None:
        super().__init__(
            "A school withdraws a consent only on the guardian's written request: give its "
            "registration number and date.",
            field="request",
        )


class OutsideAnalyticsPurpose(AccessDenied):
    """An analyst on a route of consent: the role exists for pseudonymised analytics, which works
    on the export of participants whose consent covers `pseudonymised_analytics`; no consent, no
    document and no participant's status is part of it. The code names that purpose, so a client
    tells "not what your role is for" from a scope it lacks."""

    code = "outside_analytics_purpose"
    text = (
        "Analysts work with the pseudonymised analytics export (participants whose consent "
        "covers `pseudonymised_analytics`); consent records are not part of it."
    )


class InvalidCursor(DomainError):
    """A list's `cursor` that no page gave: malformed, or out of range."""

    code = "invalid_cursor"

    def __init__(self) -> None:
        super().__init__(
            "The cursor is not one a page of this list gave: pass `next_cursor` back as it is, "
            "or start again without it.",
            field="cursor",
        )


class ParticipantMerged(DomainError):
    """The profile was merged into another one of the same child (docs/adr/0043): no consent
    is submitted under it; the kept profile is named."""

    code = "participant_merged"

    def __init__(self, kept: UUID) -> None:
        super().__init__(
            "This profile was merged into another one of the same child; submit the consent "
            "for the kept profile.",
            kept_participant_id=str(kept),
        )


class StaleVersion(DomainError):
    """`If-Match` named a version of the participant's consents that is no longer the current
    one: something changed since the caller read it (nothing was done)."""

    code = "stale_version"

    def __init__(self, expected: int, current: int) -> None:
        super().__init__(
            "The consents changed since you read them (version "
            f"{expected}, now {current}): read the consent again and decide on what it says now.",
            expected_version=expected,
            current_version=current,
        )
