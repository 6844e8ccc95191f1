"""Properties of scoring over any complete sheet (hypothesis), and its determinism: the same sheet
and versions give byte-identical results and explanations, whatever the order of the answers, a
fresh load of the banks or the process's hash seed."""

import hashlib
import os
import subprocess
import sys
from collections.abc import Mapping
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from bilet.contracts.catalogue.diagnostics import (
    InterestsResult,
    ProfessionsKnowledgeResult,
    SoftSkillsResult,
)
from bilet.contracts.vocabulary import Instrument, InstrumentRef, Level, Stage
from bilet_diagnostics.adapters.item_banks import load_catalogue
from bilet_diagnostics.domain.instruments import StageForm
from bilet_diagnostics.domain.mapping import round_half_up
from bilet_diagnostics.domain.scoring import Scored, canonical_json, score

CATALOGUE = load_catalogue()
KLIMOV = InstrumentRef(instrument=Instrument.KLIMOV_DDO, version="1.0.0")


def sheets(form: StageForm) -> st.SearchStrategy[dict[str, str]]:
    """Any complete sheet of `form`: one of its options for every item."""
    return st.fixed_dictionaries(
        {item.item_id: st.sampled_from([c.option_id for c in item.choices]) for item in form.items}
    )


def reversed_order(answers: Mapping[str, str]) -> dict[str, str]:
    return dict(reversed(list(answers.items())))


def as_bytes(scored: Scored) -> tuple[bytes, bytes]:
    return scored.result.model_dump_json().encode(), scored.explanation_json()


@given(sheets(CATALOGUE.form(Stage.INTERESTS, 6, (KLIMOV,))))
def test_klimov_scores_sum_to_twenty_each_within_zero_to_eight(answers: dict[str, str]) -> None:
    result = score(CATALOGUE.form(Stage.INTERESTS, 6, (KLIMOV,)), answers).result
    assert isinstance(result, InterestsResult)
    assert result.klimov is not None
    scores = result.klimov.scores.model_dump().values()
    assert sum(scores) == 20
    assert all(0 <= points <= 8 for points in scores)


@settings(max_examples=60)
@given(sheets(CATALOGUE.current_form(Stage.INTERESTS, 8)))
def test_interests_scores_stay_in_range_and_leading_is_the_strongest(
    answers: dict[str, str],
) -> None:
    scored = score(CATALOGUE.current_form(Stage.INTERESTS, 8), answers)
    result = scored.result
    assert isinstance(result, InterestsResult)
    assert result.klimov is not None
    assert sum(result.klimov.scores.model_dump().values()) == 20
    assert result.riasec is not None
    assert all(0 <= points <= 40 for points in result.riasec.scores.model_dump().values())
    environments = result.environments.scores.model_dump()
    assert all(0 <= points <= 100 for points in environments.values())
    top = max(environments.values())
    leading = [e.value for e in result.environments.leading]
    assert 1 <= len(leading) <= 3
    assert environments[leading[0]] == top
    assert all(environments[e] >= top - 10 for e in leading)
    if len(leading) < 3:  # nobody else within 10 points was left out
        assert [e for e, points in environments.items() if points >= top - 10] == sorted(
            leading, key=list(environments).index
        )
    for environment, points in environments.items():  # the rows add up to the score
        shares = [r.share for r in scored.mapping_rows if r.environment.value == environment]
        total = sum(shares, Fraction(0))
        assert round_half_up(total.numerator, total.denominator) == points
    for scale in scored.scales:  # the answers add up to the scale
        given_points = [
            p.points
            for p in scored.points
            if p.instrument == scale.instrument and p.scale == scale.scale
        ]
        assert sum(given_points) == scale.score


@given(sheets(CATALOGUE.current_form(Stage.SOFT_SKILLS, 7)))
def test_soft_skill_levels_follow_the_thresholds(answers: dict[str, str]) -> None:
    result = score(CATALOGUE.current_form(Stage.SOFT_SKILLS, 7), answers).result
    assert isinstance(result, SoftSkillsResult)
    for skill in result.levels:  # of 8 points: basic from 4 (50 %), advanced from 6 (75 %)
        assert skill.max_score == 8
        expected = (
            Level.ADVANCED
            if skill.score >= 6
            else Level.BASIC
            if skill.score >= 4
            else Level.INITIAL
        )
        assert skill.level == expected


@given(sheets(CATALOGUE.current_form(Stage.PROFESSIONS_KNOWLEDGE, 10)))
def test_knowledge_levels_follow_the_thresholds(answers: dict[str, str]) -> None:
    result = score(CATALOGUE.current_form(Stage.PROFESSIONS_KNOWLEDGE, 10), answers).result
    assert isinstance(result, ProfessionsKnowledgeResult)
    assert len(result.levels) == 9
    for knowledge in result.levels:  # of 3: basic from 2 (60 %), advanced at 3 (100 %)
        expected = [Level.INITIAL, Level.INITIAL, Level.BASIC, Level.ADVANCED][knowledge.score]
        assert knowledge.level == expected


@settings(max_examples=30)
@given(
    st.sampled_from(list(Stage)).flatmap(
        lambda stage: st.tuples(st.just(stage), sheets(CATALOGUE.current_form(stage, 9)))
    )
)
def test_the_same_sheet_gives_byte_identical_results(sheet: tuple[Stage, dict[str, str]]) -> None:
    stage, answers = sheet
    form = CATALOGUE.current_form(stage, 9)
    first = as_bytes(score(form, answers))
    assert as_bytes(score(form, answers)) == first
    assert as_bytes(score(form, reversed_order(answers))) == first
    assert as_bytes(score(load_catalogue().current_form(stage, 9), answers)) == first
    assert canonical_json(score(form, answers).explanation()) == first[1]


def test_the_same_sheet_gives_the_same_bytes_in_processes_with_other_hash_seeds() -> None:
    program = (
        "import hashlib\n"
        "from bilet.contracts.vocabulary import Stage\n"
        "from bilet_diagnostics.adapters.item_banks import load_catalogue\n"
        "from bilet_diagnostics.domain.scoring import score\n"
        "form = load_catalogue().current_form(Stage.INTERESTS, 10)\n"
        "answers = {i.item_id: i.choices[len(i.item_id) % len(i.choices)].option_id"
        " for i in form.items}\n"
        "scored = score(form, answers)\n"
        "data = scored.result.model_dump_json().encode() + scored.explanation_json()\n"
        "print(hashlib.sha256(data).hexdigest())\n"
    )
    digests = {
        subprocess.run(  # noqa: S603 - our own interpreter, our own program
            [sys.executable, "-c", program],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout.strip()
        for seed in ("1", "2", "3")
    }
    form = CATALOGUE.current_form(Stage.INTERESTS, 10)
    answers = {i.item_id: i.choices[len(i.item_id) % len(i.choices)].option_id for i in form.items}
    here = hashlib.sha256(b"".join(as_bytes(score(form, answers)))).hexdigest()
    assert digests == {here}
