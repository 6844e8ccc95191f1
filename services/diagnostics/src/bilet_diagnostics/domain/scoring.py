"""Scoring a complete answer sheet: a pure, deterministic function of the form (its versions) and
the answers, so the same sheet and version always give byte-identical results and explanations.

Every instrument scores the same way: the chosen option gives its points to its scale (one ДДО
pair: 1 point to the chosen type; a Likert item: 0–4 to its RIASEC type; a situation: 0–2 to its
soft skill; a knowledge question: 1 for the right answer to its environment). Interests go on
through the mapping table to the nine environments; soft skills and knowledge get
criterion-referenced levels from the bank's thresholds.
"""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import assert_never

from bilet.contracts.catalogue.diagnostics import (
    InterestsResult,
    KlimovResult,
    KlimovScores,
    KnowledgeLevel,
    ProfessionsKnowledgeResult,
    RiasecResult,
    RiasecScores,
    SkillLevel,
    SoftSkillsResult,
)
from bilet.contracts.vocabulary import Environment, Instrument, InstrumentRef, Level, Stage
from bilet_diagnostics.domain import explanation
from bilet_diagnostics.domain.instruments import ItemBank, StageForm
from bilet_diagnostics.domain.mapping import MappingContribution, MappingTable, ScaleScore, profile

StageResult = InterestsResult | SoftSkillsResult | ProfessionsKnowledgeResult


class AnswerSheetError(ValueError):
    """The answers are not a complete sheet of this form (checked before scoring; the attempt
    refuses such answers earlier, so this is a programming error, not a pupil's)."""


@dataclass(frozen=True)
class ScalePoint:
    """Which answer gave which scale how many points."""

    item_id: str
    option_id: str
    scale: str
    points: int
    instrument: Instrument


@dataclass(frozen=True)
class ScaleResult:
    """A scale's total, its title and, for levelled banks, its level and the least scores that
    reach basic and advanced."""

    instrument: Instrument
    scale: str
    title: str
    score: int
    max_score: int
    level: Level | None
    thresholds: tuple[int, int] | None


@dataclass(frozen=True)
class Scored:
    """A scored sheet: the contract result of the stage and everything behind it."""

    result: StageResult
    points: tuple[ScalePoint, ...]
    mapping_rows: tuple[MappingContribution, ...]
    stage: Stage
    instruments: tuple[InstrumentRef, ...]
    scales: tuple[ScaleResult, ...]
    mapping: MappingTable | None

    def explanation(self) -> dict[str, object]:
        """JSON-able and deterministic: scales with the answers behind them, environments with
        the mapping rows behind them, and short Russian lines for pupils and parents."""
        return explanation.explain(self)

    def explanation_json(self) -> bytes:
        return canonical_json(self.explanation())


def canonical_json(value: object) -> bytes:
    """One byte string per JSON value: keys sorted, no spaces, UTF-8 as it is."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text.encode()


def missing(form: StageForm, answers: Mapping[str, str]) -> tuple[str, ...]:
    """The items not answered yet, in the form's order."""
    return tuple(item.item_id for item in form.items if item.item_id not in answers)


def answer_sheet_digest(form: StageForm, answers: Mapping[str, str]) -> str:
    """SHA-256 (hex) of the sheet's canonical JSON: stage, band, versions and the answers in the
    form's order. Raises `AnswerSheetError` for an answer to an item not in the form."""
    _check_known(form, answers)
    sheet = {
        "stage": form.stage.value,
        "band": form.band,
        "instruments": [ref.model_dump(mode="json") for ref in form.instruments],
        "answers": [
            {"item_id": item.item_id, "option_id": answers[item.item_id]}
            for item in form.items
            if item.item_id in answers
        ],
    }
    return hashlib.sha256(canonical_json(sheet)).hexdigest()


