"""Who may do what with whose attempts and results (object-level authorisation), as pure checks
over the caller's token and the participant's facts.

Two kinds of refusal, so that the answers reveal nothing a caller may not know:
- a role that never has access to a route is refused before anything is looked up
  (`require_role`: 403 `forbidden`, the same whether or not the participant or attempt exists);
- a scoped role asking about a participant who is not theirs gets `OutOfScope`, answered exactly
  like a participant or attempt that does not exist (404 `unknown_participant` /
  `unknown_attempt`).

Route by route:
- start a stage: the pupil themself (`participant`), or the navigator of the pupil's school on
  their behalf (`school`);
- read an attempt: the pupil (with their answers) and the school's navigator (which items are
  answered, not how);
- save an answer, complete: the pupil only: the answers are theirs;
- results: the pupil, their guardian (`children`), the navigator of their school, the coordinator
  of their region and the federal operator, as the portfolio shows them;
- the instruments: every role (no personal data).
Registrars, organisers, mentors, support and analysts never see an attempt or a result.
"""

from typing import Final

from bilet.http.auth import Principal, Role
from bilet_diagnostics.application.errors import AccessDenied
from bilet_diagnostics.application.facts import Pupil

STARTERS: Final = frozenset({Role.PUPIL, Role.NAVIGATOR})
ATTEMPT_READERS: Final = frozenset({Role.PUPIL, Role.NAVIGATOR})
TAKERS: Final = frozenset({Role.PUPIL})
RESULT_READERS: Final = frozenset(
    {Role.PUPIL, Role.GUARDIAN, Role.NAVIGATOR, Role.COORDINATOR, Role.OPERATOR}
)


class OutOfScope(Exception):
    """The participant is not the caller's: the service answers as if it did not exist."""


def require_role(principal: Principal, roles: frozenset[Role], what: str) -> None:
    """Before any lookup: a role that never may do `what` learns nothing else."""
    if principal.role not in roles:
        raise AccessDenied(f"The role {principal.role.value} may not {what}.")


def is_self(principal: Principal, participant_id: object) -> bool:
    return principal.role is Role.PUPIL and principal.participant_id == str(participant_id)


def in_scope(principal: Principal, pupil: Pupil) -> bool:
    """Whether `pupil` is the caller's: themself, their child, their school's, their region's,
    or (the operator) anyone's."""
    match principal.role:
        case Role.PUPIL:
            return is_self(principal, pupil.participant_id)
        case Role.GUARDIAN:
            return str(pupil.participant_id) in principal.children
        case Role.NAVIGATOR:
            return principal.school_id == str(pupil.school_id)
        case Role.COORDINATOR:
            return principal.region_id == str(pupil.region_id)
        case Role.OPERATOR:
            return True
        case _:
            return False


def require_scope(principal: Principal, pupil: Pupil) -> None:
    if not in_scope(principal, pupil):
        raise OutOfScope()


def sees_answers(principal: Principal, participant_id: object) -> bool:
    """Only the pupil sees how they answered; the navigator sees which items are answered."""
    return is_self(principal, participant_id)
