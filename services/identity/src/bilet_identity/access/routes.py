"""The routes of grants and of account claims (docs/adr/0052): `/v1/grants` (issue, revoke, list
by account or by scope) and `/v1/accounts/{subject}/claims` for the identity provider."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from pydantic import AwareDatetime, BaseModel, Field

from bilet.http.context import Context
from bilet_identity.access.grant_view import HeldGrant
from bilet_identity.access.grants import AccountAccess, GrantRequest
from bilet_identity.api.models import Request as RequestModel
from bilet_identity.api.problems import problems
from bilet_identity.api.routes.common import answer_position
from bilet_identity.domain.errors import DomainError
from bilet_identity.domain.grants import Scope
from bilet_identity.domain.internal import GrantedRole

router = APIRouter(prefix="/v1")

# Identity providers' subjects (Keycloak's UUIDs, ЕСИА's numbers, opaque ids) are visible ASCII;
# the schema says so, so no request the document admits is refused by the text guard.
SUBJECT_PATTERN = r"^[!-~]{1,200}$"

AccountId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        pattern=SUBJECT_PATTERN,
        description="The account's opaque id at the identity provider (the tokens' `sub`).",
    ),
]


async def _access(request: Request) -> AccountAccess:
    access: AccountAccess = request.app.state.account_access
    return access


Access = Annotated[AccountAccess, Depends(_access)]


class NoFilter(DomainError):
    code = "invalid_query"

    def __init__(self) -> None:
        super().__init__("Name an account or at least one of region, school, venue, career event.")


class NoClaims(DomainError):
    code = "no_claims"

    def __init__(self) -> None:
        super().__init__("The account holds no grant in force and no link: issue it no token.")


class SignUpPortal(StrEnum):
    """The portals whose new accounts sign up before they are bound (docs/adr/0053)."""

    PUPIL = "pupil"
    GUARDIAN = "guardian"


class IssueGrantRequest(RequestModel):
    """A grant: the role and its scope. A coordinator's scope is `region_id`; a registrar's
    and a navigator's `school_id`; an organiser's `venue_id`; a mentor's a `career_event_id`
    of the organiser's venue, or none (all the venue's career events)."""

    account: AccountId
    role: GrantedRole
    region_id: UUID | None = None
    school_id: UUID | None = None
    venue_id: UUID | None = None
    career_event_id: UUID | None = None
    starts_at: AwareDatetime | None = Field(default=None, description="Omitted: now.")
    ends_at: AwareDatetime | None = Field(
        default=None, description="After `starts_at` and in the future; omitted: until revoked."
    )

    def to_request(self) -> GrantRequest:
        scope = Scope(self.region_id, self.school_id, self.venue_id, self.career_event_id)
        return GrantRequest(self.account, self.role, scope, self.starts_at, self.ends_at)


class GrantChangedResponse(BaseModel):
    grant_id: UUID
    position: int = Field(description="The read-your-writes position (also in `BVB-Position`).")


class GrantModel(BaseModel):
    grant_id: UUID
    account: str
    role: GrantedRole
    region_id: UUID | None
    school_id: UUID | None
    venue_id: UUID | None
    career_event_id: UUID | None
    starts_at: datetime
    ends_at: datetime | None
    granted_by: str = Field(description="The account that issued it.")
    revoked_at: datetime | None

    @classmethod
    def of(cls, held: HeldGrant) -> "GrantModel":
        grant = held.grant
        return cls(
            grant_id=grant.grant_id,
            account=grant.subject,
            role=grant.role,
            region_id=grant.scope.region_id,
            school_id=grant.scope.school_id,
            venue_id=grant.scope.venue_id,
            career_event_id=grant.scope.career_event_id,
            starts_at=grant.starts_at,
            ends_at=grant.ends_at,
            granted_by=grant.granted_by,
            revoked_at=grant.revoked_at,
        )


class ClaimsModel(BaseModel):
    """The claims of the account's next token, in the tokens' own names."""

    role: str = Field(description="The tokens' `role`.")
    school: UUID | None = None
    region: UUID | None = None
    venue: UUID | None = None
    participant: UUID | None = None
    children: list[UUID] = Field(default_factory=list)
    career_events: list[UUID] = Field(
        default_factory=list, description="A mentor's career events (empty: none named)."
    )


@router.post(
    "/grants",
    name="issue_grant",
    tags=["access"],
    status_code=status.HTTP_201_CREATED,
    summary="Grant an account a role for a region, school, venue or career event",
    responses=problems(403, 404, 409, 422),
)
async def issue_grant(
    body: IssueGrantRequest, access: Access, context: Context, response: Response
) -> GrantChangedResponse:
    """Issue a grant: from `starts_at` (now) to `ends_at` (until revoked) the account's tokens
    carry the role and its scope (`GET /v1/accounts/{subject}/claims`). Audited.

    **Who:** the federal operator grants coordinators their region; a coordinator grants
    registrars and navigators a school of their region and organisers a venue; an organiser
    names mentors for their venue's career events. An account holds one role and scope at a
    time (a mentor: several career events of one venue).

    **Refusals:** 403 `forbidden` (a role that grants nothing), `grant_not_allowed` (beyond the
    caller's authority: another region, another venue, a role they may not grant); 404
    `unknown_region`, `school_not_found`; 409 `grant_exists` (the account holds it already),
    `conflicting_grant` (the account holds another role or scope in force or to come),
    `version_conflict`; 422 `invalid_grant` (the scope or the period does not fit the role),
    `invalid_request`.
    """
    committed = await access.issue_grant(context, body.to_request())
    assert committed.id is not None
    return GrantChangedResponse(
        grant_id=committed.id, position=answer_position(response, committed.position)
    )


@router.post(
    "/grants/{grant_id:uuid}/revocation",
    name="revoke_grant",
    tags=["access"],
    summary="Revoke a grant: the account's next token no longer carries it",
    responses=problems(403, 404, 409),
)
async def revoke_grant(
    grant_id: UUID, access: Access, context: Context, response: Response
) -> GrantChangedResponse:
    """Revoke a grant now; the identity provider's next call for the account's claims no longer
    finds it (tokens already issued live out their short lifetime). Revoking a revoked grant
    changes nothing. Audited.

    **Who:** the federal operator (any grant); a coordinator (the registrars, navigators and
    organisers of their region); an organiser (the mentors of their venue).

    **Refusals:** 403 `forbidden` (a role that grants nothing), `grant_not_allowed` (a grant
    outside the caller's authority); 404 `unknown_grant`; 409 `version_conflict`.
    """
    committed = await access.revoke_grant(context, grant_id)
    return GrantChangedResponse(
        grant_id=grant_id, position=answer_position(response, committed.position)
    )


@router.get(
    "/grants",
    name="list_grants",
    tags=["access"],
    summary="Grants of an account, or within a region, school, venue or career event",
    responses=problems(403),
)
async def list_grants(
    access: Access,
    context: Context,
    account: Annotated[
        str | None, Query(min_length=1, max_length=200, pattern=SUBJECT_PATTERN)
    ] = None,
    region_id: UUID | None = None,
    school_id: UUID | None = None,
    venue_id: UUID | None = None,
    career_event_id: UUID | None = None,
) -> list[GrantModel]:
    """Grants, revoked and ended ones included, oldest first: of `account`, or within every
    scope id given (a region's include its schools' and venues'). At least one filter.

    **Who:** the federal operator sees all; a coordinator the grants of their region they may
    revoke; an organiser the mentors of their venue; any account its own grants (`account` =
    its own id). Other grants are left out, never refused one by one.

    **Refusals:** 400 `invalid_query` (no filter); 403 `forbidden` (a role that grants
    nothing, asking for another account's or a scope's grants).
    """
    principal = context.principal
    if account is not None:
        found = await access.grants_of_account(principal, account)
        scope = Scope(region_id, school_id, venue_id, career_event_id)
        found = [h for h in found if h.grant.scope.within(scope)]
    elif any(i is not None for i in (region_id, school_id, venue_id, career_event_id)):
        scope = Scope(region_id, school_id, venue_id, career_event_id)
        found = await access.grants_in_scope(principal, scope)
    else:
        raise NoFilter()
    return [GrantModel.of(held) for held in found]


@router.get(
    "/accounts/{subject}/claims",
    name="account_claims",
    tags=["access"],
    summary="The claims of an account's next token (the identity provider only)",
    responses=problems(403, 404, 422),
)
async def account_claims(
    subject: Annotated[str, Path(min_length=1, max_length=200, pattern=SUBJECT_PATTERN)],
    access: Access,
    context: Context,
    portal: Annotated[
        SignUpPortal | None,
        Query(
            description=(
                "The portal the account signs in through, as its client at the identity "
                "provider says: an account with no grant and no link gets this role alone "
                "(no participant, no child), to redeem its binding code. Omitted: such an "
                "account has no claims."
            )
        ),
    ] = None,
) -> ClaimsModel:
    """What the identity provider puts into the account's next token: the role and scope of
    the grants in force now, else the participant the account is (a pupil) or the children it
    may act for (a guardian), else — asked with `portal` (the pupils' or parents' portal) — that
    role alone, with no scope: a new account's token that can only redeem its code. Read from
    the account's grants at the moment of the call: a revocation reaches the next token. Issue
    short-lived tokens (docs/adr/0052). Which pupil or whose guardian an account is leaves
    audited.

    **Who:** the identity provider only (a client token with the role `identity_provider`);
    every other role is refused.

    **Refusals:** 403 `forbidden` (any other role); 404 `no_claims` (the account may act for
    nothing and no sign-up portal was named: issue it no token); 422 `invalid_request` (an
    unknown `portal`).
    """
    sign_up_role = None if portal is None else portal.value
    claims = await access.claims(context, subject, sign_up_role)
    if claims is None:
        raise NoClaims()
    return ClaimsModel(
        role=claims.role,
        school=claims.school_id,
        region=claims.region_id,
        venue=claims.venue_id,
        participant=UUID(claims.participant_id) if claims.participant_id else None,
        children=sorted(UUID(child) for child in claims.children),
        career_events=sorted(claims.career_event_ids),
    )
