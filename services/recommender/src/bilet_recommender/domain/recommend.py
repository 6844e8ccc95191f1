"""The recommendations for one participant: `recommend(evidence, opportunities, rules)`, a pure,
deterministic function shared by every runtime (the faust worker, the embedded feed).

Nothing is recommended without a verified consent covering `recommendations` in force at the
catalogue's moment, nor before all three stages are completed in a season. Otherwise:
- the leading environments, by the scores of `scoring` (stage results weighted with career events
  attended and mentor rubrics);
- a study plan from the rules table: the leading environments' school subjects to deepen (each
  subject once, for the strongest environment naming it), their intent raised by the table's
  intent rules; their profile classes and routes after the 9th and 11th grade in `Recommended`;
- ranked opportunities of the catalogue: in the participant's region, for their grade, with the
  accommodations they need (when known), with a free place, not one they attended or hold a seat
  at, serving a leading environment; the strongest environment first, then the sooner.
Every item names the rows it was derived by and the evidence it rests on. The set's id is derived
from the participant and the evidence versions (`recommendation_set_id`): a redelivered input
computes the same id, which the event store keeps once; an id equal to the last set issued for the
season means nothing new (None). A new set supersedes the season's last one (the portfolio keeps
one set per season).
"""

import hashlib
from dataclasses import dataclass
from datetime import date
from uuid import UUID, uuid5

from bilet.contracts.catalogue import recommender as published
from bilet.contracts.catalogue.consent import Purpose
from bilet.contracts.catalogue.recommender import (
    AttemptBasis,
    Basis,
    EducationRoute,
    EvidenceSource,
    Opportunity,
    ProfileClass,
    RecommendationsIssued,
    RouteAfterSchool,
    ScoreContribution,
    ScoreSource,
    StudyPlanItem,
)
from bilet.contracts.catalogue.recommender import Evidence as Cited
from bilet.contracts.vocabulary import AccessibilityNeed, Environment, Stage
from bilet_recommender.domain.evidence import Evidence, StageResult
from bilet_recommender.domain.offers import Offer, Opportunities
from bilet_recommender.domain.rules import (
    IntentRule,
    ProfileClassRow,
    RecommendationRules,
    RouteRow,
    Source,
    at_least,
)
from bilet_recommender.domain.scoring import (
    ENVIRONMENT_ORDER,
    EnvironmentScore,
    score_environments,
)

# A contribution's source as the contract names it (the rules' `Source` has the same values).
_SCORE_SOURCES: dict[Source, ScoreSource] = {source: ScoreSource(source.value) for source in Source}
# The namespace of recommendation set ids (uuid5 of it and the evidence versions).
SET_NAMESPACE = UUID("6f1d1c3e-8a52-5c0e-9b1f-2f7e4c3a9d10")


@dataclass(frozen=True)
class Recommended:
    """A set of recommendations: the published event and what the rules table adds for reading
    (every environment's score with its contributions, the profile classes and routes of the
    leading environments), so an explanation needs nothing else."""

    event: RecommendationsIssued
    scores: tuple[EnvironmentScore, ...]
    profile_classes: tuple[tuple[Environment, ProfileClassRow], ...]
    routes: tuple[tuple[Environment, RouteRow], ...]


def recommend(
    evidence: Evidence,
    opportunities: Opportunities,
    rules: RecommendationRules,
    needs: frozenset[AccessibilityNeed] | None = None,
) -> RecommendationsIssued | None:
    """The new set of recommendations, or None (no consent, stages missing, nothing new).
    `needs`: the participant's accessibility needs, opened by the runtime from `evidence.needs`
    when a consent covering health data is in force; None: not known, not filtered on."""
    recommended = compute(evidence, opportunities, rules, needs)
    return None if recommended is None else recommended.event


