"""The claims an account's next token carries (docs/adr/0052): composed from the grants in force
and the account's links to a participant (a pupil's own account) or to children (a guardian's).

A grant wins over a link: staff act in their role. Without either, the account has no claims
and the identity provider issues it no token for the platform.
"""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from bilet_identity.domain.grants import AccountGrants

PUPIL = "pupil"
GUARDIAN = "guardian"


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
    grants: AccountGrants, at: datetime, *, participant: str | None, children: frozenset[str]
) -> Claims | None:
    """The account's claims at `at`; None when it may act for nothing."""
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
    return None
