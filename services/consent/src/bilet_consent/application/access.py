"""Who may see and change whose consents (object-level authorisation). Pure checks over the
caller's token, the participant's facts and, where it matters, the consent itself.

Two kinds of refusal, so that the answers reveal nothing a caller may not know:
- a role that never has access to a route is refused before anything is looked up (`require_role`:
  403 `forbidden`, the same whether or not the participant or consent exists);
- a scoped role (a school, a region, a guardian's children, a pupil's own id) asking about a
  participant that is not theirs gets `OutOfScope`, which the service answers exactly like a
  participant or consent that does not exist (404 `unknown_participant` / `unknown_consent`).
A caller who may know the consent exists (the guardian of the child, the pupil's school) but may
not see this part of it gets 403 `forbidden`.

Route by route (scope: the participant's, or the consent's):
- submit: the registrar of the pupil's school;
- verify, reject: the operator; the coordinator of the pupil's region;
- withdraw: the guardian (`children`); the pupil's school's registrar, on a written request;
- consent details: the operator and the region's coordinator in full; the pupil's school's
  registrar and the guardian who signed it (`children`, and `guardian_id` = the token's subject)
  with the passport masked;
- document: the operator; the region's coordinator; the registrar of the pupil's current school
  (not the school that uploaded it, once the pupil has moved);
- status: all of the above, the guardian of the child, the school's navigator, the pupil themself;
- the lists (the verification queue, the participants' states): the operator (any school or
  region), the coordinator (their region only), the registrar and the navigator (their school
  only); a filter naming another region or school is 403 `forbidden` (`list_scope`).

Organisers, mentors and support have no route at all; analysts neither, and their refusal says
why (403 `outside_analytics_purpose`: their role is for the pseudonymised export). A guardian's
access comes from the identity provider's `children` claim only: the `guardian_id` a school
enters with a consent names the signer, and grants nothing.
"""

from enum import StrEnum
from typing import Final
from uuid import UUID

from bilet.http.auth import Principal, Role
from bilet_consent.application.errors import AccessDenied, OutsideAnalyticsPurpose
from bilet_consent.application.lists import Scope
from bilet_consent.application.participants import ParticipantFacts
from bilet_consent.domain.consent import Consent

SUBMITTERS: Final = frozenset({Role.REGISTRAR})
VERIFIERS: Final = frozenset({Role.OPERATOR, Role.COORDINATOR})
WITHDRAWERS: Final = frozenset({Role.GUARDIAN, Role.REGISTRAR})
CONSENT_READERS: Final = frozenset({Role.OPERATOR, Role.COORDINATOR, Role.REGISTRAR, Role.GUARDIAN})
DOCUMENT_READERS: Final = frozenset({Role.OPERATOR, Role.COORDINATOR, Role.REGISTRAR})
STATUS_READERS: Final = CONSENT_READERS | {Role.NAVIGATOR, Role.PUPIL}
LIST_READERS: Final = frozenset({Role.OPERATOR, Role.COORDINATOR, Role.REGISTRAR, Role.NAVIGATOR})


class Visibility(StrEnum):
    """How much of a consent's personal data the caller sees."""

    VERIFIER = "verifier"  # everything, to check the document against the form
    PARTY = "party"  # the pupil's school, the guardian who signed: the passport masked


class OutOfScope(Exception):
    """The participant is not the caller's: the service answers as if it did not exist."""


def _same(scope: str | None, value: UUID | None) -> bool:
    return scope is not None and value is not None and scope == str(value)


def is_child(principal: Principal, participant_id: UUID) -> bool:
    return principal.role is Role.GUARDIAN and str(participant_id) in principal.children


def _in_region(principal: Principal, facts: ParticipantFacts) -> bool:
    return principal.role is Role.COORDINATOR and _same(principal.region_id, facts.region_id)


def _of_school(principal: Principal, facts: ParticipantFacts) -> bool:
    return principal.role is Role.REGISTRAR and _same(principal.school_id, facts.school_id)


