"""The explanation of a set: Russian lines for every item, and exactly the ids the event names."""

import json
from uuid import UUID, uuid4

from bilet.contracts.catalogue.events import InterestShown, TaskCompletion
from bilet.contracts.vocabulary import Environment, Level
from bilet_recommender.adapters.tables import current_rules
from bilet_recommender.domain.evidence import Fact
from bilet_recommender.domain.explanation import explain
from bilet_recommender.domain.offers import Opportunities, career_event_offer, evolve_career_event
from bilet_recommender.domain.recommend import Recommended, compute
from bilet_recommender.testing import (
    NOW,
    attended,
    career_event,
    completed_pupil,
    evidence_of,
    feedback,
)

RULES = current_rules()
REGION = uuid4()


PARTICIPANT = uuid4()
VISITED = career_event(REGION, Environment.SMART)
UPCOMING = career_event(REGION, Environment.SMART, title="Разработчик игр")
VISIT = attended(PARTICIPANT, VISITED)
RUBRIC = feedback(VISIT, InterestShown.HIGH, TaskCompletion.PARTLY_COMPLETED)
HISTORY: tuple[Fact, ...] = (
    *completed_pupil(
        PARTICIPANT,
        REGION,
        {Environment.SMART: 80, Environment.HEALTHY: 40},
        {Environment.SMART: Level.ADVANCED},
        grade=9,
    ),
    VISIT,
    RUBRIC,
)


def _recommended() -> tuple[Recommended, UUID, UUID]:
    """The set for `HISTORY`, folded afresh on every call."""
    state = evidence_of(PARTICIPANT, *HISTORY)
    published = evolve_career_event(None, UPCOMING)
    assert published is not None
    offer = career_event_offer(published, NOW)
    assert offer is not None
    known = ((VISITED.career_event_id, VISITED.environments),)
    recommended = compute(state, Opportunities(NOW, (offer,), known), RULES)
    assert recommended is not None
    return recommended, VISIT.booking_id, RUBRIC.feedback_id


def test_every_item_names_exactly_the_evidence_the_event_names_for_it() -> None:
    recommended, _, _ = _recommended()
    explained = explain(recommended, RULES)
    event = recommended.event
    plan = explained["study_plan"]
    assert isinstance(plan, list)
    for item, published in zip(plan, event.study_plan, strict=True):
        assert [e["ref_id"] for e in item["evidence"]] == [
            str(e.ref_id) for e in published.evidence
        ]
        assert [r["row"] for r in item["rows"]] == [r.row for r in published.because]
    offers = explained["opportunities"]
    assert isinstance(offers, list)
    assert [o["opportunity_id"] for o in offers] == [
        str(o.opportunity_id) for o in event.opportunities
    ]


def test_the_lines_speak_russian_and_name_the_career_event_and_the_rubric() -> None:
    recommended, booking_id, feedback_id = _recommended()
    explained = explain(recommended, RULES)
    smart = explained["environments"][0]  # type: ignore[index]
    assert smart["text"] == f"Умная среда: {smart['score']} из 100 — одна из ведущих."
    by_source = {c["source"]: c for c in smart["contributions"]}
    assert by_source["attendance"]["evidence"][0]["ref_id"] == str(booking_id)
    assert by_source["attendance"]["evidence"][0]["text"] == "посещённая профпроба"
    assert by_source["mentor_rubric"]["evidence"][0]["ref_id"] == str(feedback_id)
    # high interest 100, partly completed 50: 75 points.
    assert by_source["mentor_rubric"]["points"] == 75
    first = explained["study_plan"][0]  # type: ignore[index]
    # Advanced knowledge of the smart environment's professions: olympiads.
    assert first["text"].startswith("Информатика — подготовка к олимпиадам. Умная среда")
    assert "попробуй олимпиады" in first["text"]
    routes = [r["text"] for r in explained["routes"]]  # type: ignore[attr-defined]
    assert routes[0].startswith("После 9 класса — колледж или техникум (СПО): 09.02.07")
    offer = explained["opportunities"][0]  # type: ignore[index]
    assert offer["text"].startswith("Профпроба «Разработчик игр» — умная среда.")


def test_the_same_history_explains_itself_byte_for_byte() -> None:
    once, _, _ = _recommended()
    again, _, _ = _recommended()
    assert once.event == again.event
    first = json.dumps(explain(once, RULES), ensure_ascii=False)
    assert json.dumps(explain(again, RULES), ensure_ascii=False) == first
