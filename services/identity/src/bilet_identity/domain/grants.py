"""Grants: which account may act in which role for which region, school, venue or career event
(docs/adr/0052). One stream per account holds its grants, issued and revoked by the accounts
above it:

- the federal operator grants a regional coordinator their region;
- a coordinator grants registrars and navigators a school of their region, and organisers a
  venue (granted within their region);
- an organiser names mentors for their venue's career events (one, or all of them).

An account holds one role for one scope at a time (a mentor: several career events of one
venue), because a token carries one `role` and one of each scope claim: a second grant that
does not fit the first is refused until the first ends.
"""

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final, assert_never
from uuid import UUID

from bilet_identity.domain.errors import DomainError, SchoolNotFound, UnknownRegion
from bilet_identity.domain.internal import GrantedRole, GrantIssued, GrantRevoked
from bilet_identity.domain.region import Region
from bilet_identity.domain.school import School
from bilet_identity.domain.validation import build

ACCOUNT_NAMESPACE: Final = UUID("5d0c7a3e-2b8f-5e41-9a6d-3c1b0f7e8a29")
OPERATOR: Final = "operator"
SCHOOL_ROLES: Final = frozenset({GrantedRole.REGISTRAR, GrantedRole.NAVIGATOR})


def account_id_for(subject: str) -> UUID:
    """The stream key of an account: derived from its opaque id (the tokens' `sub`)."""
    return uuid.uuid5(ACCOUNT_NAMESPACE, subject)


class GrantNotAllowed(DomainError):
    """The caller may not issue or revoke this grant (who may grant what: module docstring)."""

    code = "grant_not_allowed"


class InvalidGrant(DomainError):
    """The grant's scope or period does not fit its role."""

    code = "invalid_grant"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field=field)


class ConflictingGrant(DomainError):
    """The account holds a grant in force (or to come) of another role or scope."""

    code = "conflicting_grant"

    def __init__(self, held: UUID) -> None:
        super().__init__(
            "The account holds another role or scope until that grant ends or is revoked.",
            grant_id=str(held),
        )


class GrantExists(DomainError):
    """The account holds this very grant already."""

    code = "grant_exists"

    def __init__(self, held: UUID) -> None:
        super().__init__("The account holds this grant already.", grant_id=str(held))


class UnknownGrant(DomainError):
    code = "unknown_grant"

    def __init__(self) -> None:
        super().__init__("No such grant.")


@dataclass(frozen=True, slots=True)
class Granter:
    """Who issues or revokes: their account, their role and the scope of their own token."""

    subject: str
    role: str
    region_id: UUID | None = None
    venue_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class Scope:
    region_id: UUID | None = None
    school_id: UUID | None = None
    venue_id: UUID | None = None
    career_event_id: UUID | None = None

    def within(self, wanted: "Scope") -> bool:
        """Whether this scope lies within every id `wanted` names (a school's within its
        region's); `wanted` naming nothing holds everything."""
        return all(
            value is None or getattr(self, name) == value
            for name, value in (
                ("region_id", wanted.region_id),
                ("school_id", wanted.school_id),
                ("venue_id", wanted.venue_id),
                ("career_event_id", wanted.career_event_id),
            )
        )


@dataclass(frozen=True, slots=True)
class Grant:
    grant_id: UUID
    subject: str
    role: GrantedRole
    scope: Scope
    starts_at: datetime
    ends_at: datetime | None
    granted_by: str
    revoked_at: datetime | None = None

    def in_force(self, at: datetime) -> bool:
        return self.starts_at <= at and not self.ended(at)

    def ended(self, at: datetime) -> bool:
        if self.revoked_at is not None:
            return True
        return self.ends_at is not None and self.ends_at <= at


AccountGrants = tuple[Grant, ...]
initial: Final[AccountGrants] = ()


@dataclass(frozen=True, slots=True)
class IssueGrant:
    grant_id: UUID
    subject: str
    role: GrantedRole
    scope: Scope
    starts_at: datetime
    ends_at: datetime | None
    granter: Granter
    now: datetime
    region: Region | None = None  # the coordinator's region, looked up by the handler
    school: School | None = None  # the registrar's or navigator's school, looked up


@dataclass(frozen=True, slots=True)
class RevokeGrant:
    grant_id: UUID
    revoker: Granter
    now: datetime


Command = IssueGrant | RevokeGrant
GrantEvent = GrantIssued | GrantRevoked


def decide(command: Command, state: AccountGrants) -> list[GrantEvent]:
    match command:
        case IssueGrant():
            return _issue(command, state)
        case RevokeGrant():
            return _revoke(command, state)
        case _:
            assert_never(command)


