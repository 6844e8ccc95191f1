"""The demo's accounts and their grants (docs/adr/0052): the operator grants the Leningrad oblast
its coordinator; the coordinator grants МОУ «СОШ № 3» its registrar and navigator and the Luga
college (a venue of the career events demo) its organiser; the organiser names the college's
mentor for all its career events.

`make run` prints a development token per role whose claims are composed from these very grants
by the claims endpoint's own rule (`domain.claims.claims_of`), before the server starts; at
start, `load_demo_grants` issues them through the use cases, so the claims endpoint answers the
same for every demo account (a test holds both to it). The pupil's token is the demo pupil's
own account; the operator, support and analyst accounts hold no grant (the provider sets them).
"""

import contextlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final
from uuid import UUID

from bilet.http.auth import Principal, Role
from bilet_identity.access.grants import AccountAccess, GrantRequest
from bilet_identity.application.inputs import CommandContext
from bilet_identity.demo import DEMO_NAMESPACE, FIRST_PUPIL, REGION_ID, SCHOOLS, SEASON
from bilet_identity.domain import grants
from bilet_identity.domain.claims import Claims, claims_of
from bilet_identity.domain.grants import Granter, GrantExists, IssueGrant, Scope
from bilet_identity.domain.internal import GrantedRole
from bilet_identity.domain.region import Region
from bilet_identity.domain.school import School

# The career events demo's ids, derived as it derives them (bilet_events.demo_offers): identity
# does not import another service; a host test checks they are the same.
EVENTS_DEMO_NAMESPACE: Final = UUID("8e3b1c5a-4f2d-5a6e-9b7c-1d0e2f3a4b5c")
DEMO_COLLEGE: Final = uuid.uuid5(EVENTS_DEMO_NAMESPACE, "organiser:college")
DEMO_MENTOR: Final = uuid.uuid5(EVENTS_DEMO_NAMESPACE, "mentor:college")
GRANTED_FROM: Final = datetime(SEASON, 9, 1, tzinfo=UTC)
# The identity provider is a client, not an account of the demo: no token is printed for it.
NOT_PRINTED: Final = frozenset({Role.IDENTITY_PROVIDER})


def subject_of(role: Role) -> str:
    """The demo account of a role (the mentor's is their mentor id, as career events reads it)."""
    return str(DEMO_MENTOR) if role is Role.MENTOR else f"demo-{role.value}"


@dataclass(frozen=True, slots=True)
class DemoGrant:
    role: GrantedRole
    scope: Scope
    granter: Granter

    @property
    def subject(self) -> str:
        return subject_of(Role(self.role.value))

    @property
    def grant_id(self) -> UUID:
        return uuid.uuid5(DEMO_NAMESPACE, f"grant:{self.subject}:{self.role.value}")


_OPERATOR: Final = Granter(subject_of(Role.OPERATOR), Role.OPERATOR.value)
_COORDINATOR: Final = Granter(
    subject_of(Role.COORDINATOR), Role.COORDINATOR.value, region_id=REGION_ID
)
_ORGANISER: Final = Granter(subject_of(Role.ORGANISER), Role.ORGANISER.value, venue_id=DEMO_COLLEGE)
_SCHOOL: Final = Scope(school_id=SCHOOLS[0].school_id)

DEMO_GRANTS: Final = (
    DemoGrant(GrantedRole.COORDINATOR, Scope(region_id=REGION_ID), _OPERATOR),
    DemoGrant(GrantedRole.REGISTRAR, _SCHOOL, _COORDINATOR),
    DemoGrant(GrantedRole.NAVIGATOR, _SCHOOL, _COORDINATOR),
    DemoGrant(GrantedRole.ORGANISER, Scope(venue_id=DEMO_COLLEGE), _COORDINATOR),
    DemoGrant(GrantedRole.MENTOR, Scope(), _ORGANISER),
)


def _granted(demo: DemoGrant, at: datetime) -> grants.AccountGrants:
    """The account's grants as the decider issues the demo's grant (no store needed)."""
    region = Region(REGION_ID, "47", "", "Europe/Moscow", "", frozenset({SEASON}))
    school = School(SCHOOLS[0].school_id, REGION_ID, SCHOOLS[0].name, "")
    command = IssueGrant(
        demo.grant_id,
        demo.subject,
        demo.role,
        demo.scope,
        GRANTED_FROM,
        None,
        demo.granter,
        at,
        region=region,
        school=school,
    )
    state = grants.initial
    for event in grants.decide(command, state):
        state = grants.evolve(state, event)
    return state


def demo_claims(at: datetime | None = None) -> list[tuple[Role, str, Claims | None]]:
    """Per role, the demo account and the claims the claims endpoint gives it."""
    at = at or datetime.now(UTC)
    by_role = {Role(g.role.value): g for g in DEMO_GRANTS}
    out: list[tuple[Role, str, Claims | None]] = []
    for role in Role:
        if role in NOT_PRINTED:
            continue
        granted = _granted(by_role[role], at) if role in by_role else grants.initial
        # The demo pupil's own account, and a guardian of the demo pupil (the links of
        # docs/adr/0053); the host names the consent demo's guardian instead.
        participant = str(FIRST_PUPIL) if role is Role.PUPIL else None
        children = frozenset({str(FIRST_PUPIL)}) if role is Role.GUARDIAN else frozenset()
        claims = claims_of(granted, at, participant=participant, children=children)
        out.append((role, subject_of(role), claims))
    return out


def token_scopes(at: datetime | None = None) -> list[tuple[Role, dict[str, str | list[str]]]]:
    """A ready token's scopes per role for the demo data: what `bvb run` prints."""
    return [(role, scopes_of(claims)) for role, _, claims in demo_claims(at)]


def scopes_of(claims: Claims | None) -> dict[str, str | list[str]]:
    """The scope claims of a token, as the tokens name them."""
    if claims is None:
        return {}
    scopes: dict[str, str | list[str]] = {}
    for name, value in (
        ("school", claims.school_id),
        ("region", claims.region_id),
        ("venue", claims.venue_id),
        ("participant", claims.participant_id),
    ):
        if value is not None:
            scopes[name] = str(value)
    if claims.children:
        scopes["children"] = sorted(claims.children)
    return scopes


async def load_demo_grants(access: AccountAccess) -> None:
    """Issue the demo's grants, once (the region and schools are loaded first)."""
    for demo in DEMO_GRANTS:
        principal = Principal(
            subject=demo.granter.subject,
            role=Role(demo.granter.role),
            region_id=None if demo.granter.region_id is None else str(demo.granter.region_id),
            venue_id=None if demo.granter.venue_id is None else str(demo.granter.venue_id),
        )
        request = GrantRequest(demo.subject, demo.role, demo.scope, starts_at=GRANTED_FROM)
        with contextlib.suppress(GrantExists):
            await access.issue_grant(CommandContext(principal, "demo-data"), request, demo.grant_id)
