"""The claims an account's next token carries (docs/adr/0052): composed from the grants in force
and the account's links to a participant (a pupil's own account) or to children (a guardian's).

A grant wins over a link: staff act in their role. Without either, an account signing in through
the pupils' or the parents' portal gets that portal's role alone (`sign_up_role`): a token that
names no participant and no child, good only for redeeming its binding code (docs/adr/0053).
Any other account without either has no claims: the identity provider issues it no token.
"""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from bilet_identity.domain.grants import AccountGrants

PUPIL = "pupil"
GUARDIAN = "guardian"
SIGN_UP_ROLES = (PUPIL, GUARDIAN)  # the portals whose new accounts must redeem a code first


@dataclass(frozen=True, slots=True)
class Claims:
    role: str
    school_id: UUID | None = None
    region_id: UUID | None = None
    venue_id: UUID | None = None
    participant_id: str | None = None
    children: frozenset[str] = frozenset()
    career_event_ids: frozenset[UUID] = frozenset()


def claims_of(
    grants: AccountGrants,
    at: datetime,
    *,
    participant: str | None,
    children: frozenset[str],
    sign_up_role: str | None = None,
) -> Claims | None:
    """The account's claims at `at`; None when it may act for nothing. `sign_up_role` (the
    portal the account signs in through: `pupil` or `guardian`) answers an account with no
    grant and no link: that role and no scope."""
    held = [grant for grant in grants if grant.in_force(at)]
    if held:
        # One role and one scope at a time (`grants.decide`): the first names them; a mentor's
        # several grants add their career events.
        first = held[0]
        return Claims(
            role=first.role.value,
            school_id=first.scope.school_id,
            region_id=first.scope.region_id,
            venue_id=first.scope.venue_id,
            career_event_ids=frozenset(
                g.scope.career_event_id for g in held if g.scope.career_event_id is not None
            ),
        )
    if participant is not None:
        return Claims(role=PUPIL, participant_id=participant)
    if children:
        return Claims(role=GUARDIAN, children=children)
    if sign_up_role is not None:
        if sign_up_role not in SIGN_UP_ROLES:
            raise ValueError(f"not a sign-up portal's role: {sign_up_role}")
        return Claims(role=sign_up_role)
    return None
