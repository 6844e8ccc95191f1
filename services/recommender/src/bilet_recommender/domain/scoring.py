"""An environment's recommendation score (0–100) from a participant's evidence, by the weights and
points of the rules table, with every contribution and the evidence it rests on.

The score is the weighted mean of the sources the participant has: interests and knowledge of
professions always (all three stages are completed before anything is recommended), career
events attended and mentor rubrics only once there are any (a pupil who has not been to a career
event yet is not marked down for it). Exact integer arithmetic, rounded half up (integers
only, not `Fraction`: the score is computed nine times per set, and `Fraction`'s arithmetic was
most of `score_environments`' time in the worker's profile, ADR 0070); ties between environments
in the programme's order: the same evidence always gives the same scores.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

from bilet.contracts.catalogue.recommender import Evidence as Cited
from bilet.contracts.catalogue.recommender import EvidenceSource
from bilet.contracts.vocabulary import Environment, Level, Stage
from bilet_recommender.domain.evidence import Evidence, StageResult
from bilet_recommender.domain.rules import RecommendationRules, Source

ENVIRONMENT_ORDER: tuple[Environment, ...] = tuple(Environment)


def divide_half_up(numerator: int, denominator: int) -> int:
    """`numerator / denominator` rounded half up, exactly (both non-negative, the denominator
    positive): floor(n/d + 1/2) = floor((2n + d) / 2d)."""
    return (2 * numerator + denominator) // (2 * denominator)


@dataclass(frozen=True)
class Contribution:
    """What one source gave an environment: `points` (0–100) with the weight row's `weight`."""

    source: Source
    weight_row: str
    weight: int
    points: int
    evidence: tuple[Cited, ...]


@dataclass(frozen=True)
class EnvironmentScore:
    environment: Environment
    score: int
    contributions: tuple[Contribution, ...]

    @property
    def evidence(self) -> tuple[Cited, ...]:
        """Every piece of evidence the score rests on (those that gave it points)."""
        return tuple(e for c in self.contributions if c.points for e in c.evidence) or tuple(
            e for c in self.contributions if c.source is Source.INTERESTS for e in c.evidence
        )


CareerEventEnvironments = Mapping[UUID, tuple[Environment, ...]]


def score_environments(
    evidence: Evidence, season: int, rules: RecommendationRules, known: CareerEventEnvironments
) -> tuple[EnvironmentScore, ...]:
    """Every environment's score in `season` (all three stages completed), strongest first."""
    results = SeasonResults.of(
        evidence.result(season, Stage.INTERESTS),
        evidence.result(season, Stage.PROFESSIONS_KNOWLEDGE),
    )
    scored = [
        _score(evidence, results, rules, known, environment) for environment in ENVIRONMENT_ORDER
    ]
    return tuple(sorted(scored, key=lambda s: (-s.score, _PLACE[s.environment])))


_PLACE: dict[Environment, int] = {e: place for place, e in enumerate(ENVIRONMENT_ORDER)}


@dataclass(frozen=True)
class SeasonResults:
    """The season's stage results the scores read, looked up once per set (not once per
    environment), with their scores and levels by environment."""

    interests: StageResult
    knowledge: StageResult
    scores: dict[Environment, int]
    levels: dict[Environment, Level]

    @classmethod
    def of(cls, interests: StageResult, knowledge: StageResult) -> "SeasonResults":
        scores = dict(interests.environment_scores)
        return cls(interests, knowledge, scores, dict(knowledge.knowledge_levels))


def _score(
    evidence: Evidence,
    results: SeasonResults,
    rules: RecommendationRules,
    known: CareerEventEnvironments,
    environment: Environment,
) -> EnvironmentScore:
    parts = [_interests(results, rules, environment), _knowledge(results, rules, environment)]
    if evidence.attended:
        parts.append(_attendance(evidence, rules, known, environment))
    if evidence.rubrics:
        parts.append(_rubrics(evidence, rules, known, environment))
    total = sum(c.weight * c.points for c in parts)
    score = divide_half_up(total, sum(c.weight for c in parts))
    return EnvironmentScore(environment, score, tuple(parts))


def _part(
    rules: RecommendationRules, source: Source, points: int, evidence: tuple[Cited, ...]
) -> Contribution:
    row = rules.weight(source)
    return Contribution(source, row.row, row.weight, points, evidence)


def _interests(
    results: SeasonResults, rules: RecommendationRules, environment: Environment
) -> Contribution:
    points = results.scores.get(environment, 0)
    cited = Cited(
        source=EvidenceSource.STAGE_RESULT,
        ref_id=results.interests.attempt_id,
        scale=f"environments.scores.{environment.value}",
    )
    return _part(rules, Source.INTERESTS, points, (cited,))


def _knowledge(
    results: SeasonResults, rules: RecommendationRules, environment: Environment
) -> Contribution:
    level = results.levels.get(environment)
    if level is None:
        return _part(rules, Source.PROFESSIONS_KNOWLEDGE, 0, ())
    cited = Cited(
        source=EvidenceSource.STAGE_RESULT,
        ref_id=results.knowledge.attempt_id,
        scale=f"levels.{environment.value}",
    )
    points = rules.points.knowledge_level[level]
    return _part(rules, Source.PROFESSIONS_KNOWLEDGE, points, (cited,))


def _attendance(
    evidence: Evidence,
    rules: RecommendationRules,
    known: CareerEventEnvironments,
    environment: Environment,
) -> Contribution:
    mine = [a for a in evidence.attended if environment in known.get(a.career_event_id, ())]
    points = min(100, len(mine) * rules.points.attendance_per_event)
    cited = tuple(Cited(source=EvidenceSource.ATTENDANCE, ref_id=a.booking_id) for a in mine)
    return _part(rules, Source.ATTENDANCE, points, cited)


def _rubrics(
    evidence: Evidence,
    rules: RecommendationRules,
    known: CareerEventEnvironments,
    environment: Environment,
) -> Contribution:
    """The best rubric entry about the environment: a rubric of a career event in it (interest
    shown and task completion, averaged), or a mentor's suggestion to explore it."""
    table = rules.points
    best, cited = 0, []
    for rubric in evidence.rubrics:
        entries = []
        if environment in known.get(rubric.career_event_id, ()):
            shown = table.interest_shown[rubric.interest_shown]
            done = table.task_completion[rubric.task_completion]
            entries.append(divide_half_up(shown + done, 2))
        if environment in rubric.suggested_environments:
            entries.append(table.suggested_environment)
        if entries:
            best = max(best, *entries)
            cited.append(Cited(source=EvidenceSource.MENTOR_FEEDBACK, ref_id=rubric.feedback_id))
    return _part(rules, Source.MENTOR_RUBRIC, best, tuple(cited))