def require_role(principal: Principal, roles: frozenset[Role], what: str) -> None:
    """Before any lookup: a role that never may do `what` learns nothing else."""
    if principal.role in roles:
        return
    if principal.role is Role.ANALYST:
        raise OutsideAnalyticsPurpose()
    raise AccessDenied(f"The role {principal.role.value} may not {what}.")


def require_submitter(principal: Principal, facts: ParticipantFacts) -> None:
    """Only the registrar of the participant's own school uploads a consent."""
    require_role(principal, SUBMITTERS, "submit consents")
    if not _of_school(principal, facts):
        raise OutOfScope()


def require_verifier(principal: Principal, facts: ParticipantFacts) -> None:
    """The federal operator, or the coordinator of the participant's region."""
    require_role(principal, VERIFIERS, "verify or reject consents")
    if principal.role is Role.OPERATOR or _in_region(principal, facts):
        return
    raise OutOfScope()


def require_withdrawer(principal: Principal, facts: ParticipantFacts) -> None:
    """The guardian of the child, or the registrar of the school (on a written request)."""
    require_role(principal, WITHDRAWERS, "withdraw consents")
    if is_child(principal, facts.participant_id) or _of_school(principal, facts):
        return
    raise OutOfScope()


def consent_reader(principal: Principal, facts: ParticipantFacts, consent: Consent) -> Visibility:
    """A consent's details: the operator and the region's coordinator in full; the pupil's school
    and the guardian who signed it (their children's, and `guardian_id` = their account) with
    the passport masked."""
    require_role(principal, CONSENT_READERS, "see consents")
    if principal.role is Role.OPERATOR or _in_region(principal, facts):
        return Visibility.VERIFIER
    if _of_school(principal, facts):
        return Visibility.PARTY
    if is_child(principal, facts.participant_id):
        if str(consent.guardian_id) == principal.subject:
            return Visibility.PARTY
        raise AccessDenied("Only the guardian who signed a consent sees its details.")
    raise OutOfScope()


def require_document_reader(principal: Principal, facts: ParticipantFacts) -> None:
    """The signed document itself (the guardian's passport is in it): the operator, the
    coordinator of the pupil's current region and the registrar of the pupil's current school.
    A school the pupil left gets the 404 of a stranger, though it uploaded the scan: it keeps
    its paper original and the record of what it submitted, never the pupil's data (ADR 0011).
    Never a guardian (their copy is on paper)."""
    require_role(principal, DOCUMENT_READERS, "download consent documents")
    if principal.role is Role.OPERATOR or _in_region(principal, facts):
        return
    if _of_school(principal, facts):
        return
    raise OutOfScope()


def require_status_reader(principal: Principal, facts: ParticipantFacts) -> None:
    """Whether the participant may take part (no personal data of the guardian): also the
    school's navigator and the pupil themself."""
    require_role(principal, STATUS_READERS, "see consent status")
    if principal.role is Role.OPERATOR or _in_region(principal, facts):
        return
    if _of_school(principal, facts) or is_child(principal, facts.participant_id):
        return
    if principal.role is Role.NAVIGATOR and _same(principal.school_id, facts.school_id):
        return
    if principal.role is Role.PUPIL and principal.participant_id == str(facts.participant_id):
        return
    raise OutOfScope()


def _claimed(value: str | None) -> UUID | None:
    try:
        return None if value is None else UUID(value)
    except ValueError:
        return None


def list_scope(principal: Principal, school_id: UUID | None, region_id: UUID | None) -> Scope:
    """Which participants a list covers: the filters as given for the operator; narrowed to the
    caller's region (coordinator) or school (registrar, navigator), a filter naming another one
    refused (a list has no "does not exist" to hide behind: an empty list would mislead)."""
    require_role(principal, LIST_READERS, "list consents")
    if principal.role is Role.OPERATOR:
        return Scope(school_id, region_id)
    if principal.role is Role.COORDINATOR:
        region = _claimed(principal.region_id)
        if region is None or region_id not in (None, region):
            raise AccessDenied("A coordinator lists the consents of their own region only.")
        return Scope(school_id, region)
    school = _claimed(principal.school_id)
    if school is None or school_id not in (None, school):
        raise AccessDenied("A school lists the consents of its own pupils only.")
    return Scope(school, region_id)
