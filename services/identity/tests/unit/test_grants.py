"""Grants, given/when/then: who may grant what, one role and scope per account, revocations, and
the claims the grants in force give (docs/adr/0052)."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from bilet_identity.domain.claims import Claims, claims_of
from bilet_identity.domain.errors import DomainError, SchoolNotFound, UnknownRegion
from bilet_identity.domain.grants import (
    AccountGrants,
    ConflictingGrant,
    Granter,
    GrantExists,
    GrantNotAllowed,
    InvalidGrant,
    IssueGrant,
    RevokeGrant,
    Scope,
    UnknownGrant,
    account_id_for,
    decide,
    evolve,
    initial,
)
from bilet_identity.domain.internal import GrantedRole, GrantIssued, GrantRevoked
from bilet_identity.domain.region import Region, region_id_for
from bilet_identity.domain.school import School

NOW = datetime(2026, 9, 1, 9, tzinfo=UTC)
LENINGRAD = region_id_for("47")
PSKOV = region_id_for("60")
REGION = Region(LENINGRAD, "47", "Ленинградская область", "Europe/Moscow", "ГБУ", frozenset({2026}))
SCHOOL = School(UUID("11111111-1111-4111-8111-111111111111"), LENINGRAD, "СОШ № 3", "Луга")
FOREIGN_SCHOOL = School(UUID("22222222-2222-4222-8222-222222222222"), PSKOV, "СОШ № 1", "Псков")
VENUE = UUID("33333333-3333-4333-8333-333333333333")
CAREER_EVENT = UUID("44444444-4444-4444-8444-444444444444")
OPERATOR = Granter("op-1", "operator")
COORDINATOR = Granter("coord-47", "coordinator", region_id=LENINGRAD)
FOREIGN_COORDINATOR = Granter("coord-60", "coordinator", region_id=PSKOV)
ORGANISER = Granter("org-1", "organiser", venue_id=VENUE)
GRANT = UUID("55555555-5555-4555-8555-555555555555")


def issue(
    role: GrantedRole,
    scope: Scope,
    granter: Granter,
    *,
    subject: str = "acc-1",
    grant_id: UUID = GRANT,
    ends_at: datetime | None = None,
    region: Region | None = REGION,
    school: School | None = SCHOOL,
) -> IssueGrant:
    return IssueGrant(
        grant_id, subject, role, scope, NOW, ends_at, granter, NOW, region=region, school=school
    )


def given(*commands: IssueGrant | RevokeGrant) -> AccountGrants:
    state = initial
    for command in commands:
        for event in decide(command, state):
            state = evolve(state, event)
    return state


def navigator_of_school() -> IssueGrant:
    return issue(GrantedRole.NAVIGATOR, Scope(school_id=SCHOOL.school_id), COORDINATOR)


def test_given_no_grant_when_the_operator_grants_a_coordinator_their_region_then_it_is_issued() -> (
    None
):
    events = decide(issue(GrantedRole.COORDINATOR, Scope(region_id=LENINGRAD), OPERATOR), initial)
    assert events == [
        GrantIssued(
            account_id=account_id_for("acc-1"),
            grant_id=GRANT,
            account="acc-1",
            role=GrantedRole.COORDINATOR,
            region_id=LENINGRAD,
            starts_at=NOW,
            granted_by="op-1",
            granted_by_role="operator",
        )
    ]


def test_when_a_coordinator_grants_a_navigator_a_school_of_their_region_then_its_scope() -> None:
    [event] = decide(navigator_of_school(), initial)
    assert isinstance(event, GrantIssued)
    assert (event.role, event.school_id, event.region_id) == (
        GrantedRole.NAVIGATOR,
        SCHOOL.school_id,
        LENINGRAD,
    )


def test_when_a_coordinator_grants_an_organiser_a_venue_then_it_is_granted_in_their_region() -> (
    None
):
    [event] = decide(issue(GrantedRole.ORGANISER, Scope(venue_id=VENUE), COORDINATOR), initial)
    assert isinstance(event, GrantIssued)
    assert (event.venue_id, event.region_id) == (VENUE, LENINGRAD)


def test_when_an_organiser_names_a_mentor_for_a_career_event_then_of_their_venue() -> None:
    scope = Scope(career_event_id=CAREER_EVENT)
    [event] = decide(issue(GrantedRole.MENTOR, scope, ORGANISER), initial)
    assert isinstance(event, GrantIssued)
    assert (event.venue_id, event.career_event_id) == (VENUE, CAREER_EVENT)


@pytest.mark.parametrize(
    ("role", "scope", "granter"),
    [
        # Only the operator grants coordinators.
        (GrantedRole.COORDINATOR, Scope(region_id=LENINGRAD), COORDINATOR),
        # The operator does not act for a region's schools or venues.
        (GrantedRole.NAVIGATOR, Scope(school_id=SCHOOL.school_id), OPERATOR),
        (GrantedRole.ORGANISER, Scope(venue_id=VENUE), OPERATOR),
        # A coordinator grants only schools of their own region.
        (GrantedRole.REGISTRAR, Scope(school_id=SCHOOL.school_id), FOREIGN_COORDINATOR),
        # Mentors are named by organisers, for their own venue only.
        (GrantedRole.MENTOR, Scope(venue_id=VENUE), COORDINATOR),
        (GrantedRole.MENTOR, Scope(venue_id=uuid4()), ORGANISER),
        # An organiser grants nothing else, and other roles grant nothing.
        (GrantedRole.REGISTRAR, Scope(school_id=SCHOOL.school_id), ORGANISER),
        (GrantedRole.NAVIGATOR, Scope(school_id=SCHOOL.school_id), Granter("nav", "navigator")),
        (GrantedRole.MENTOR, Scope(venue_id=VENUE), Granter("reg", "registrar")),
    ],
)
def test_when_someone_grants_beyond_their_authority_then_refused(
    role: GrantedRole, scope: Scope, granter: Granter
) -> None:
    with pytest.raises(GrantNotAllowed):
        decide(issue(role, scope, granter), initial)


@pytest.mark.parametrize(
    ("role", "scope", "granter", "field"),
    [
        (GrantedRole.COORDINATOR, Scope(), OPERATOR, "region_id"),
        (
            GrantedRole.COORDINATOR,
            Scope(LENINGRAD, school_id=SCHOOL.school_id),
            OPERATOR,
            "school_id",
        ),
        (GrantedRole.NAVIGATOR, Scope(venue_id=VENUE), COORDINATOR, "venue_id"),
        (GrantedRole.ORGANISER, Scope(), COORDINATOR, "venue_id"),
    ],
)
def test_when_the_scope_does_not_fit_the_role_then_invalid(
    role: GrantedRole, scope: Scope, granter: Granter, field: str
) -> None:
    with pytest.raises(InvalidGrant) as refused:
        decide(issue(role, scope, granter), initial)
    assert refused.value.details["field"] == field


def test_when_the_region_or_school_is_unknown_then_refused_as_unknown() -> None:
    with pytest.raises(UnknownRegion):
        decide(issue(GrantedRole.COORDINATOR, Scope(PSKOV), OPERATOR), initial)
    with pytest.raises(SchoolNotFound):
        decide(replace(navigator_of_school(), school=None), initial)


def test_a_school_of_another_region_is_not_the_coordinators_to_grant() -> None:
    command = issue(
        GrantedRole.NAVIGATOR,
        Scope(school_id=FOREIGN_SCHOOL.school_id),
        COORDINATOR,
        school=FOREIGN_SCHOOL,
    )
    with pytest.raises(GrantNotAllowed):
        decide(command, initial)


def test_when_the_end_is_not_after_the_start_then_invalid() -> None:
    command = issue(
        GrantedRole.ORGANISER, Scope(venue_id=VENUE), COORDINATOR, ends_at=NOW - timedelta(days=1)
    )
    with pytest.raises(InvalidGrant):
        decide(command, initial)


def test_given_a_grant_when_the_same_is_issued_again_then_grant_exists() -> None:
    state = given(navigator_of_school())
    with pytest.raises(GrantExists):
        decide(
            issue(
                GrantedRole.NAVIGATOR,
                Scope(school_id=SCHOOL.school_id),
                COORDINATOR,
                grant_id=uuid4(),
            ),
            state,
        )


def test_given_a_grant_in_force_when_another_role_is_granted_then_conflicting() -> None:
    state = given(navigator_of_school())
    with pytest.raises(ConflictingGrant):
        decide(
            issue(GrantedRole.ORGANISER, Scope(venue_id=VENUE), COORDINATOR, grant_id=uuid4()),
            state,
        )


def test_given_a_revoked_grant_when_another_role_is_granted_then_issued() -> None:
    state = given(navigator_of_school(), RevokeGrant(GRANT, COORDINATOR, NOW))
    command = issue(GrantedRole.ORGANISER, Scope(venue_id=VENUE), COORDINATOR, grant_id=uuid4())
    assert len(decide(command, state)) == 1


def test_a_mentor_holds_several_career_events_of_one_venue() -> None:
    first = issue(GrantedRole.MENTOR, Scope(career_event_id=CAREER_EVENT), ORGANISER)
    second_event = uuid4()
    second = issue(
        GrantedRole.MENTOR, Scope(career_event_id=second_event), ORGANISER, grant_id=uuid4()
    )
    state = given(first, second)
    claims = claims_of(state, NOW, participant=None, children=frozenset())
    assert claims == Claims(
        role="mentor", venue_id=VENUE, career_event_ids=frozenset({CAREER_EVENT, second_event})
    )


def test_given_a_grant_when_revoked_then_revoked_and_no_claims_any_more() -> None:
    state = given(navigator_of_school())
    assert claims_of(state, NOW, participant=None, children=frozenset()) == Claims(
        role="navigator", school_id=SCHOOL.school_id, region_id=LENINGRAD
    )
    later = NOW + timedelta(hours=1)
    events = decide(RevokeGrant(GRANT, COORDINATOR, later), state)
    assert events == [
        GrantRevoked(
            account_id=account_id_for("acc-1"),
            grant_id=GRANT,
            revoked_at=later,
            revoked_by="coord-47",
            revoked_by_role="coordinator",
        )
    ]
    revoked = evolve(state, events[0])
    assert claims_of(revoked, later, participant=None, children=frozenset()) is None
    assert decide(RevokeGrant(GRANT, COORDINATOR, later), revoked) == []  # revoked already


@pytest.mark.parametrize("revoker", [FOREIGN_COORDINATOR, ORGANISER, Granter("x", "navigator")])
def test_only_the_operator_or_the_granting_authority_revokes(revoker: Granter) -> None:
    state = given(navigator_of_school())
    with pytest.raises(GrantNotAllowed):
        decide(RevokeGrant(GRANT, revoker, NOW), state)
    assert len(decide(RevokeGrant(GRANT, OPERATOR, NOW), state)) == 1


def test_a_coordinator_does_not_revoke_a_coordinator() -> None:
    state = given(issue(GrantedRole.COORDINATOR, Scope(region_id=LENINGRAD), OPERATOR))
    with pytest.raises(GrantNotAllowed):
        decide(RevokeGrant(GRANT, COORDINATOR, NOW), state)


def test_when_an_unknown_grant_is_revoked_then_unknown() -> None:
    with pytest.raises(UnknownGrant):
        decide(RevokeGrant(uuid4(), OPERATOR, NOW), initial)


def test_a_grant_gives_claims_only_between_its_start_and_its_end() -> None:
    ends = NOW + timedelta(days=30)
    state = given(issue(GrantedRole.ORGANISER, Scope(venue_id=VENUE), COORDINATOR, ends_at=ends))
    assert (
        claims_of(state, NOW - timedelta(seconds=1), participant=None, children=frozenset()) is None
    )
    held = claims_of(state, NOW, participant=None, children=frozenset())
    assert held == Claims(role="organiser", region_id=LENINGRAD, venue_id=VENUE)
    assert claims_of(state, ends, participant=None, children=frozenset()) is None


def test_an_ended_grant_does_not_stand_in_the_way_of_a_new_role() -> None:
    ends = NOW + timedelta(days=1)
    state = given(issue(GrantedRole.ORGANISER, Scope(venue_id=VENUE), COORDINATOR, ends_at=ends))
    later = issue(
        GrantedRole.NAVIGATOR, Scope(school_id=SCHOOL.school_id), COORDINATOR, grant_id=uuid4()
    )
    assert len(decide(replace(later, now=ends), state)) == 1


def test_without_grants_a_link_gives_the_pupils_or_the_guardians_claims() -> None:
    child = str(uuid4())
    assert claims_of(initial, NOW, participant=child, children=frozenset()) == Claims(
        role="pupil", participant_id=child
    )
    assert claims_of(initial, NOW, participant=None, children=frozenset({child})) == Claims(
        role="guardian", children=frozenset({child})
    )
    assert claims_of(initial, NOW, participant=None, children=frozenset()) is None


def test_a_sign_up_portal_gives_an_unbound_account_its_role_alone_and_nothing_more() -> None:
    # Given an account with no grant and no link, signing in through the pupils' portal
    assert claims_of(
        initial, NOW, participant=None, children=frozenset(), sign_up_role="pupil"
    ) == Claims(role="pupil")
    assert claims_of(
        initial, NOW, participant=None, children=frozenset(), sign_up_role="guardian"
    ) == Claims(role="guardian")
    # Once bound, its link answers, whichever portal it came through
    child = str(uuid4())
    assert claims_of(
        initial, NOW, participant=child, children=frozenset(), sign_up_role="guardian"
    ) == Claims(role="pupil", participant_id=child)
    # A grant still wins: a staff account signing in at a portal keeps its role
    granted = given(issue(GrantedRole.NAVIGATOR, Scope(school_id=SCHOOL.school_id), COORDINATOR))
    held = claims_of(granted, NOW, participant=None, children=frozenset(), sign_up_role="pupil")
    assert held is not None
    assert held.role == "navigator"
    # No portal lends a staff role
    with pytest.raises(ValueError, match="sign-up"):
        claims_of(initial, NOW, participant=None, children=frozenset(), sign_up_role="operator")


def test_every_refusal_is_a_domain_error_with_a_code() -> None:
    for error in (GrantNotAllowed("x"), InvalidGrant("f", "x"), UnknownGrant(), GrantExists(GRANT)):
        assert isinstance(error, DomainError)
        assert error.code != DomainError.code
