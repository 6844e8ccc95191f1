"""Properties of the grants decider over generated sequences of issues and revocations
(hypothesis): the events decided, stored and read back, replay to the state the decisions
reached; a refused command is refused with a `DomainError` and decides nothing; an account never
holds two roles, or two scopes of a role other than a mentor's, at once."""

from datetime import UTC, datetime, timedelta
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from bilet_identity.domain import grants
from bilet_identity.domain.errors import DomainError
from bilet_identity.domain.grants import Granter, IssueGrant, RevokeGrant, Scope
from bilet_identity.domain.internal import INTERNAL_EVENTS, GrantedRole, GrantIssued, GrantRevoked
from bilet_identity.domain.region import Region, region_id_for
from bilet_identity.domain.school import School

START = datetime(2026, 9, 1, tzinfo=UTC)
REGION = region_id_for("47")
SCHOOLS = tuple(School(UUID(int=n), REGION, f"СОШ № {n}", "Луга") for n in (1, 2))
VENUES = (UUID(int=10), UUID(int=11))
EVENTS = (UUID(int=20), UUID(int=21), None)
GRANT_IDS = tuple(UUID(int=100 + n) for n in range(4))
GRANTERS = (
    Granter("op", "operator"),
    Granter("coord", "coordinator", region_id=REGION),
    Granter("org-a", "organiser", venue_id=VENUES[0]),
    Granter("org-b", "organiser", venue_id=VENUES[1]),
)
ADMITTED = Region(REGION, "47", "Ленинградская область", "Europe/Moscow", "ГБУ", frozenset())


@st.composite
def issues(draw: st.DrawFn) -> IssueGrant:
    role = draw(st.sampled_from(GrantedRole))
    school = draw(st.sampled_from(SCHOOLS))
    scope = {
        GrantedRole.COORDINATOR: Scope(region_id=REGION),
        GrantedRole.REGISTRAR: Scope(school_id=school.school_id),
        GrantedRole.NAVIGATOR: Scope(school_id=school.school_id),
        GrantedRole.ORGANISER: Scope(venue_id=draw(st.sampled_from(VENUES))),
        GrantedRole.MENTOR: Scope(career_event_id=draw(st.sampled_from(EVENTS))),
    }[role]
    hours = draw(st.integers(0, 48))
    ends = draw(st.none() | st.integers(-2, 72).map(lambda h: START + timedelta(hours=h)))
    return IssueGrant(
        draw(st.sampled_from(GRANT_IDS)),
        "acc",
        role,
        scope,
        START,
        ends,
        draw(st.sampled_from(GRANTERS)),
        START + timedelta(hours=hours),
        region=ADMITTED,
        school=school,
    )


revocations = st.builds(
    RevokeGrant,
    st.sampled_from(GRANT_IDS),
    st.sampled_from(GRANTERS),
    st.integers(0, 48).map(lambda h: START + timedelta(hours=h)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(issues(), revocations), max_size=12))
def test_replaying_what_was_decided_gives_the_state_and_refusals_change_nothing(
    commands: list[IssueGrant | RevokeGrant],
) -> None:
    state = grants.initial
    stored = []
    refusals = []
    for command in commands:
        try:
            decided = grants.decide(command, state)
        except DomainError as refused:
            refusals.append(refused.code)  # the state stays as it was: nothing was decided
            continue
        for event in decided:
            state = grants.evolve(state, event)
            stored.append((event.event_type, event.model_dump_json()))
        if isinstance(command, IssueGrant) and decided:
            standing = [g for g in state if not g.ended(command.now)]
            assert len({g.role for g in standing}) == 1
            if command.role is not GrantedRole.MENTOR:
                assert len({g.scope for g in standing}) == 1
    replayed = grants.initial
    for event_type, data in stored:
        read = INTERNAL_EVENTS.latest(event_type).model_validate_json(data)
        assert isinstance(read, GrantIssued | GrantRevoked)
        replayed = grants.evolve(replayed, read)
    assert replayed == state
    assert DomainError.code not in refusals  # every refusal has its own stable code
