"""Who may see which portfolio (ARCHITECTURE §8, issue #7), object by object.

- pupil: their own (token `participant`);
- guardian: the children the identity provider names in the token's `children` claim — and only
  those. A `GuardianLinked` of the consent service grants nothing: its guardian id comes from
  the consent form a school registrar uploaded, so honouring it would let a registrar bind any
  account to any pupil. Linked guardians are shown on the portfolio, nothing more;
- navigator: the portfolios of their school's pupils (token `school`);
- registrar: of their school's pupils, the consent state only (as for a closed portfolio);
- coordinator: pupils of their region (token `region`);
- operator: everyone;
- organiser, mentor, support, analyst: nothing here (403 before anything is looked up).

A caller with a scoped role asking for a participant who is not theirs gets the answer a
participant who does not exist gets (404 `unknown_participant`): whether an id exists is not
for them to learn.

Names (the sealed ФИО) and mentors' comments are opened for the pupil, their guardians, the
navigator and the region's coordinator; the operator sees the portfolio without them.
"""

from dataclasses import dataclass
from enum import Enum

from bilet.http.auth import Principal, Role
from bilet_portfolio.application.errors import AccessDenied, UnknownParticipant
from bilet_portfolio.domain.consent import ConsentState

PORTFOLIO_ROLES = frozenset(
    {Role.PUPIL, Role.GUARDIAN, Role.NAVIGATOR, Role.REGISTRAR, Role.COORDINATOR, Role.OPERATOR}
)
SCHOOL_ROLES = frozenset({Role.NAVIGATOR, Role.REGISTRAR})
LIST_ROLES = frozenset({*SCHOOL_ROLES, Role.COORDINATOR, Role.OPERATOR})


class Scope(Enum):
    """Why the caller may see a participant, and so how much."""

    SELF = "self"
    GUARDIAN = "guardian"
    SCHOOL = "school"  # the navigator
    REGISTRAR = "registrar"  # the school's registrar: the consent alone
    REGION = "region"
    OPERATOR = "operator"

    @property
    def sees_names(self) -> bool:
        return self not in (Scope.OPERATOR, Scope.REGISTRAR)

    @property
    def sees_portfolio(self) -> bool:
        """Whether an open portfolio is shown (else the consent alone)."""
        return self is not Scope.REGISTRAR

    @property
    def sees_closed(self) -> bool:
        """Whether the consent state of a closed portfolio is shown (else `consent_required`)."""
        return self in (Scope.SCHOOL, Scope.REGISTRAR)


@dataclass(frozen=True, slots=True)
class Decision:
    """What a caller sees of one pupil: the scope, the consent state on the day, and whether the
    consent opens the portfolio. The portfolio and every list row are decided alike
    (`PortfolioQueries._decide`)."""

    scope: Scope
    state: ConsentState
    open: bool

    @property
    def shows_portfolio(self) -> bool:
        return self.open and self.scope.sees_portfolio


def unknown_participant() -> UnknownParticipant:
    return UnknownParticipant("No participant with this id is known to the portfolio.")


def require_portfolio_role(principal: Principal) -> None:
    if principal.role not in PORTFOLIO_ROLES:
        raise AccessDenied(f"The role {principal.role.value} has no access to portfolios.")


def require_list_role(principal: Principal) -> None:
    if principal.role not in LIST_ROLES:
        raise AccessDenied("Only the school, its region's coordinator and the operator.")


def scope_of(
    principal: Principal, participant_id: str, school_id: str | None, region_id: str | None
) -> Scope:
    """The caller's scope on this participant; `UnknownParticipant` when they have none (the
    same answer as for an id nobody has)."""
    role = principal.role
    if role is Role.OPERATOR:
        return Scope.OPERATOR
    if role is Role.PUPIL and principal.participant_id == participant_id:
        return Scope.SELF
    if role is Role.GUARDIAN and participant_id in principal.children:
        return Scope.GUARDIAN
    if role in SCHOOL_ROLES and school_id is not None and principal.school_id == school_id:
        return Scope.SCHOOL if role is Role.NAVIGATOR else Scope.REGISTRAR
    if role is Role.COORDINATOR and region_id is not None and principal.region_id == region_id:
        return Scope.REGION
    raise unknown_participant()


def scope_on_school(principal: Principal, school_id: str, region_id: str | None) -> Scope:
    """The caller's scope on a school's list, or `AccessDenied`."""
    role = principal.role
    if role is Role.OPERATOR:
        return Scope.OPERATOR
    if role in SCHOOL_ROLES and principal.school_id == school_id:
        return Scope.SCHOOL if role is Role.NAVIGATOR else Scope.REGISTRAR
    if role is Role.COORDINATOR and region_id is not None and principal.region_id == region_id:
        return Scope.REGION
    raise AccessDenied("You may not see this school's participants.")
