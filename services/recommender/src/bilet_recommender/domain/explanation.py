"""The explanation of a set of recommendations: for every environment score, study-plan item,
profile class, route and opportunity, short Russian lines a pupil and a parent understand, and
the rows and evidence ids behind it for auditors.

Built only from `Recommended` and its rules table (no clock, no randomness, lists in the set's
order), so the same set gives the same explanation byte for byte. The evidence an item lists is
exactly the evidence the published event names for it.
"""

from bilet.contracts.catalogue.recommender import (
    Evidence as Cited,
)
from bilet.contracts.catalogue.recommender import (
    EvidenceSource,
    OpportunityKind,
    SchoolSubject,
    StudyIntent,
)
from bilet.contracts.vocabulary import Environment, MappingRowRef
from bilet_recommender.domain.recommend import Recommended
from bilet_recommender.domain.rules import RecommendationRules, Route
from bilet_recommender.domain.scoring import Contribution, EnvironmentScore

SUBJECT_TITLES = {
    SchoolSubject.MATHEMATICS: "Математика",
    SchoolSubject.INFORMATICS: "Информатика",
    SchoolSubject.PHYSICS: "Физика",
    SchoolSubject.CHEMISTRY: "Химия",
    SchoolSubject.BIOLOGY: "Биология",
    SchoolSubject.GEOGRAPHY: "География",
    SchoolSubject.HISTORY: "История",
    SchoolSubject.SOCIAL_STUDIES: "Обществознание",
    SchoolSubject.LITERATURE: "Литература",
    SchoolSubject.RUSSIAN_LANGUAGE: "Русский язык",
    SchoolSubject.FOREIGN_LANGUAGE: "Иностранный язык",
    SchoolSubject.ARTS: "Изобразительное искусство",
    SchoolSubject.TECHNOLOGY: "Технология",
    SchoolSubject.PHYSICAL_EDUCATION: "Физическая культура",
}
INTENT_TITLES = {
    StudyIntent.IN_DEPTH_COURSE: "углублённое изучение",
    StudyIntent.ELECTIVE_COURSE: "элективный курс",
    StudyIntent.PROJECT_WORK: "проектная работа",
    StudyIntent.OLYMPIAD_PREPARATION: "подготовка к олимпиадам",
}
KIND_TITLES = {
    OpportunityKind.CAREER_EVENT: "Профпроба",
    OpportunityKind.COURSE: "Курс",
    OpportunityKind.CLUB: "Кружок",
    OpportunityKind.PROGRAMME: "Программа",
}
ROUTE_TITLES = {
    Route.SPO: "колледж или техникум (СПО)",
    Route.VO: "вуз (высшее образование)",
}
SOURCE_WORDS = {
    EvidenceSource.STAGE_RESULT: "результат этапа диагностики",
    EvidenceSource.ATTENDANCE: "посещённая профпроба",
    EvidenceSource.MENTOR_FEEDBACK: "оценка наставника",
}
GUIDANCE_ONLY = (
    "Рекомендации помогают выбрать направление; решение остаётся за тобой и твоей семьёй."
)


def explain(recommended: Recommended, rules: RecommendationRules) -> dict[str, object]:
    """The explanation of `recommended` (computed with `rules`) as JSON-able data."""
    event = recommended.event
    leading = event.leading_environments
    by_environment = {s.environment: s for s in recommended.scores}
    titles = ", ".join(_title(rules, e).lower() for e in leading)
    return {
        "recommendation_set_id": str(event.recommendation_set_id),
        "season": event.season,
        "rules": event.rules.model_dump(mode="json"),
        "rules_title": rules.title,
        "environments": [
            _environment(rules, s, s.environment in leading) for s in recommended.scores
        ],
        "study_plan": [
            {
                "subject": item.subject.value,
                "intent": item.intent.value,
                "environment": item.environment.value,
                "rows": _rows(item.because),
                "evidence": _cited(item.evidence),
                "text": " ".join(
                    [
                        f"{SUBJECT_TITLES[item.subject]} — {INTENT_TITLES[item.intent]}.",
                        _leading_line(rules, by_environment[item.environment]),
                        *(rules.reason(ref.row) for ref in item.because[1:]),
                    ]
                ),
            }
            for item in event.study_plan
        ],
        "profile_classes": [
            {
                "environment": environment.value,
                "row": row.row,
                "title": row.title,
                "text": f"Профильный класс: {row.title}. {row.reason}",
            }
            for environment, row in recommended.profile_classes
        ],
        "routes": [
            {
                "environment": environment.value,
                "row": row.row,
                "after_grade": row.after_grade,
                "route": row.route.value,
                "programme": row.programme,
                "text": (
                    f"После {row.after_grade} класса — {ROUTE_TITLES[row.route]}: "
                    f"{row.programme}. {row.reason}"
                ),
            }
            for environment, row in recommended.routes
        ],
        "opportunities": [
            {
                "kind": o.kind.value,
                "opportunity_id": str(o.opportunity_id),
                "title": o.title,
                "environment": o.environment.value,
                "rows": _rows(o.because),
                "evidence": _cited(o.evidence),
                "text": (
                    f"{KIND_TITLES[o.kind]} «{o.title}» — {_title(rules, o.environment).lower()}. "
                    f"{rules.reason(rules.opportunity_rule.row)}"
                ),
            }
            for o in event.opportunities
        ],
        "text": [
            f"Ведущие для тебя среды: {titles}.",
            f"Рекомендации посчитаны по таблице «{rules.title}» (версия {rules.version}).",
            GUIDANCE_ONLY,
        ],
    }


def _title(rules: RecommendationRules, environment: Environment) -> str:
    return rules.of(environment).title


def _rows(refs: tuple[MappingRowRef, ...]) -> list[dict[str, str]]:
    return [ref.model_dump(mode="json") for ref in refs]


def _cited(cited: tuple[Cited, ...]) -> list[dict[str, object]]:
    return [{**e.model_dump(mode="json"), "text": SOURCE_WORDS[e.source]} for e in cited]


def _leading_line(rules: RecommendationRules, scored: EnvironmentScore) -> str:
    return (
        f"{_title(rules, scored.environment)} — одна из ведущих для тебя ({scored.score} из 100)."
    )


def _environment(
    rules: RecommendationRules, scored: EnvironmentScore, is_leading: bool
) -> dict[str, object]:
    verdict = " — одна из ведущих" if is_leading else ""
    return {
        "environment": scored.environment.value,
        "title": _title(rules, scored.environment),
        "score": scored.score,
        "leading": is_leading,
        "text": f"{_title(rules, scored.environment)}: {scored.score} из 100{verdict}.",
        "contributions": [_contribution(rules, c) for c in scored.contributions],
    }


def _contribution(rules: RecommendationRules, part: Contribution) -> dict[str, object]:
    return {
        "source": part.source.value,
        "row": part.weight_row,
        "weight": part.weight,
        "points": part.points,
        "evidence": _cited(part.evidence),
        "text": (
            f"{rules.reason(part.weight_row)} Баллы: {part.points} из 100, вес {part.weight}."
        ),
    }
