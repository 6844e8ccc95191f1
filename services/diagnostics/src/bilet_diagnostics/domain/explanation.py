"""The explanation of a scored sheet: which answers gave which scale points, which mapping rows gave
which environment, with ids for clients and short Russian lines a pupil and a parent understand.

Built only from the scored sheet (no clock, no randomness, lists in the form's and the table's
order), so the same sheet gives the same explanation byte for byte.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

from bilet.contracts.catalogue.diagnostics import InterestsResult
from bilet.contracts.vocabulary import Environment, Level, Stage
from bilet_diagnostics.domain.mapping import MappingContribution, MappingTable, round_half_up

if TYPE_CHECKING:
    from bilet_diagnostics.domain.scoring import ScaleResult, Scored

STAGE_TITLES = {
    Stage.INTERESTS: "Интересы и профессиональные склонности",
    Stage.SOFT_SKILLS: "Какими гибкими навыками я обладаю",
    Stage.PROFESSIONS_KNOWLEDGE: "Что я знаю о профессиях",
}
LEVEL_TITLES = {
    Level.INITIAL: "начальный",
    Level.BASIC: "базовый",
    Level.PROFICIENT: "уверенный",
    Level.ADVANCED: "продвинутый",
}
GUIDANCE_ONLY = (
    "Результаты помогают выбрать направление и не влияют на школьные оценки и поступление."
)


def explain(scored: Scored) -> dict[str, object]:
    """The explanation of `scored` as JSON-able data."""
    explained: dict[str, object] = {
        "stage": scored.stage.value,
        "stage_title": STAGE_TITLES[scored.stage],
        "instruments": [ref.model_dump(mode="json") for ref in scored.instruments],
        "scales": [_scale(scored, scale) for scale in scored.scales],
    }
    lines = [f"Этап «{STAGE_TITLES[scored.stage]}»."]
    if isinstance(scored.result, InterestsResult) and scored.mapping is not None:
        leading = [e.value for e in scored.result.environments.leading]
        explained["mapping"] = scored.mapping.ref.model_dump(mode="json")
        explained["environments"] = [
            _environment(scored, scored.mapping, environment, score, environment in leading)
            for environment, score in scored.result.environments.scores.model_dump().items()
        ]
        explained["leading"] = leading
        lines.extend(_interests_lines(scored, scored.mapping, scored.result))
    else:
        lines.extend(_level_line(scale) for scale in scored.scales)
    lines.append(GUIDANCE_ONLY)
    explained["text"] = lines
    return explained


def _scale(scored: Scored, scale: ScaleResult) -> dict[str, object]:
    answers = [
        {"item_id": p.item_id, "option_id": p.option_id, "points": p.points}
        for p in scored.points
        if p.instrument == scale.instrument and p.scale == scale.scale
    ]
    explained: dict[str, object] = {
        "instrument": scale.instrument.value,
        "scale": scale.scale,
        "title": scale.title,
        "score": scale.score,
        "max_score": scale.max_score,
    }
    if scale.level is not None and scale.thresholds is not None:
        explained["level"] = scale.level.value
        explained["thresholds"] = {"basic": scale.thresholds[0], "advanced": scale.thresholds[1]}
        explained["text"] = _level_line(scale)
    else:
        explained["text"] = f"«{scale.title}»: {scale.score} из {scale.max_score} баллов."
    scoring = [a for a in answers if a["points"]]
    explained["answers"] = answers
    explained["text"] = f"{explained['text']} Баллы дали ответы: {_ids(scoring)}."
    return explained


def _ids(answers: list[dict[str, object]]) -> str:
    return ", ".join(str(a["item_id"]) for a in answers) if answers else "ни один"


def _level_line(scale: ScaleResult) -> str:
    assert scale.level is not None
    assert scale.thresholds is not None
    basic, advanced = scale.thresholds
    return (
        f"«{scale.title}»: {scale.score} из {scale.max_score} — {LEVEL_TITLES[scale.level]} "
        f"уровень (базовый — от {basic}, продвинутый — от {advanced} баллов)."
    )


def _environment(
    scored: Scored, table: MappingTable, environment: str, score: int, is_leading: bool
) -> dict[str, object]:
    rows = [row for row in scored.mapping_rows if row.environment.value == environment]
    title = table.environment_title(Environment(environment))
    verdict = " — одна из ведущих сред" if is_leading else ""
    return {
        "environment": environment,
        "title": title,
        "score": score,
        "leading": is_leading,
        "text": f"{title}: {score} из 100{verdict}.",
        "rows": [_row(scored, table, row) for row in rows],
    }


def _row(scored: Scored, table: MappingTable, row: MappingContribution) -> dict[str, object]:
    reason = next(r.reason for r in table.rows if r.row_id == row.row_id)
    title = _scale_title(scored, row)
    share = _tenths(row.share)
    return {
        "row": row.row_id,
        "instrument": row.instrument.value,
        "scale": row.scale,
        "weight": row.weight,
        "score": row.score,
        "max_score": row.max_score,
        "share": share,
        "text": (
            f"{reason} «{title}»: {row.score} из {row.max_score}, вес {row.weight} — "
            f"+{share.replace('.', ',')} балла."
        ),
    }


def _scale_title(scored: Scored, row: MappingContribution) -> str:
    return next(
        s.title for s in scored.scales if s.instrument == row.instrument and s.scale == row.scale
    )


def _tenths(value: Fraction) -> str:
    """A share to one decimal place, rounded half up, as text (`12.5`): exact, never a float."""
    tenths = round_half_up(value.numerator * 10, value.denominator)
    return f"{tenths // 10}.{tenths % 10}"


def _interests_lines(scored: Scored, table: MappingTable, result: InterestsResult) -> list[str]:
    scores = result.environments.scores.model_dump()
    leading = ", ".join(
        f"{table.environment_title(e).lower()} ({scores[e.value]} из 100)"
        for e in result.environments.leading
    )
    lines = [f"Сильнее всего интерес к средам: {leading}."]
    for instrument in scored.instruments:
        own = [s for s in scored.scales if s.instrument == instrument.instrument]
        top = max(s.score for s in own)
        best = [s for s in own if s.score == top]
        titles = ", ".join(f"«{s.title}»" for s in best)
        lines.append(f"Больше всего баллов — {titles}: {top} из {best[0].max_score}.")
    lines.append(
        f"Баллы сред считает таблица «{table.title}» (версия {table.ref.version}): "
        "у каждой среды — свои шкалы с весами."
    )
    return lines
