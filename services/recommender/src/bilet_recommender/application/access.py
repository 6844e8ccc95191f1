"""Who may do what (object-level authorisation), as pure checks over the caller's token.

Two kinds of refusal, so that the answers reveal nothing a caller may not know:
- a role that never has access to a route is refused before anything is looked up
  (`require_role`: 403 `forbidden`, the same whether or not the participant exists);
- a scoped role asking about a participant who is not theirs gets `UnknownParticipant`, exactly
  like a participant that does not exist (404).

Route by route:
- a participant's recommendations: the pupil, their guardian (`children`), the navigator of
  their school, the coordinator of their region;
- registering, revising, withdrawing an opportunity: the coordinator of its region;
- a region's opportunities: its coordinator; organisers (of any venue: the catalogue is public,
  organisational data);
- a region's insights: its coordinator.
Registrars, mentors, support, analysts and the operator are refused every route (the operator
reads recommendations through the portfolio, without names).
"""

from typing import Final
from uuid import UUID

from bilet.http.auth import Principal, Role
from bilet_recommender.application.errors import AccessDenied

RECOMMENDATION_READERS: Final = frozenset(
    {Role.PUPIL, Role.GUARDIAN, Role.NAVIGATOR, Role.COORDINATOR}
)
OPPORTUNITY_MANAGERS: Final = frozenset({Role.COORDINATOR})
OPPORTUNITY_READERS: Final = frozenset({Role.COORDINATOR, Role.ORGANISER})
INSIGHT_READERS: Final = frozenset({Role.COORDINATOR})


def require_role(principal: Principal, roles: frozenset[Role], what: str) -> None:
    """Before any lookup: a role that never may do `what` learns nothing else."""
    if principal.role not in roles:
        raise AccessDenied(f"The role {principal.role.value} may not {what}.")


def require_region(principal: Principal, region_id: UUID | None, what: str) -> None:
    """A coordinator acts in their own region only (a region is no secret: 403, not 404)."""
    if principal.role is Role.COORDINATOR and principal.region_id != str(region_id):
        raise AccessDenied(f"A coordinator may {what} in their own region only.")


def reads_recommendations_of(
    principal: Principal, participant_id: UUID, school_id: UUID | None, region_id: UUID | None
) -> bool:
    """Whether the participant is the caller's: themself, their child, their school's pupil,
    their region's pupil."""
    match principal.role:
        case Role.PUPIL:
            return principal.participant_id == str(participant_id)
        case Role.GUARDIAN:
            return str(participant_id) in principal.children
        case Role.NAVIGATOR:
            return school_id is not None and principal.school_id == str(school_id)
        case Role.COORDINATOR:
            return region_id is not None and principal.region_id == str(region_id)
        case _:
            return False
