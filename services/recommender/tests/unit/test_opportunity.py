"""Opportunities registered by coordinators: given events / when command / then events (or the
refusal), and properties: a replay of what was decided gives the same state; a refused command
decides nothing."""

from dataclasses import replace
from datetime import date
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bilet.contracts.catalogue.recommender import OpportunityKind
from bilet.contracts.vocabulary import AccessibilityNeed, Environment, GradeRange
from bilet_recommender.domain import opportunity
from bilet_recommender.domain.errors import (
    DomainError,
    InvalidOpportunity,
    OpportunityExists,
    OpportunityWithdrawn,
    UnknownOpportunity,
)
from bilet_recommender.domain.internal import (
    OpportunityRegistered,
    OpportunityRevised,
)
from bilet_recommender.domain.internal import (
    OpportunityWithdrawn as Withdrawn,
)
from bilet_recommender.domain.opportunity import (
    Command,
    Details,
    Opportunity,
    OpportunityEvent,
    RegisterOpportunity,
    ReviseOpportunity,
    WithdrawOpportunity,
)

OPPORTUNITY = uuid4()
REGION = uuid4()
DETAILS = Details(
    kind=OpportunityKind.CLUB,
    title="Кружок робототехники",
    provider="Дом детского творчества, Луга",
    municipality="Луга",
    environments=(Environment.SMART, Environment.INDUSTRIAL),
    eligible_grades=GradeRange(lowest=6, highest=9),
    accommodates=(AccessibilityNeed.STEP_FREE_ACCESS,),
    seats=12,
    starts_on=date(2026, 9, 15),
    ends_on=date(2027, 5, 25),
)


def given_events(*events: OpportunityEvent) -> Opportunity:
    state = opportunity.initial(OPPORTUNITY)
    for event in events:
        state = opportunity.evolve(state, event)
    return state


def registered() -> OpportunityRegistered:
    [event] = opportunity.decide(
        RegisterOpportunity(REGION, DETAILS), opportunity.initial(OPPORTUNITY)
    )
    assert isinstance(event, OpportunityRegistered)
    return event


def test_a_coordinator_registers_a_club() -> None:
    event = registered()
    assert event.opportunity_id == OPPORTUNITY
    assert event.region_id == REGION
    assert event.title == "Кружок робототехники"
    assert event.stream_id == opportunity.stream_id(OPPORTUNITY)
    assert given_events(event).details == DETAILS


def test_an_id_is_registered_once() -> None:
    with pytest.raises(OpportunityExists):
        opportunity.decide(RegisterOpportunity(REGION, DETAILS), given_events(registered()))


@pytest.mark.parametrize(
    ("details", "field"),
    [
        (replace(DETAILS, kind=OpportunityKind.CAREER_EVENT), "kind"),
        (replace(DETAILS, ends_on=date(2026, 9, 14)), "ends_on"),
    ],
)
def test_terms_that_do_not_hold_are_refused(details: Details, field: str) -> None:
    with pytest.raises(InvalidOpportunity) as refused:
        opportunity.decide(RegisterOpportunity(REGION, details), opportunity.initial(OPPORTUNITY))
    assert refused.value.details["field"] == field


def test_a_revision_replaces_the_details_and_one_that_changes_nothing_decides_nothing() -> None:
    state = given_events(registered())
    full = replace(DETAILS, seats=0)
    [event] = opportunity.decide(ReviseOpportunity(full), state)
    assert isinstance(event, OpportunityRevised)
    assert opportunity.evolve(state, event).details == full
    assert opportunity.decide(ReviseOpportunity(DETAILS), state) == []


def test_only_a_registered_opportunity_is_revised_or_withdrawn() -> None:
    for command in (ReviseOpportunity(DETAILS), WithdrawOpportunity()):
        with pytest.raises(UnknownOpportunity):
            opportunity.decide(command, opportunity.initial(OPPORTUNITY))


def test_a_withdrawn_opportunity_is_offered_no_more_and_not_revised() -> None:
    state = given_events(registered())
    [event] = opportunity.decide(WithdrawOpportunity(), state)
    assert isinstance(event, Withdrawn)
    withdrawn = opportunity.evolve(state, event)
    assert opportunity.decide(WithdrawOpportunity(), withdrawn) == []
    with pytest.raises(OpportunityWithdrawn):
        opportunity.decide(ReviseOpportunity(replace(DETAILS, seats=3)), withdrawn)
    assert opportunity.offer_of(withdrawn, date(2026, 10, 1)) is None


def test_an_offer_while_it_runs() -> None:
    state = given_events(registered())
    offer = opportunity.offer_of(state, date(2026, 10, 1))
    assert offer is not None
    assert (offer.kind, offer.region_id, offer.seats) == (OpportunityKind.CLUB, REGION, 12)
    assert offer.accommodates == frozenset({AccessibilityNeed.STEP_FREE_ACCESS})
    assert (offer.lowest_grade, offer.highest_grade) == (6, 9)
    assert opportunity.offer_of(state, date(2027, 5, 26)) is None


commands = st.one_of(
    st.builds(
        RegisterOpportunity,
        st.just(REGION),
        st.builds(
            replace,
            st.just(DETAILS),
            seats=st.none() | st.integers(0, 30),
            kind=st.sampled_from(OpportunityKind),
        ),
    ),
    st.builds(
        ReviseOpportunity,
        st.builds(
            replace,
            st.just(DETAILS),
            seats=st.none() | st.integers(0, 30),
            kind=st.sampled_from(OpportunityKind),
        ),
    ),
    st.just(WithdrawOpportunity()),
)


@given(st.lists(commands, max_size=8))
def test_replaying_what_was_decided_gives_the_same_state(history: list[Command]) -> None:
    state, decided = opportunity.initial(OPPORTUNITY), []
    for command in history:
        try:
            events = opportunity.decide(command, state)
        except DomainError:
            continue
        decided += events
        for event in events:
            state = opportunity.evolve(state, event)
    assert given_events(*decided) == state


KNOWN_REFUSALS = {
    "opportunity_exists",
    "unknown_opportunity",
    "opportunity_withdrawn",
    "invalid_opportunity",
}


@given(st.lists(commands, min_size=1, max_size=8))
def test_a_command_is_decided_or_refused_by_a_rule_never_by_a_crash(history: list[Command]) -> None:
    # A refusal is a DomainError with a stable code (problem+json), raised before any event is
    # built: never a validation error of the event model halfway through.
    state, refusals = opportunity.initial(OPPORTUNITY), []
    for command in history:
        try:
            events = opportunity.decide(command, state)
        except DomainError as refused:
            refusals.append(refused.code)
            continue
        for event in events:
            state = opportunity.evolve(state, event)
    assert set(refusals) <= KNOWN_REFUSALS