def compute(
    evidence: Evidence,
    opportunities: Opportunities,
    rules: RecommendationRules,
    needs: frozenset[AccessibilityNeed] | None = None,
) -> Recommended | None:
    """`recommend`, with the reading aids of `Recommended`."""
    if not evidence.allows(Purpose.RECOMMENDATIONS, opportunities.as_of.date()):
        return None
    season = evidence.completed_season()
    if season is None:
        return None
    set_id = recommendation_set_id(evidence, season, rules)
    last = evidence.last_issued(season)
    if set_id == last:
        return None
    scores = score_environments(evidence, season, rules, dict(opportunities.environments_of))
    leading = scores[: rules.leading_count]
    entries = [(s.environment, rules.of(s.environment)) for s in leading]
    profile_classes = tuple((e, row) for e, entry in entries for row in entry.profile_classes)
    routes = tuple(
        (e, row) for e, entry in entries for row in entry.routes if _route_ahead(row, evidence)
    )
    event = RecommendationsIssued(
        recommendation_set_id=set_id,
        participant_id=evidence.participant_id,
        season=season,
        rules=rules.ref,
        basis=_basis(evidence, season),
        leading_environments=tuple(s.environment for s in leading),
        environment_scores=tuple(_published_score(scored, rules) for scored in scores),
        study_plan=_study_plan(evidence, season, rules, leading),
        profile_classes=tuple(_profile_class(e, row, rules) for e, row in profile_classes),
        routes=tuple(_route(e, row, rules) for e, row in routes),
        opportunities=_opportunities(evidence, opportunities, rules, leading, needs),
        supersedes=last,
    )
    return Recommended(event=event, scores=scores, profile_classes=profile_classes, routes=routes)


def recommendation_set_id(evidence: Evidence, season: int, rules: RecommendationRules) -> UUID:
    """uuid5 of the participant and the versions of every input the set is computed from: the
    stage attempts, the career events attended and held, the rubrics, grade, region, the sealed
    needs and the rules version. The same evidence gives the same id, whatever runtime."""
    needs = "-"
    if evidence.needs is not None:
        sealed = evidence.needs.model_dump_json().encode()
        needs = hashlib.sha256(sealed).hexdigest()
    parts = [
        str(evidence.participant_id),
        str(season),
        f"{rules.rules_id}@{rules.version}",
        ",".join(sorted(str(r.attempt_id) for r in evidence.results(season))),
        ",".join(sorted(str(a.booking_id) for a in evidence.attended)),
        ",".join(sorted(str(b.booking_id) for b in evidence.booked)),
        ",".join(sorted(str(r.feedback_id) for r in evidence.rubrics)),
        str(evidence.grade),
        str(evidence.region_id),
        needs,
    ]
    return uuid5(SET_NAMESPACE, "|".join(parts))


def _basis(evidence: Evidence, season: int) -> Basis:
    return Basis(
        attempts=tuple(_attempt(result) for result in evidence.results(season)),
        attended_bookings=tuple(a.booking_id for a in evidence.attended),
        feedback_ids=tuple(r.feedback_id for r in evidence.rubrics),
    )


def _attempt(result: StageResult) -> AttemptBasis:
    return AttemptBasis(
        attempt_id=result.attempt_id,
        stage=result.stage,
        answer_sheet_id=result.answer_sheet_id,
        answer_sheet_digest=result.answer_sheet_digest,
        instruments=result.instruments,
    )


def _published_score(
    scored: EnvironmentScore, rules: RecommendationRules
) -> published.EnvironmentScore:
    return published.EnvironmentScore(
        environment=scored.environment,
        score=scored.score,
        contributions=tuple(
            ScoreContribution(
                source=_SCORE_SOURCES[part.source],
                because=rules.row_ref(part.weight_row),
                weight=part.weight,
                points=part.points,
                evidence=part.evidence,
            )
            for part in scored.contributions
        ),
    )


def _profile_class(
    environment: Environment, row: ProfileClassRow, rules: RecommendationRules
) -> ProfileClass:
    # The texts are the rules table's own (public, about environments): nothing about the pupil.
    made = rules.published_classes
    found = made.get(row.row)
    if found is None:
        found = made[row.row] = ProfileClass(
            environment=environment,
            title=row.title,
            reason=row.reason,
            because=(rules.row_ref(rules.of(environment).row), rules.row_ref(row.row)),
        )
    return found


def _route(environment: Environment, row: RouteRow, rules: RecommendationRules) -> RouteAfterSchool:
    made = rules.published_routes
    found = made.get(row.row)
    if found is None:
        found = made[row.row] = RouteAfterSchool(
            environment=environment,
            after_grade=row.after_grade,
            route=EducationRoute(row.route.value),
            programme=row.programme,
            reason=row.reason,
            because=(rules.row_ref(rules.of(environment).row), rules.row_ref(row.row)),
        )
    return found