def score(form: StageForm, answers: Mapping[str, str]) -> Scored:
    """Score a complete sheet; `AnswerSheetError` for an incomplete one, an unknown item or
    option, or a form built without its banks."""
    _check_known(form, answers)
    if unanswered := missing(form, answers):
        raise AnswerSheetError(f"{len(unanswered)} items not answered: {', '.join(unanswered)}")
    if tuple(bank.ref for bank in form.banks) != form.instruments:
        raise AnswerSheetError("the form was built without its item banks and cannot be scored")
    points = tuple(point for bank in form.banks for point in _points(bank, answers))
    # Each scale's total in one pass over the points, not one pass per scale.
    totals: dict[tuple[Instrument, str], int] = {}
    for point in points:
        key = (point.instrument, point.scale)
        totals[key] = totals.get(key, 0) + point.points
    scales = tuple(scale for bank in form.banks for scale in _scales(bank, totals))
    match form.stage:
        case Stage.INTERESTS:
            if form.mapping is None:
                raise AnswerSheetError("an interests form needs its mapping table")
            result, rows = _interests(form, scales)
            return Scored(result, points, rows, form.stage, form.instruments, scales, form.mapping)
        case Stage.SOFT_SKILLS:
            skills = SoftSkillsResult(
                instrument=form.instruments[0],
                levels=tuple(
                    SkillLevel(skill=s.scale, level=_level(s), score=s.score, max_score=s.max_score)
                    for s in scales
                ),
            )
            return Scored(skills, points, (), form.stage, form.instruments, scales, None)
        case Stage.PROFESSIONS_KNOWLEDGE:
            knowledge = ProfessionsKnowledgeResult(
                instrument=form.instruments[0],
                levels=tuple(
                    KnowledgeLevel(
                        environment=Environment(s.scale),
                        level=_level(s),
                        score=s.score,
                        max_score=s.max_score,
                    )
                    for s in scales
                ),
            )
            return Scored(knowledge, points, (), form.stage, form.instruments, scales, None)
        case _:
            assert_never(form.stage)


def _check_known(form: StageForm, answers: Mapping[str, str]) -> None:
    for item_id in sorted(answers):
        offered = form.offers(item_id, answers[item_id])
        if offered is None:
            raise AnswerSheetError(f"item {item_id!r} is not in this form")
        if not offered:
            raise AnswerSheetError(f"item {item_id!r} has no option {answers[item_id]!r}")


def _points(bank: ItemBank, answers: Mapping[str, str]) -> tuple[ScalePoint, ...]:
    result = []
    for item in bank.items:
        option = item.option(answers[item.item_id])
        if option is None:  # the rendered choices and the key are the same options
            raise AnswerSheetError(f"item {item.item_id!r} has no option in its key")
        result.append(
            ScalePoint(
                item.item_id, option.option_id, option.scale, option.points, bank.ref.instrument
            )
        )
    return tuple(result)


def _scales(
    bank: ItemBank, totals: Mapping[tuple[Instrument, str], int]
) -> tuple[ScaleResult, ...]:
    instrument = bank.ref.instrument
    results = []
    for scale in bank.version.scales:
        total = totals.get((instrument, scale), 0)
        max_score = bank.max_score(scale)
        levels = bank.levels
        results.append(
            ScaleResult(
                instrument=instrument,
                scale=scale,
                title=bank.scale_title(scale),
                score=total,
                max_score=max_score,
                level=levels.level(total, max_score) if levels else None,
                thresholds=levels.points(max_score) if levels else None,
            )
        )
    return tuple(results)


def _level(scale: ScaleResult) -> Level:
    assert scale.level is not None, "levelled banks always have thresholds (bank_rules)"
    return scale.level


def _interests(
    form: StageForm, scales: tuple[ScaleResult, ...]
) -> tuple[InterestsResult, tuple[MappingContribution, ...]]:
    assert form.mapping is not None
    of = {(s.instrument, s.scale): s.score for s in scales}
    refs = {ref.instrument: ref for ref in form.instruments}
    klimov = riasec = None
    if ddo := refs.get(Instrument.KLIMOV_DDO):
        scores = {name: of[(Instrument.KLIMOV_DDO, name)] for name in KlimovScores.model_fields}
        klimov = KlimovResult(instrument=ddo, scores=KlimovScores(**scores))
    if holland := refs.get(Instrument.ONET_IP_SHORT):
        scores = {name: of[(Instrument.ONET_IP_SHORT, name)] for name in RiasecScores.model_fields}
        riasec = RiasecResult(instrument=holland, scores=RiasecScores(**scores))
    read = tuple(ScaleScore(s.instrument, s.scale, s.score, s.max_score) for s in scales)
    environments, rows = profile(form.mapping, read)
    return InterestsResult(klimov=klimov, riasec=riasec, environments=environments), rows
