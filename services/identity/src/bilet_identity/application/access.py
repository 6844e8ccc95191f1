"""Who may do what, object by object (ARCHITECTURE §8): a registrar acts only for their school,
a coordinator only for their region, and a participant outside the caller's scope is answered as
unknown; a guardian sees their children by the `children` claim alone; personal data is shown
only to the roles entitled to it, and health data (a special category) only to the roles that need
it, and to them only while a consent covers it (docs/adr/0019)."""

from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum, StrEnum
from uuid import UUID

from bilet.http.auth import Principal, Role
from bilet_identity.application.consent_state import HEALTH_DATA
from bilet_identity.application.errors import AccessDenied
from bilet_identity.domain.errors import UnknownParticipant
from bilet_identity.domain.participant import Participant

# The roles that may see a participant at all (each within its own scope); any other is refused
# before anything is looked up.
PARTICIPANT_READERS = frozenset(
    {
        Role.OPERATOR,
        Role.REGISTRAR,
        Role.PUPIL,
        Role.GUARDIAN,
        Role.NAVIGATOR,
        Role.COORDINATOR,
        Role.SUPPORT,
    }
)
# The roles that may move a participant or enrol them in a later season (within their scope).
SCHOOL_OR_REGION = (Role.OPERATOR, Role.COORDINATOR, Role.REGISTRAR)


class OutOfScope(AccessDenied):
    """The caller's role may do this, but not for this school, region or participant. Where the
    object is a participant it is answered as unknown (`unknown_if_out_of_scope`): a refusal
    that differs from "no such participant" would tell a stranger that the child exists."""


@contextmanager
def unknown_if_out_of_scope() -> Iterator[None]:
    try:
        yield
    except OutOfScope:
        raise UnknownParticipant() from None


def _same(claim: str | None, value: UUID) -> bool:
    return claim is not None and claim == str(value)


def require_role(principal: Principal, *roles: Role) -> None:
    if principal.role not in roles:
        raise AccessDenied(f"The role {principal.role.value} may not do this.")


def require_registrar_of(principal: Principal, school_id: UUID) -> None:
    require_role(principal, Role.REGISTRAR)
    if not _same(principal.school_id, school_id):
        raise OutOfScope("A registrar acts only for their own school.")


def require_coordinator_of(principal: Principal, region_id: UUID) -> None:
    require_role(principal, Role.COORDINATOR)
    if not _same(principal.region_id, region_id):
        raise OutOfScope("A coordinator acts only for their own region.")


def require_operator_or_coordinator_of(principal: Principal, region_id: UUID) -> None:
    if principal.role is Role.OPERATOR:
        return
    require_coordinator_of(principal, region_id)


def require_school_or_region_of(principal: Principal, participant: Participant) -> None:
    """Moves and enrolments: the participant's school, its regional coordinator, the operator."""
    if principal.role is Role.OPERATOR:
        return
    if principal.role is Role.COORDINATOR:
        require_coordinator_of(principal, participant.region_id)
        return
    require_registrar_of(principal, participant.school_id)


def may_learn_id(principal: Principal, participant: Participant) -> bool:
    """Whether a refused duplicate may name the existing participant to this caller."""
    if principal.role is Role.OPERATOR:
        return True
    if principal.role in (Role.REGISTRAR, Role.NAVIGATOR):
        return _same(principal.school_id, participant.school_id)
    if principal.role is Role.COORDINATOR:
        return _same(principal.region_id, participant.region_id)
    return False


class Visibility(Enum):
    """How much of a participant a caller may see."""

    PSEUDONYMOUS = 1  # ids, school, region, grade (support: never health data, docs/adr/0017)
    PERSONAL = 2  # and ФИО, birth date, СНИЛС, citizenship, home schooling
    # And health data (health limitations, accessibility needs): the role needs it, so it is
    # shown while a verified consent in force covers `health_data` (docs/adr/0019).
    PERSONAL_AND_HEALTH = 3


class HealthWithheld(StrEnum):
    """Why a caller who sees a participant's personal data is not shown their health data."""

    NOT_NEEDED_BY_ROLE = "not_needed_by_role"  # the role has no task that needs it
    NO_HEALTH_CONSENT = "no_health_consent"  # no verified consent in force covers `health_data`


def health_withheld(seen: Visibility, consented_purposes: frozenset[str]) -> HealthWithheld | None:
    """None when health data may be shown: the role needs it and the consent covers it."""
    if seen is not Visibility.PERSONAL_AND_HEALTH:
        return HealthWithheld.NOT_NEEDED_BY_ROLE
    if HEALTH_DATA not in consented_purposes:
        return HealthWithheld.NO_HEALTH_CONSENT
    return None


def visibility(principal: Principal, participant: Participant) -> Visibility:
    """What the caller's role may see of this participant (health data: under a consent too).
    The operator sees personal data without health data: none of its tasks (seasons, regions,
    duplicate reviews, moves) needs a child's health (docs/adr/0019)."""
    role = principal.role
    pid = participant.participant_id
    if role is Role.OPERATOR:
        return Visibility.PERSONAL
    if role is Role.REGISTRAR and _same(principal.school_id, participant.school_id):
        return Visibility.PERSONAL_AND_HEALTH
    if role is Role.PUPIL and _same(principal.participant_id, pid):
        return Visibility.PERSONAL_AND_HEALTH
    # A guardian by the identity provider's `children` claim only: the links a school types in
    # (`profile.guardians`) are claims of the school, shown, never a grant (ADR 0011).
    if role is Role.GUARDIAN and str(pid) in principal.children:
        return Visibility.PERSONAL_AND_HEALTH
    if role is Role.NAVIGATOR and _same(principal.school_id, participant.school_id):
        return Visibility.PERSONAL
    if role is Role.COORDINATOR and _same(principal.region_id, participant.region_id):
        return Visibility.PERSONAL
    if role is Role.SUPPORT:
        return Visibility.PSEUDONYMOUS
    require_role(principal, *PARTICIPANT_READERS)
    raise OutOfScope("You may not see this participant.")
