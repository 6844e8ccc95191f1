"""Given a participant's evidence and a catalogue, when recommending, then the set (or nothing).

Hand-built evidence: scores chosen so the expected environments, subjects and opportunities can
be read off the rules table; every item must name exactly the evidence it rests on."""

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from uuid import UUID, uuid4

import pytest

from bilet.contracts.catalogue.consent import ConsentWithdrawn, Purpose
from bilet.contracts.catalogue.events import CareerEventPublished, InterestShown, TaskCompletion
from bilet.contracts.catalogue.recommender import (
    EvidenceSource,
    OpportunityKind,
    SchoolSubject,
    StudyIntent,
)
from bilet.contracts.vocabulary import AccessibilityNeed, Environment, Level, Stage
from bilet_recommender.adapters.tables import current_rules
from bilet_recommender.domain import evidence as evidence_fold
from bilet_recommender.domain.evidence import Evidence, Fact
from bilet_recommender.domain.offers import (
    Offer,
    Opportunities,
    career_event_offer,
    evolve_career_event,
)
from bilet_recommender.domain.recommend import compute, recommend, recommendation_set_id
from bilet_recommender.domain.rules import RecommendationRules
from bilet_recommender.testing import (
    NOW,
    attended,
    career_event,
    completed_pupil,
    evidence_of,
    feedback,
    interests,
    knowledge,
    registered,
    soft_skills,
    verified,
)

RULES = current_rules()
REGION = UUID("00000000-0000-0000-0000-000000000047")
SMART_FIRST = {Environment.SMART: 90, Environment.BUSINESS: 70, Environment.CREATIVE: 60}


fold = evidence_of


def pupil(*extra: Fact, grade: int = 8, teamwork: Level = Level.BASIC) -> tuple[UUID, Evidence]:
    participant_id = uuid4()
    facts = completed_pupil(
        participant_id, REGION, SMART_FIRST, {Environment.SMART: Level.BASIC}, grade, teamwork
    )
    return participant_id, fold(participant_id, *facts, *extra)


def catalogue(*events: CareerEventPublished, offers: tuple[Offer, ...] = ()) -> Opportunities:
    opened = []
    for published in events:
        state = evolve_career_event(None, published)
        assert state is not None
        offer = career_event_offer(state, NOW)
        if offer is not None:
            opened.append(offer)
    known = tuple((e.career_event_id, e.environments) for e in events)
    return Opportunities(as_of=NOW, offers=(*opened, *offers), environments_of=known)


def test_nothing_without_a_consent_covering_recommendations() -> None:
    participant_id = uuid4()
    facts: list[Fact] = [
        registered(participant_id, REGION),
        interests(participant_id, SMART_FIRST),
        soft_skills(participant_id),
        knowledge(participant_id, {}),
    ]
    assert recommend(fold(participant_id, *facts), catalogue(), RULES) is None
    without = verified(participant_id, Purpose.PROGRAMME_PARTICIPATION, Purpose.PORTFOLIO)
    assert recommend(fold(participant_id, *facts, without), catalogue(), RULES) is None
    expired = verified(participant_id, valid_until=NOW.date() - timedelta(days=1))
    assert recommend(fold(participant_id, *facts, expired), catalogue(), RULES) is None
    consent = verified(participant_id)
    withdrawn = ConsentWithdrawn(
        participant_id=participant_id,
        consent_id=consent.consent_id,
        withdrawn_on=NOW.date(),
        erase_by=NOW.date() + timedelta(days=30),
    )
    assert recommend(fold(participant_id, *facts, consent, withdrawn), catalogue(), RULES) is None
    assert recommend(fold(participant_id, *facts, consent), catalogue(), RULES) is not None


def test_nothing_before_all_three_stages_are_completed() -> None:
    participant_id = uuid4()
    two = fold(
        participant_id,
        registered(participant_id, REGION),
        verified(participant_id),
        interests(participant_id, SMART_FIRST),
        soft_skills(participant_id),
    )
    assert recommend(two, catalogue(), RULES) is None
    # A stage of another season does not complete this one.
    older = evidence_fold.evolve(two, knowledge(participant_id, {}, season=2025))
    assert recommend(older, catalogue(), RULES) is None