def _issue(command: IssueGrant, state: AccountGrants) -> list[GrantEvent]:
    scope = _authorised_scope(command)
    if command.ends_at is not None and command.ends_at <= max(command.starts_at, command.now):
        raise InvalidGrant("ends_at", "A grant ends after it starts, and in the future.")
    for held in state:
        if held.ended(command.now):
            continue
        if held.role is command.role and held.scope == scope:
            raise GrantExists(held.grant_id)
        same_venue = held.scope.venue_id == scope.venue_id
        if not (held.role is command.role is GrantedRole.MENTOR and same_venue):
            raise ConflictingGrant(held.grant_id)
    return [
        build(
            GrantIssued,
            account_id=account_id_for(command.subject),
            grant_id=command.grant_id,
            account=command.subject,
            role=command.role,
            region_id=scope.region_id,
            school_id=scope.school_id,
            venue_id=scope.venue_id,
            career_event_id=scope.career_event_id,
            starts_at=command.starts_at,
            ends_at=command.ends_at,
            granted_by=command.granter.subject,
            granted_by_role=command.granter.role,
        )
    ]


def _authorised_scope(command: IssueGrant) -> Scope:
    """The grant's full scope when the granter may issue it (who may grant what)."""
    granter, scope = command.granter, command.scope
    match command.role:
        case GrantedRole.COORDINATOR:
            _require(granter.role == OPERATOR, "Only the federal operator grants coordinators.")
            _only(scope, "region_id")
            if command.region is None or command.region.region_id != scope.region_id:
                raise UnknownRegion()
            return Scope(region_id=scope.region_id)
        case GrantedRole.REGISTRAR | GrantedRole.NAVIGATOR:
            _require_coordinator(granter)
            _only(scope, "school_id")
            school = command.school
            if school is None or school.school_id != scope.school_id:
                raise SchoolNotFound()
            _require(school.region_id == granter.region_id, "The school is in another region.")
            return Scope(region_id=school.region_id, school_id=school.school_id)
        case GrantedRole.ORGANISER:
            _require_coordinator(granter)
            _only(scope, "venue_id")
            return Scope(region_id=granter.region_id, venue_id=scope.venue_id)
        case GrantedRole.MENTOR:
            _require(
                granter.role == GrantedRole.ORGANISER and granter.venue_id is not None,
                "Only an organiser names mentors, for their own venue.",
            )
            _only(scope, "venue_id", "career_event_id", required=False)
            venue = scope.venue_id or granter.venue_id
            _require(venue == granter.venue_id, "An organiser names mentors for their own venue.")
            return Scope(venue_id=venue, career_event_id=scope.career_event_id)
        case _:
            assert_never(command.role)


def _require_coordinator(granter: Granter) -> None:
    _require(
        granter.role == GrantedRole.COORDINATOR and granter.region_id is not None,
        "Only the region's coordinator grants this.",
    )


def _require(allowed: bool, message: str) -> None:
    if not allowed:
        raise GrantNotAllowed(message)


def _only(scope: Scope, *names: str, required: bool = True) -> None:
    """The scope names exactly these fields (the first of them required) and no other."""
    for name in ("region_id", "school_id", "venue_id", "career_event_id"):
        given = getattr(scope, name) is not None
        if given and name not in names:
            raise InvalidGrant(name, f"This role's scope has no {name}.")
    if required and getattr(scope, names[0]) is None:
        raise InvalidGrant(names[0], f"This role's scope needs {names[0]}.")


def _revoke(command: RevokeGrant, state: AccountGrants) -> list[GrantEvent]:
    grant = next((g for g in state if g.grant_id == command.grant_id), None)
    if grant is None:
        raise UnknownGrant()
    if not may_revoke(command.revoker, grant):
        raise GrantNotAllowed("Only the operator or the account that may grant it revokes it.")
    if grant.revoked_at is not None:
        return []  # revoked already: nothing changes
    return [
        GrantRevoked(
            account_id=account_id_for(grant.subject),
            grant_id=grant.grant_id,
            revoked_at=command.now,
            revoked_by=command.revoker.subject,
            revoked_by_role=command.revoker.role,
        )
    ]


def may_revoke(revoker: Granter, grant: Grant) -> bool:
    """The operator revokes any grant; a coordinator those of their region they may issue; an
    organiser the mentors of their venue."""
    if revoker.role == OPERATOR:
        return True
    if revoker.role == GrantedRole.COORDINATOR:
        return grant.role is not GrantedRole.COORDINATOR and _within(
            revoker.region_id, grant.scope.region_id
        )
    if revoker.role == GrantedRole.ORGANISER:
        return grant.role is GrantedRole.MENTOR and _within(revoker.venue_id, grant.scope.venue_id)
    return False


def _within(own: UUID | None, granted: UUID | None) -> bool:
    return own is not None and own == granted


def evolve(state: AccountGrants, event: GrantEvent) -> AccountGrants:
    match event:
        case GrantIssued():
            scope = Scope(event.region_id, event.school_id, event.venue_id, event.career_event_id)
            grant = Grant(
                event.grant_id,
                event.account,
                event.role,
                scope,
                event.starts_at,
                event.ends_at,
                event.granted_by,
            )
            return (*state, grant)
        case GrantRevoked():
            return tuple(
                replace(g, revoked_at=event.revoked_at) if g.grant_id == event.grant_id else g
                for g in state
            )
        case _:
            assert_never(event)


def stream_id(account_id: UUID) -> str:
    return f"{GrantIssued.stream_category}-{account_id}"
