"""Properties of `recommend` over generated evidence and catalogues: deterministic, every cited
piece of evidence is in the set's basis, every offered opportunity passes the filters."""

from datetime import timedelta
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from bilet.contracts.catalogue.recommender import (
    EvidenceSource,
    Opportunity,
    OpportunityKind,
    StudyPlanItem,
)
from bilet.contracts.vocabulary import AccessibilityNeed, Environment, Level
from bilet_recommender.adapters.tables import current_rules
from bilet_recommender.domain.offers import Offer, Opportunities
from bilet_recommender.domain.recommend import recommend
from bilet_recommender.testing import (
    NOW,
    completed_pupil,
    evidence_of,
)

RULES = current_rules()
PARTICIPANT = UUID("11111111-1111-4111-8111-111111111111")
REGIONS = (
    UUID("22222222-2222-4222-8222-222222222222"),
    UUID("33333333-3333-4333-8333-333333333333"),
)

scores = st.dictionaries(st.sampled_from(Environment), st.integers(0, 100))
levels = st.dictionaries(st.sampled_from(Environment), st.sampled_from(Level))
needs = st.none() | st.frozensets(st.sampled_from(AccessibilityNeed), max_size=3)


@st.composite
def offers(draw: st.DrawFn) -> Offer:
    lowest = draw(st.integers(5, 11))
    starts = NOW.date() + timedelta(days=draw(st.integers(-30, 60)))
    return Offer(
        kind=draw(st.sampled_from([OpportunityKind.COURSE, OpportunityKind.CLUB])),
        opportunity_id=draw(st.uuids()),
        title="Кружок",
        region_id=draw(st.sampled_from(REGIONS)),
        municipality="Луга",
        environments=tuple(draw(st.sets(st.sampled_from(Environment), min_size=1, max_size=3))),
        lowest_grade=lowest,
        highest_grade=draw(st.integers(lowest, 11)),
        accommodates=draw(st.frozensets(st.sampled_from(AccessibilityNeed), max_size=4)),
        seats=draw(st.none() | st.integers(0, 3)),
        starts=starts,
        ends=starts + timedelta(days=draw(st.integers(0, 60))),
    )


@settings(max_examples=60, deadline=None)
@given(
    scores,
    levels,
    st.integers(6, 11),
    st.lists(offers(), max_size=12, unique_by=lambda o: o.opportunity_id),
    needs,
)
def test_recommendations_are_deterministic_cited_and_filtered(
    interest: dict[Environment, int],
    known: dict[Environment, Level],
    grade: int,
    catalogue: list[Offer],
    participant_needs: frozenset[AccessibilityNeed] | None,
) -> None:
    facts = completed_pupil(PARTICIPANT, REGIONS[0], interest, known, grade)
    evidence = evidence_of(PARTICIPANT, *facts)
    opportunities = Opportunities(NOW, tuple(catalogue))
    issued = recommend(evidence, opportunities, RULES, participant_needs)
    assert issued is not None
    reversed_catalogue = Opportunities(NOW, tuple(reversed(catalogue)))
    assert recommend(evidence, reversed_catalogue, RULES, participant_needs) == issued

    attempts = {a.attempt_id for a in issued.basis.attempts}
    items: list[StudyPlanItem | Opportunity] = [*issued.study_plan, *issued.opportunities]
    for item in items:
        assert item.evidence
        for cited in item.evidence:
            assert cited.source is EvidenceSource.STAGE_RESULT
            assert cited.ref_id in attempts
        assert item.environment in issued.leading_environments

    by_id = {offer.opportunity_id: offer for offer in catalogue}
    assert len(issued.opportunities) <= RULES.max_opportunities
    for offered in issued.opportunities:
        offer = by_id[offered.opportunity_id]
        assert offer.region_id == REGIONS[0]
        assert offer.lowest_grade <= grade <= offer.highest_grade
        assert participant_needs is None or participant_needs <= offer.accommodates
        assert offer.seats is None or offer.seats > 0
        assert offer.ends >= NOW.date()
        assert offered.environment in offer.environments