def test_leading_environments_and_the_study_plan_come_from_the_stages_and_the_table() -> None:
    participant_id, evidence = pupil()
    issued = recommend(evidence, catalogue(), RULES)
    assert issued is not None
    assert issued.participant_id == participant_id
    assert issued.rules == RULES.ref
    assert issued.leading_environments == (
        Environment.SMART,
        Environment.BUSINESS,
        Environment.CREATIVE,
    )
    # Smart's informatics and mathematics; business's mathematics is smart's already, so only
    # social studies; creative's arts and literature.
    assert [(i.subject, i.environment) for i in issued.study_plan] == [
        (SchoolSubject.INFORMATICS, Environment.SMART),
        (SchoolSubject.MATHEMATICS, Environment.SMART),
        (SchoolSubject.SOCIAL_STUDIES, Environment.BUSINESS),
        (SchoolSubject.ARTS, Environment.CREATIVE),
        (SchoolSubject.LITERATURE, Environment.CREATIVE),
    ]
    first = issued.study_plan[0]
    assert first.intent is StudyIntent.IN_DEPTH_COURSE
    assert [r.row for r in first.because] == ["env.smart", "smart.subj.informatics"]
    interests_attempt = evidence.result(2026, Stage.INTERESTS).attempt_id
    knowledge_attempt = evidence.result(2026, Stage.PROFESSIONS_KNOWLEDGE).attempt_id
    assert [(e.ref_id, e.scale) for e in first.evidence] == [
        (interests_attempt, "environments.scores.smart"),
        (knowledge_attempt, "levels.smart"),
    ]
    assert [a.attempt_id for a in issued.basis.attempts] == [
        r.attempt_id for r in evidence.results(2026)
    ]
    assert issued.supersedes is None


def test_scores_weigh_the_stages_and_count_career_events_only_once_there_are_any() -> None:
    _, evidence = pupil()
    recommended = compute(evidence, catalogue(), RULES)
    assert recommended is not None
    smart = next(s for s in recommended.scores if s.environment is Environment.SMART)
    # interests 90 × 50 + knowledge basic 33 × 20, over 70: 73.7 → 74.
    assert smart.score == 74
    assert [c.source.value for c in smart.contributions] == ["interests", "professions_knowledge"]


def test_an_attended_career_event_and_its_rubric_raise_their_environment() -> None:
    participant_id = uuid4()
    agro = career_event(REGION, Environment.AGRARIAN)
    visit = attended(participant_id, agro)
    rubric = feedback(visit, InterestShown.HIGH, TaskCompletion.COMPLETED)
    base = completed_pupil(
        participant_id, REGION, {Environment.SMART: 60, Environment.AGRARIAN: 50}
    )
    before = compute(fold(participant_id, *base), catalogue(agro), RULES)
    after = compute(fold(participant_id, *base, visit, rubric), catalogue(agro), RULES)
    assert before is not None
    assert after is not None
    assert before.event.leading_environments[0] is Environment.SMART
    assert after.event.leading_environments[0] is Environment.AGRARIAN
    agrarian = after.scores[0]
    # interests 50×50, knowledge 0×20, one career event 50×15, rubric (100+100)/2 = 100 × 15:
    # 4750 / 100 → 48 (smart: 60×50 / 100 → 30).
    assert agrarian.score == 48
    cited = {(e.source, e.ref_id) for e in agrarian.evidence}
    assert (EvidenceSource.ATTENDANCE, visit.booking_id) in cited
    assert (EvidenceSource.MENTOR_FEEDBACK, rubric.feedback_id) in cited
    assert after.event.basis.attended_bookings == (visit.booking_id,)
    assert after.event.basis.feedback_ids == (rubric.feedback_id,)
    # What the pupil attended is not offered again.
    assert agro.career_event_id not in {o.opportunity_id for o in after.event.opportunities}


def test_an_intent_rule_names_the_result_it_rests_on() -> None:
    _, evidence = pupil(teamwork=Level.PROFICIENT)
    issued = recommend(evidence, catalogue(), RULES)
    assert issued is not None
    item = issued.study_plan[0]
    assert item.intent is StudyIntent.PROJECT_WORK
    assert item.because[-1].row == "intent.project"
    skills_attempt = evidence.result(2026, Stage.SOFT_SKILLS).attempt_id
    assert (skills_attempt, "levels.teamwork") in {(e.ref_id, e.scale) for e in item.evidence}


