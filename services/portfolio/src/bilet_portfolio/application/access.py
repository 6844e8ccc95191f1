"""Who may see which portfolio (ARCHITECTURE §8, issue #7), object by object.

- pupil: their own (token `participant`);
- guardian: their children — the token's `children` claim, or a `GuardianLinked` of the consent
  service naming the token's subject as the guardian (either suffices: the claim is what the
  identity provider knows, the link is what a verified consent proved);
- navigator and registrar: pupils of their school (token `school`): "the school";
- coordinator: pupils of their region (token `region`);
- operator: everyone;
- organiser, mentor, support, analyst: nothing here.

Names (the sealed ФИО) and mentors' comments are opened for the pupil, their guardians, the school
and the region's coordinator; the operator sees the portfolio without them.
"""

from enum import Enum

from bilet.http.auth import Principal, Role
from bilet_portfolio.application.errors import AccessDenied

PORTFOLIO_ROLES = frozenset(
    {Role.PUPIL, Role.GUARDIAN, Role.NAVIGATOR, Role.REGISTRAR, Role.COORDINATOR, Role.OPERATOR}
)
SCHOOL_ROLES = frozenset({Role.NAVIGATOR, Role.REGISTRAR})


class Scope(Enum):
    """Why the caller may see a participant."""

    SELF = "self"
    GUARDIAN = "guardian"
    SCHOOL = "school"
    REGION = "region"
    OPERATOR = "operator"

    @property
    def sees_names(self) -> bool:
        return self is not Scope.OPERATOR


def require_portfolio_role(principal: Principal) -> None:
    if principal.role not in PORTFOLIO_ROLES:
        raise AccessDenied(f"The role {principal.role.value} has no access to portfolios.")


def scope_of(
    principal: Principal,
    participant_id: str,
    school_id: str | None,
    region_id: str | None,
    *,
    linked_guardian: bool = False,
) -> Scope:
    """The caller's scope on this participant, or `AccessDenied`."""
    role = principal.role
    if role is Role.OPERATOR:
        return Scope.OPERATOR
    if role is Role.PUPIL and principal.participant_id == participant_id:
        return Scope.SELF
    if role is Role.GUARDIAN and (participant_id in principal.children or linked_guardian):
        return Scope.GUARDIAN
    if role in SCHOOL_ROLES and school_id is not None and principal.school_id == school_id:
        return Scope.SCHOOL
    if role is Role.COORDINATOR and region_id is not None and principal.region_id == region_id:
        return Scope.REGION
    raise AccessDenied("You may not see this participant's portfolio.")


def scope_on_school(principal: Principal, school_id: str, region_id: str | None) -> Scope:
    """The caller's scope on a school's list, or `AccessDenied`."""
    role = principal.role
    if role is Role.OPERATOR:
        return Scope.OPERATOR
    if role in SCHOOL_ROLES and principal.school_id == school_id:
        return Scope.SCHOOL
    if role is Role.COORDINATOR and region_id is not None and principal.region_id == region_id:
        return Scope.REGION
    raise AccessDenied("You may not see this school's participants.")
