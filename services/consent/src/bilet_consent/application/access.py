"""Who may see and change whose consents (object-level authorisation). Pure checks over the
caller's token and the participant's facts; every refusal is `AccessDenied` (403 `forbidden`)."""

from enum import StrEnum
from uuid import UUID

from bilet.http.auth import Principal, Role
from bilet_consent.application.errors import AccessDenied
from bilet_consent.application.participants import ParticipantFacts


class Visibility(StrEnum):
    """How much of a consent's personal data the caller sees."""

    VERIFIER = "verifier"  # everything, to check the document against the form
    PARTY = "party"  # the school that uploaded it, the guardian: the passport masked


def _same(scope: str | None, value: UUID | None) -> bool:
    return scope is not None and value is not None and scope == str(value)


def is_child(principal: Principal, participant_id: UUID) -> bool:
    return principal.role is Role.GUARDIAN and str(participant_id) in principal.children


def require_submitter(principal: Principal, facts: ParticipantFacts) -> None:
    """Only the registrar of the participant's own school uploads a consent."""
    if principal.role is not Role.REGISTRAR:
        raise AccessDenied("Only the school's registrar submits consents.")
    if not _same(principal.school_id, facts.school_id):
        raise AccessDenied("The participant is not a pupil of your school.")


def require_verifier(principal: Principal, facts: ParticipantFacts) -> None:
    """The federal operator, or the coordinator of the participant's region."""
    if principal.role is Role.OPERATOR:
        return
    if principal.role is Role.COORDINATOR and _same(principal.region_id, facts.region_id):
        return
    raise AccessDenied("Only the federal operator or the coordinator of the region verifies.")


def require_withdrawer(principal: Principal, facts: ParticipantFacts) -> None:
    """The guardian of the child, or the registrar of the school (on a written request)."""
    if is_child(principal, facts.participant_id):
        return
    if principal.role is Role.REGISTRAR and _same(principal.school_id, facts.school_id):
        return
    raise AccessDenied("Only the guardian, or the school on their written request, withdraws.")


def consent_reader(principal: Principal, facts: ParticipantFacts) -> Visibility:
    """Consents and their documents: the school, the region's coordinator, the operator and the
    guardian. Organisers, mentors, navigators, pupils and the rest never see them."""
    if principal.role is Role.OPERATOR:
        return Visibility.VERIFIER
    if principal.role is Role.COORDINATOR and _same(principal.region_id, facts.region_id):
        return Visibility.VERIFIER
    if principal.role is Role.REGISTRAR and _same(principal.school_id, facts.school_id):
        return Visibility.PARTY
    if is_child(principal, facts.participant_id):
        return Visibility.PARTY
    raise AccessDenied("You may not see this participant's consents.")


def require_status_reader(principal: Principal, facts: ParticipantFacts) -> None:
    """The status (no personal data of the guardian): also the school's navigator and the pupil."""
    if principal.role is Role.NAVIGATOR and _same(principal.school_id, facts.school_id):
        return
    if principal.role is Role.PUPIL and principal.participant_id == str(facts.participant_id):
        return
    consent_reader(principal, facts)
