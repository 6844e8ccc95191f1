"""Given a participant's evidence, when recommending, then the published set (RecommendationsIssued
v2, ADR 0048) carries every environment's score, the profile classes and the routes after the 9th
and 11th grade exactly as the domain computed them, and its texts are the rules table's own."""

import json
from uuid import UUID, uuid4

from bilet.contracts.catalogue.events import InterestShown, TaskCompletion
from bilet.contracts.catalogue.recommender import EducationRoute, OpportunityKind, ScoreSource
from bilet.contracts.vocabulary import Environment, Level
from bilet_recommender.adapters.tables import current_rules
from bilet_recommender.domain.explanation import explain
from bilet_recommender.domain.offers import Offer, Opportunities
from bilet_recommender.domain.recommend import compute
from bilet_recommender.domain.rules import Source
from bilet_recommender.testing import (
    NOW,
    attended,
    career_event,
    completed_pupil,
    evidence_of,
    feedback,
)

RULES = current_rules()
REGION = UUID("00000000-0000-0000-0000-000000000047")


def _texts(value: object) -> set[str]:
    """Every string in a JSON value that is not an id, a code or a number."""
    if isinstance(value, dict):
        return {text for item in value.values() for text in _texts(item)}
    if isinstance(value, list):
        return {text for item in value for text in _texts(item)}
    if isinstance(value, str) and any("а" <= ch.lower() <= "я" or ch in "ёЁ" for ch in value):
        return {value}
    return set()


def _rules_texts() -> set[str]:
    texts: set[str] = set()
    for entry in RULES.environments:
        texts |= {entry.title}
        texts |= {row.reason for row in entry.subjects}
        texts |= {t for row in entry.profile_classes for t in (row.title, row.reason)}
        texts |= {t for row in entry.routes for t in (row.programme, row.reason)}
    return texts


def test_the_published_scores_are_the_computed_ones_with_their_weight_rows() -> None:
    participant_id = uuid4()
    agro = career_event(REGION, Environment.AGRARIAN)
    visit = attended(participant_id, agro)
    rubric = feedback(visit, InterestShown.HIGH, TaskCompletion.COMPLETED)
    facts = completed_pupil(
        participant_id, REGION, {Environment.SMART: 60, Environment.AGRARIAN: 50}
    )
    evidence = evidence_of(participant_id, *facts, visit, rubric)
    known = ((agro.career_event_id, agro.environments),)
    recommended = compute(
        evidence, Opportunities(as_of=NOW, offers=(), environments_of=known), RULES
    )
    assert recommended is not None
    published = recommended.event.environment_scores
    assert published is not None
    assert [(s.environment, s.score) for s in published] == [
        (s.environment, s.score) for s in recommended.scores
    ]
    assert {s.environment for s in published} == set(Environment)
    agrarian = published[0]
    assert (agrarian.environment, agrarian.score) == (Environment.AGRARIAN, 48)
    assert [c.source for c in agrarian.contributions] == list(ScoreSource)
    attendance = agrarian.contributions[2]
    assert (attendance.weight, attendance.points) == (15, 50)
    assert attendance.because == RULES.row_ref(RULES.weight(Source.ATTENDANCE).row)
    assert [e.ref_id for e in attendance.evidence] == [visit.booking_id]


def test_profile_classes_and_routes_are_the_leading_environments_rows() -> None:
    for grade, after in ((8, {9, 11}), (10, {11})):
        participant_id = uuid4()
        facts = completed_pupil(
            participant_id,
            REGION,
            {Environment.SMART: 90, Environment.BUSINESS: 70, Environment.CREATIVE: 60},
            {Environment.SMART: Level.BASIC},
            grade,
        )
        evidence = evidence_of(participant_id, *facts)
        recommended = compute(evidence, Opportunities(as_of=NOW, offers=()), RULES)
        assert recommended is not None
        event = recommended.event
        assert event.profile_classes is not None
        assert event.routes is not None
        assert [(c.environment, c.because[-1].row, c.title) for c in event.profile_classes] == [
            (e, row.row, row.title) for e, row in recommended.profile_classes
        ]
        assert [c.environment for c in event.profile_classes] == list(event.leading_environments)
        assert [(r.environment, r.because[-1].row, r.after_grade) for r in event.routes] == [
            (e, row.row, row.after_grade) for e, row in recommended.routes
        ]
        assert {r.after_grade for r in event.routes} == after
        assert all(r.route is EducationRoute.SPO for r in event.routes if r.after_grade == 9)


def test_the_published_texts_are_the_rules_table_and_the_catalogue_titles_only() -> None:
    """Explanations are texts about evidence: none carries a name (the pupil's name never reaches
    the evidence; every Russian string of the set is a text of the table or an offer title)."""
    participant_id = uuid4()
    facts = completed_pupil(participant_id, REGION, {Environment.SMART: 90}, grade=8)
    evidence = evidence_of(participant_id, *facts)
    summer = Offer(
        kind=OpportunityKind.PROGRAMME,
        opportunity_id=uuid4(),
        title="Летняя IT-школа «Код будущего»",
        region_id=REGION,
        municipality="Лужский район",
        environments=(Environment.SMART,),
        lowest_grade=7,
        highest_grade=11,
        accommodates=frozenset(),
        seats=None,
        starts=NOW.date(),
        ends=NOW.date(),
    )
    recommended = compute(evidence, Opportunities(as_of=NOW, offers=(summer,)), RULES)
    assert recommended is not None
    event = recommended.event
    assert [(o.kind, o.title) for o in event.opportunities] == [
        (OpportunityKind.PROGRAMME, summer.title)
    ]
    texts = _texts(json.loads(event.model_dump_json()))
    assert texts, "the set carries the table's texts"
    assert texts <= _rules_texts() | {summer.title}
    assert summer.municipality not in texts
    # A programme explains itself as one (ADR 0048: the kind a coordinator registers).
    lines: list[dict[str, str]] = explain(recommended, RULES)["opportunities"]  # type: ignore[assignment]
    assert len(lines) == 1
    assert lines[0]["text"].startswith(f"Программа «{summer.title}» — умная среда.")