def _route_ahead(row: RouteRow, evidence: Evidence) -> bool:
    """After the 9th grade only while the pupil has not gone past it (unknown grade: both)."""
    return row.after_grade == 11 or evidence.grade is None or evidence.grade <= 9


def _study_plan(
    evidence: Evidence,
    season: int,
    rules: RecommendationRules,
    leading: tuple[EnvironmentScore, ...],
) -> tuple[StudyPlanItem, ...]:
    items: list[StudyPlanItem] = []
    for scored in leading:
        entry = rules.of(scored.environment)
        rule, cited = _intent_rule(evidence, season, rules, scored.environment)
        for row in entry.subjects:
            if any(item.subject is row.subject for item in items):
                continue
            because = (entry.row, row.row) if rule is None else (entry.row, row.row, rule.row)
            items.append(
                StudyPlanItem(
                    subject=row.subject,
                    intent=row.intent if rule is None else rule.intent,
                    environment=scored.environment,
                    because=tuple(rules.row_ref(r) for r in because),
                    evidence=_distinct((*scored.evidence, *cited)),
                )
            )
    return tuple(items)


def _intent_rule(
    evidence: Evidence, season: int, rules: RecommendationRules, environment: Environment
) -> tuple[IntentRule | None, tuple[Cited, ...]]:
    """The first intent rule that holds for the environment, and the result it rests on."""
    knowledge = evidence.result(season, Stage.PROFESSIONS_KNOWLEDGE)
    skills = evidence.result(season, Stage.SOFT_SKILLS)
    for rule in rules.intent_rules:
        if rule.knowledge_at_least is not None:
            level = dict(knowledge.knowledge_levels).get(environment)
            if level is not None and at_least(level, rule.knowledge_at_least):
                return rule, (_cite(knowledge, f"levels.{environment.value}"),)
        elif rule.skill is not None and rule.skill_at_least is not None:
            shown = dict(skills.skill_levels).get(rule.skill)
            if shown is not None and at_least(shown, rule.skill_at_least):
                return rule, (_cite(skills, f"levels.{rule.skill}"),)
    return None, ()


def _cite(result: StageResult, scale: str) -> Cited:
    return Cited(source=EvidenceSource.STAGE_RESULT, ref_id=result.attempt_id, scale=scale)


def _distinct(cited: tuple[Cited, ...]) -> tuple[Cited, ...]:
    return tuple(dict.fromkeys(cited))


def _opportunities(
    evidence: Evidence,
    catalogue: Opportunities,
    rules: RecommendationRules,
    leading: tuple[EnvironmentScore, ...],
    needs: frozenset[AccessibilityNeed] | None,
) -> tuple[Opportunity, ...]:
    done = {a.career_event_id for a in (*evidence.attended, *evidence.booked)}
    rank = {scored.environment: index for index, scored in enumerate(leading)}
    candidates: list[tuple[tuple[int, date, int, str], Offer, EnvironmentScore]] = []
    for offer in catalogue.offers:
        if not _open_to(offer, evidence, catalogue, needs) or offer.opportunity_id in done:
            continue
        served = [e for e in offer.environments if e in rank]
        if not served:
            continue
        best = min(served, key=rank.__getitem__)
        order = (rank[best], offer.starts, ENVIRONMENT_ORDER.index(best), str(offer.opportunity_id))
        candidates.append((order, offer, leading[rank[best]]))
    candidates.sort(key=lambda candidate: candidate[0])
    return tuple(
        Opportunity(
            kind=offer.kind,
            opportunity_id=offer.opportunity_id,
            title=offer.title,
            environment=scored.environment,
            because=(
                rules.row_ref(rules.of(scored.environment).row),
                rules.row_ref(rules.opportunity_rule.row),
            ),
            evidence=scored.evidence,
        )
        for _, offer, scored in candidates[: rules.max_opportunities]
    )


def _open_to(
    offer: Offer,
    evidence: Evidence,
    catalogue: Opportunities,
    needs: frozenset[AccessibilityNeed] | None,
) -> bool:
    grade = evidence.grade
    return (
        offer.region_id == evidence.region_id
        and grade is not None
        and offer.lowest_grade <= grade <= offer.highest_grade
        and (needs is None or needs <= offer.accommodates)
        and (offer.seats is None or offer.seats > 0)
        and offer.ends >= catalogue.as_of.date()
    )
