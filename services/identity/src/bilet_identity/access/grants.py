"""The use cases of grants (docs/adr/0052): issue and revoke them, list them by account or by
scope, and compose the claims the identity provider puts into an account's next token.

Commands go through identity's command path (`Transactor`) on the account's grant stream and are
audited. The claims are folded from the account's stream at the moment of the call, never from a
view that could lag: a revocation reaches the very next token.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4

from bilet.application import Attempt, Fold
from bilet.audit import Access
from bilet.http.auth import Principal, Role
from bilet_identity.access.grant_view import GrantsView, HeldGrant
from bilet_identity.access.links import AccountLinks, NoAccountLinks
from bilet_identity.application import access, streams
from bilet_identity.application.base import IdentityCore
from bilet_identity.application.inputs import CommandContext, Committed
from bilet_identity.domain import grants
from bilet_identity.domain.claims import Claims, claims_of
from bilet_identity.domain.grants import AccountGrants, Granter, IssueGrant, RevokeGrant, Scope
from bilet_identity.domain.internal import GrantedRole

GRANT_FIELDS = ("grant",)  # what the audit trail names: the account's grants, no personal data
LINK_FIELDS = ("account_link",)
GRANTERS = (Role.OPERATOR, Role.COORDINATOR, Role.ORGANISER)


def account_grants(subject: str) -> Fold[AccountGrants]:
    return Fold(grants.stream_id(grants.account_id_for(subject)), grants.initial, grants.evolve)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class GrantRequest:
    subject: str
    role: GrantedRole
    scope: Scope
    starts_at: datetime | None = None  # now
    ends_at: datetime | None = None


class AccountAccess:
    """Grants and claims over identity's core (its store, audit trail and catalogue), and the
    account links of pupils and guardians (`AccountLinks`)."""

    def __init__(
        self,
        core: IdentityCore,
        links: AccountLinks | None = None,
        *,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.core = core
        self.links: AccountLinks = links or NoAccountLinks()
        self.clock = clock
        self.view = GrantsView(core.store)

    async def issue_grant(
        self, ctx: CommandContext, request: GrantRequest, grant_id: UUID | None = None
    ) -> Committed:
        access.require_role(ctx.principal, *GRANTERS)
        now = self.clock()
        granter = granter_of(ctx.principal)
        grant_id = grant_id or uuid4()
        fold = account_grants(request.subject)

        async def decide(attempt: Attempt) -> None:
            scope = request.scope
            region = (
                None
                if scope.region_id is None
                else await attempt.state(streams.region(scope.region_id))
            )
            school = (
                None
                if scope.school_id is None
                else await attempt.state(streams.school(scope.school_id))
            )
            command = IssueGrant(
                grant_id,
                request.subject,
                request.role,
                scope,
                request.starts_at or now,
                request.ends_at,
                granter,
                now,
                region=region,
                school=school,
            )
            attempt.append(fold.stream_id, grants.decide(command, await attempt.state(fold)))

        outcome = await self.core.transactor.transact_many(ctx, decide)
        await self.core.audit.record(
            ctx.audit(Access.WRITE, request.subject, "issue_grant", GRANT_FIELDS)
        )
        return Committed.of(outcome, fold.stream_id, grant_id)

    async def revoke_grant(self, ctx: CommandContext, grant_id: UUID) -> Committed:
        access.require_role(ctx.principal, *GRANTERS)
        held = await self.view.grant(grant_id)
        if held is None:
            raise grants.UnknownGrant()
        command = RevokeGrant(grant_id, granter_of(ctx.principal), self.clock())
        fold = account_grants(held.grant.subject)
        outcome = await self.core.transactor.transact(
            ctx, fold, lambda state: grants.decide(command, state)
        )
        await self.core.audit.record(
            ctx.audit(Access.WRITE, held.grant.subject, "revoke_grant", GRANT_FIELDS)
        )
        return Committed.of(outcome, fold.stream_id, grant_id)

    # ------------------------------------------------------------------ queries
    async def grants_of_account(self, principal: Principal, subject: str) -> list[HeldGrant]:
        """The account's grants the caller may see: all of them to the operator and to the
        account itself; those the caller could revoke to a coordinator or an organiser."""
        if principal.subject != subject:
            access.require_role(principal, *GRANTERS)
        found = await self.view.of_account(subject)
        return [held for held in found if _may_see(principal, held)]

    async def grants_in_scope(self, principal: Principal, scope: Scope) -> list[HeldGrant]:
        """The grants of a region, school, venue or career event the caller may see."""
        access.require_role(principal, *GRANTERS)
        found = await self.view.in_scope(scope)
        return [held for held in found if _may_see(principal, held)]

    async def claims(
        self, ctx: CommandContext, subject: str, sign_up_role: str | None = None
    ) -> Claims | None:
        """The claims of the account's next token, for the identity provider alone; None when
        the account may act for nothing (no grant in force, no link, no sign-up portal)."""
        access.require_role(ctx.principal, Role.IDENTITY_PROVIDER)
        held = await self.core.transactor.attempt().state(account_grants(subject))
        participant = await self.links.participant_of(subject)
        children = await self.links.children_of(subject)
        claims = claims_of(
            held,
            self.clock(),
            participant=participant,
            children=children,
            sign_up_role=sign_up_role,
        )
        if claims is not None:
            # Which pupil an account is, and whose guardian, leave for a token: audited.
            linked = ([claims.participant_id] if claims.participant_id else []) + sorted(
                claims.children
            )
            records = [ctx.audit(Access.READ, pid, "account_claims", LINK_FIELDS) for pid in linked]
            await self.core.audit.record(*records)
        return claims


def granter_of(principal: Principal) -> Granter:
    """The caller as a granter: their role and the scope their token names."""
    return Granter(
        principal.subject,
        principal.role.value,
        region_id=_uuid_or_none(principal.region_id),
        venue_id=_uuid_or_none(principal.venue_id),
    )


def _may_see(principal: Principal, held: HeldGrant) -> bool:
    if principal.role is Role.OPERATOR or held.grant.subject == principal.subject:
        return True
    return grants.may_revoke(granter_of(principal), held.grant)


def _uuid_or_none(value: str | None) -> UUID | None:
    if value is None:
        return None
    try:
        return UUID(value)
    except ValueError:
        return None