def test_opportunities_are_filtered_by_region_grade_needs_seats_and_date_and_ranked() -> None:
    _, evidence = pupil(grade=8)
    later = career_event(REGION, Environment.SMART, starts_at=NOW + timedelta(days=20))
    sooner = career_event(REGION, Environment.SMART, starts_at=NOW + timedelta(days=3))
    business = career_event(REGION, Environment.BUSINESS)
    elsewhere = career_event(uuid4(), Environment.SMART)
    seniors = career_event(REGION, Environment.SMART, grades=(10, 11))
    past = career_event(REGION, Environment.SMART, starts_at=NOW - timedelta(days=1))
    other_environment = career_event(REGION, Environment.HEALTHY)
    step_free = career_event(
        REGION, Environment.CREATIVE, accommodates=(AccessibilityNeed.STEP_FREE_ACCESS,)
    )
    full_course = Offer(
        kind=OpportunityKind.COURSE,
        opportunity_id=uuid4(),
        title="Курс Python",
        region_id=REGION,
        municipality="Луга",
        environments=(Environment.SMART,),
        lowest_grade=7,
        highest_grade=9,
        accommodates=frozenset(),
        seats=0,
        starts=NOW.date(),
        ends=NOW.date() + timedelta(days=90),
    )
    club = replace(
        full_course,
        opportunity_id=uuid4(),
        kind=OpportunityKind.CLUB,
        seats=None,
        accommodates=frozenset(
            {AccessibilityNeed.SIGN_LANGUAGE_INTERPRETER, AccessibilityNeed.STEP_FREE_ACCESS}
        ),
    )
    events = (later, sooner, business, elsewhere, seniors, past, other_environment, step_free)
    offered = catalogue(*events, offers=(full_course, club))
    issued = recommend(evidence, offered, RULES)
    assert issued is not None
    # Smart first (the sooner first: the club from today, then in 3 and 20 days), then business.
    assert [o.opportunity_id for o in issued.opportunities] == [
        club.opportunity_id,
        sooner.career_event_id,
        later.career_event_id,
        business.career_event_id,
        step_free.career_event_id,
    ]
    first = issued.opportunities[0]
    assert first.kind is OpportunityKind.CLUB
    assert first.environment is Environment.SMART
    assert [r.row for r in first.because] == ["env.smart", "opp.filters"]
    # A pupil who needs a sign-language interpreter is offered only the club that has one.
    needs = frozenset({AccessibilityNeed.SIGN_LANGUAGE_INTERPRETER})
    assisted = recommend(evidence, offered, RULES, needs)
    assert assisted is not None
    assert [o.opportunity_id for o in assisted.opportunities] == [club.opportunity_id]
    # A pupil who needs step-free access is offered the career event that provides it.
    step_free_needs = frozenset({AccessibilityNeed.STEP_FREE_ACCESS})
    stepped = recommend(evidence, offered, RULES, step_free_needs)
    assert stepped is not None
    assert step_free.career_event_id in {o.opportunity_id for o in stepped.opportunities}
    assert club.opportunity_id in {o.opportunity_id for o in stepped.opportunities}


def test_the_same_evidence_gives_the_same_set_and_a_new_set_supersedes_the_last() -> None:
    participant_id, evidence = pupil()
    first = recommend(evidence, catalogue(), RULES)
    assert first is not None
    assert recommend(evidence, catalogue(), RULES) == first  # a redelivery: the same id
    assert first.recommendation_set_id == recommendation_set_id(evidence, 2026, RULES)
    issued = evidence_fold.evolve(evidence, first)
    assert recommend(issued, catalogue(), RULES) is None  # nothing new
    agro = career_event(REGION, Environment.AGRARIAN)
    newer = evidence_fold.evolve(issued, attended(participant_id, agro))
    second = recommend(newer, catalogue(agro), RULES)
    assert second is not None
    assert second.recommendation_set_id != first.recommendation_set_id
    assert second.supersedes == first.recommendation_set_id


