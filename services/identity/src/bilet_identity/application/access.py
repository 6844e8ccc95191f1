"""Who may do what, object by object (ARCHITECTURE §8): a registrar acts only for their school,
a coordinator only for their region; personal data is shown only to the roles entitled to it,
and health limitations (a special category) to fewer of them still."""

from enum import Enum
from uuid import UUID

from bilet.http.auth import Principal, Role
from bilet_identity.application.errors import AccessDenied
from bilet_identity.domain.participant import Participant
from bilet_identity.domain.profile import Profile


def _same(claim: str | None, value: UUID) -> bool:
    return claim is not None and claim == str(value)


def require_role(principal: Principal, *roles: Role) -> None:
    if principal.role not in roles:
        raise AccessDenied(f"The role {principal.role.value} may not do this.")


def require_registrar_of(principal: Principal, school_id: UUID) -> None:
    require_role(principal, Role.REGISTRAR)
    if not _same(principal.school_id, school_id):
        raise AccessDenied("A registrar acts only for their own school.")


def require_coordinator_of(principal: Principal, region_id: UUID) -> None:
    require_role(principal, Role.COORDINATOR)
    if not _same(principal.region_id, region_id):
        raise AccessDenied("A coordinator acts only for their own region.")


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

    PSEUDONYMOUS = 1  # ids, school, region, grade, accessibility needs
    PERSONAL = 2  # and ФИО, birth date, СНИЛС, citizenship, home schooling
    PERSONAL_AND_HEALTH = 3  # and health limitations (ОВЗ)


def visibility(
    principal: Principal, participant: Participant, profile: Profile | None
) -> Visibility:
    role = principal.role
    pid = participant.participant_id
    if role is Role.OPERATOR:
        return Visibility.PERSONAL_AND_HEALTH
    if role is Role.REGISTRAR and _same(principal.school_id, participant.school_id):
        return Visibility.PERSONAL_AND_HEALTH
    if role is Role.PUPIL and _same(principal.participant_id, pid):
        return Visibility.PERSONAL_AND_HEALTH
    if role is Role.GUARDIAN:
        linked = profile is not None and any(
            _same(principal.subject, g.guardian_id) for g in profile.guardians
        )
        if str(pid) in principal.children or linked:
            return Visibility.PERSONAL_AND_HEALTH
    if role is Role.NAVIGATOR and _same(principal.school_id, participant.school_id):
        return Visibility.PERSONAL
    if role is Role.COORDINATOR and _same(principal.region_id, participant.region_id):
        return Visibility.PERSONAL
    if role is Role.SUPPORT:
        return Visibility.PSEUDONYMOUS
    raise AccessDenied("You may not see this participant.")