def test_routes_after_the_ninth_grade_are_for_pupils_who_have_not_passed_it() -> None:
    _, younger = pupil(grade=8)
    _, older = pupil(grade=10)
    young = compute(younger, catalogue(), RULES)
    old = compute(older, catalogue(), RULES)
    assert young is not None
    assert old is not None
    assert {row.after_grade for _, row in young.routes} == {9, 11}
    assert {row.after_grade for _, row in old.routes} == {11}
    assert [row.row for _, row in old.profile_classes] == [
        "smart.profile",
        "business.profile",
        "creative.profile",
    ]


def test_before_identity_places_the_pupil_nothing_is_offered_and_placing_them_reissues() -> None:
    participant_id = uuid4()
    stages = completed_pupil(participant_id, REGION, SMART_FIRST)[1:]  # no registration yet
    unplaced = fold(participant_id, *stages)
    smart_event = career_event(REGION, Environment.SMART)
    first = recommend(unplaced, catalogue(smart_event), RULES)
    assert first is not None
    assert first.opportunities == ()
    placed = evidence_fold.evolve(
        evidence_fold.evolve(unplaced, first), registered(participant_id, REGION)
    )
    second = recommend(placed, catalogue(smart_event), RULES)
    assert second is not None
    assert second.supersedes == first.recommendation_set_id
    assert [o.opportunity_id for o in second.opportunities] == [smart_event.career_event_id]


def test_a_new_season_starts_a_new_line_of_sets() -> None:
    participant_id, evidence = pupil()
    first = recommend(evidence, catalogue(), RULES)
    assert first is not None
    next_season = (
        interests(participant_id, {Environment.HEALTHY: 90}, season=2027),
        soft_skills(participant_id, season=2027),
        knowledge(participant_id, {}, season=2027),
    )
    retaken = evidence_fold.evolve(evidence, first)
    for fact in next_season:
        retaken = evidence_fold.evolve(retaken, fact)
    second = recommend(retaken, catalogue(), RULES)
    assert second is not None
    assert (second.season, second.supersedes) == (2027, None)
    assert second.leading_environments[0] is Environment.HEALTHY
    assert retaken.last_issued(2026) == first.recommendation_set_id


def test_profile_classes_and_routes_are_made_once_per_table_and_the_same_as_made_afresh() -> None:
    # ADR 0115: a table keeps the published rows it made; two pupils led by the same rows share
    # them, and a table parsed afresh (nothing kept yet) makes equal ones.
    rules = current_rules()
    first = recommend(pupil()[1], catalogue(), rules)
    second = recommend(pupil()[1], catalogue(), rules)
    afresh = recommend(pupil()[1], catalogue(), current_rules())
    assert first is not None
    assert second is not None
    assert afresh is not None
    assert first.profile_classes
    assert first.routes
    assert all(
        a is b for a, b in zip(first.profile_classes, second.profile_classes or (), strict=True)
    )
    assert all(a is b for a, b in zip(first.routes or (), second.routes or (), strict=True))
    assert afresh.profile_classes == first.profile_classes
    assert afresh.routes == first.routes
    assert afresh.model_dump_json(include={"profile_classes", "routes"}) == first.model_dump_json(
        include={"profile_classes", "routes"}
    )


@pytest.mark.parametrize(
    "copied",
    [
        lambda rules: rules.model_copy(update={"version": "9.9.9"}),
        lambda rules: rules.model_copy(update={"version": "9.9.9"}, deep=True),
    ],
    ids=["model_copy", "deep"],
)
def test_a_copied_table_of_another_version_publishes_its_own_rows(
    copied: Callable[[RecommendationRules], RecommendationRules],
) -> None:
    # Given a table that has made its published rows
    rules = current_rules()
    first = recommend(pupil()[1], catalogue(), rules)
    assert first is not None
    assert first.profile_classes
    assert first.routes
    # When a copy with another version recommends
    other = copied(rules)
    again = recommend(pupil()[1], catalogue(), other)
    # Then its classes and routes cite the copy's version, not the original's
    assert again is not None
    assert again.profile_classes
    assert again.routes
    cited = {ref.version for row in again.profile_classes for ref in row.because}
    cited |= {ref.version for row in again.routes for ref in row.because}
    assert cited == {"9.9.9"}
    # and the original's stay its own.
    assert {ref.version for row in first.profile_classes for ref in row.because} == {rules.version}
