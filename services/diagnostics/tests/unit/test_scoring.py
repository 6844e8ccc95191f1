"""Scoring with hand-computed sheets for every instrument: the expected numbers below were worked
out by hand from the banks' keys (written out here), never by the code under test."""

import math
from fractions import Fraction

import pytest

from bilet.contracts.catalogue.diagnostics import (
    InterestsResult,
    KlimovScores,
    ProfessionsKnowledgeResult,
    RiasecScores,
    SoftSkillsResult,
)
from bilet.contracts.vocabulary import Environment, Instrument, InstrumentRef, Level, Stage
from bilet_diagnostics.adapters.item_banks import load_catalogue
from bilet_diagnostics.domain.instruments import InstrumentCatalogue, LevelThresholds
from bilet_diagnostics.domain.mapping import round_half_up
from bilet_diagnostics.domain.scoring import AnswerSheetError, missing, score

# The ДДО pairs as the bank 1.0.0 orders them (option a's type, option b's type).
N, T, P, S, A = "nature", "technology", "person", "sign_system", "artistic_image"
PAIRS = [(N, T), (P, S), (A, N), (T, P), (S, A), (N, P), (T, S), (A, P), (N, S), (T, A)]
PAIRS += [(b, a) for a, b in PAIRS]
RIASEC_ORDER = ["realistic", "investigative", "artistic", "social", "enterprising", "conventional"]

# Prefer technology, then nature, sign system, person, artistic image: T gets all its 8 pairs,
# N 6 (all but the two with T), S 4, P 2 (the two with A), A 0.
KLIMOV_SHEET = {
    "ddo_01": "b", "ddo_02": "b", "ddo_03": "b", "ddo_04": "a", "ddo_05": "a",
    "ddo_06": "a", "ddo_07": "a", "ddo_08": "b", "ddo_09": "a", "ddo_10": "a",
    "ddo_11": "a", "ddo_12": "a", "ddo_13": "a", "ddo_14": "b", "ddo_15": "b",
    "ddo_16": "b", "ddo_17": "b", "ddo_18": "a", "ddo_19": "b", "ddo_20": "b",
}  # fmt: skip


def riasec_sheet() -> dict[str, str]:
    """ip_01… cycle R, I, A, S, E, C. R: all 4 (40); I: all 0 (0); A: all 2 (20); S: 3 and 1
    in turn (5×3 + 5×1 = 20); E: 4 for the first seven, 0 for the last three (28); C: all 1 (10)."""
    answers: dict[str, str] = {}
    for round_ in range(10):
        number = round_ * 6
        answers[f"ip_{number + 1:02d}"] = "4"
        answers[f"ip_{number + 2:02d}"] = "0"
        answers[f"ip_{number + 3:02d}"] = "2"
        answers[f"ip_{number + 4:02d}"] = "3" if round_ % 2 == 0 else "1"
        answers[f"ip_{number + 5:02d}"] = "4" if round_ < 7 else "0"
        answers[f"ip_{number + 6:02d}"] = "1"
    return answers


@pytest.fixture(scope="module")
def catalogue() -> InstrumentCatalogue:
    return load_catalogue()


def ref(instrument: Instrument) -> InstrumentRef:
    return InstrumentRef(instrument=instrument, version="1.0.0")


def test_the_key_of_the_klimov_bank_is_the_pairs_written_here(
    catalogue: InstrumentCatalogue,
) -> None:
    bank = catalogue.bank(ref(Instrument.KLIMOV_DDO))
    assert [tuple(o.scale for o in item.options) for item in bank.items] == PAIRS


def test_klimov_and_riasec_sheet(catalogue: InstrumentCatalogue) -> None:
    form = catalogue.current_form(Stage.INTERESTS, 8)
    result = score(form, KLIMOV_SHEET | riasec_sheet()).result
    assert isinstance(result, InterestsResult)
    assert result.klimov is not None
    assert result.klimov.scores == KlimovScores(
        nature=6, technology=8, person=2, sign_system=4, artistic_image=0
    )
    assert result.riasec is not None
    assert result.riasec.scores == RiasecScores(
        realistic=40, investigative=0, artistic=20, social=20, enterprising=28, conventional=10
    )
    # Shares: ДДО N .75 T 1 P .25 S .5 A 0; RIASEC R 1 I 0 A .5 S .5 E .7 C .25. Each
    # environment: 100 × Σ(weight × share) / Σ weight, rounded half up.
    assert result.environments.scores.model_dump() == {
        "safe": 64,  # (2·1 + 2·.25 + 1·.5 + 2·1 + 1·.5 + 1·.25) / 9 = 63.9
        "smart": 48,  # (3·.5 + 2·1 + 3·0 + 1·.25 + 1·1) / 10 = 47.5
        "social": 42,  # (3·.25 + 3·.5 + 1·.7) / 7 = 42.1
        "healthy": 38,  # (2·.75 + 2·.25 + 2·0 + 2·.5) / 8 = 37.5
        "comfortable": 66,  # (2·1 + 1·0 + 1·.25 + 2·1 + 1·.5 + 1·.5) / 8 = 65.6
        "industrial": 75,  # (3·1 + 1·.5 + 3·1 + 1·.25 + 1·0) / 9 = 75
        "creative": 31,  # (3·0 + 3·.5 + 1·.7) / 7 = 31.4
        "business": 46,  # (2·.5 + 2·.25 + 3·.7 + 2·.25) / 9 = 45.6
        "agrarian": 75,  # (3·.75 + 1·1 + 2·1 + 1·0) / 7 = 75
    }
    # 75 and 75 tie (industrial first in the programme's order), then 66 is within 10 points.
    assert result.environments.leading == (
        Environment.INDUSTRIAL,
        Environment.AGRARIAN,
        Environment.COMFORTABLE,
    )


def test_every_mapping_row_says_what_it_gave(catalogue: InstrumentCatalogue) -> None:
    scored = score(catalogue.current_form(Stage.INTERESTS, 8), KLIMOV_SHEET | riasec_sheet())
    industrial = {r.row_id: r.share for r in scored.mapping_rows if r.environment == "industrial"}
    assert industrial == {
        "industrial.ddo.technology": Fraction(100 * 3, 9),  # weight 3, 8 of 8
        "industrial.ddo.sign_system": Fraction(100 * 1, 9 * 2),  # weight 1, 4 of 8
        "industrial.ria.realistic": Fraction(100 * 3, 9),  # weight 3, 40 of 40
        "industrial.ria.conventional": Fraction(100 * 1, 9 * 4),  # weight 1, 10 of 40
        "industrial.ria.investigative": Fraction(0),  # weight 1, 0 of 40
    }


def test_interests_from_klimov_alone_use_only_its_rows(catalogue: InstrumentCatalogue) -> None:
    form = catalogue.form(Stage.INTERESTS, 10, (ref(Instrument.KLIMOV_DDO),))
    result = score(form, KLIMOV_SHEET).result
    assert isinstance(result, InterestsResult)
    assert result.riasec is None
    assert result.environments.scores.model_dump() == {
        "safe": 60,  # (2·1 + 2·.25 + 1·.5) / 5
        "smart": 70,  # (3·.5 + 2·1) / 5
        "social": 25,  # 3·.25 / 3
        "healthy": 50,  # (2·.75 + 2·.25) / 4
        "comfortable": 56,  # (2·1 + 1·0 + 1·.25) / 4 = 56.25
        "industrial": 88,  # (3·1 + 1·.5) / 4 = 87.5
        "creative": 0,
        "business": 38,  # (2·.5 + 2·.25) / 4 = 37.5
        "agrarian": 81,  # (3·.75 + 1·1) / 4 = 81.25
    }
    assert result.environments.leading == (Environment.INDUSTRIAL, Environment.AGRARIAN)


def test_rounding_is_half_up_not_to_even() -> None:
    assert round_half_up(125, 2) == 63  # round() would give 62
    assert round_half_up(249, 4) == 62
    assert round_half_up(251, 4) == 63
    assert round_half_up(250, 4) == 63, "an unreduced pair: the same value"
    for numerator in range(-60, 61):  # the floor of n / d + 1/2, negative values too
        for denominator in range(1, 13):
            exact = Fraction(numerator, denominator) + Fraction(1, 2)
            assert round_half_up(numerator, denominator) == math.floor(exact)


# Soft skills: the points of a, b, c per item, hand-copied from the bank 1.0.0.
SOFT_SKILLS_SHEET = {
    # communication: 2 + 2 + 2 + 2 = 8 of 8 → advanced
    "ss_com_1": "c", "ss_com_2": "a", "ss_com_3": "c", "ss_com_4": "b",
    # teamwork: 2 + 2 + 1 + 1 = 6 of 8, exactly the advanced threshold (75 %)
    "ss_team_1": "b", "ss_team_2": "c", "ss_team_3": "b", "ss_team_4": "b",
    # self-organisation: 2 + 1 + 1 + 1 = 5, one below advanced → basic
    "ss_org_1": "b", "ss_org_2": "a", "ss_org_3": "c", "ss_org_4": "b",
    # critical thinking: 2 + 1 + 0 + 1 = 4, exactly the basic threshold (50 %)
    "ss_crit_1": "b", "ss_crit_2": "a", "ss_crit_3": "b", "ss_crit_4": "b",
    # creativity: 1 + 1 + 1 + 0 = 3, one below basic → initial
    "ss_cre_1": "b", "ss_cre_2": "b", "ss_cre_3": "a", "ss_cre_4": "a",
}  # fmt: skip


def test_soft_skills_sheet_at_the_level_boundaries(catalogue: InstrumentCatalogue) -> None:
    result = score(catalogue.current_form(Stage.SOFT_SKILLS, 9), SOFT_SKILLS_SHEET).result
    assert isinstance(result, SoftSkillsResult)
    assert [(s.skill, s.score, s.max_score, s.level) for s in result.levels] == [
        ("communication", 8, 8, Level.ADVANCED),
        ("teamwork", 6, 8, Level.ADVANCED),
        ("self_organisation", 5, 8, Level.BASIC),
        ("critical_thinking", 4, 8, Level.BASIC),
        ("creativity", 3, 8, Level.INITIAL),
    ]


def test_a_soft_skills_sheet_of_the_weakest_answers(catalogue: InstrumentCatalogue) -> None:
    weakest = {  # the 0-point option of every item
        "ss_com_1": "a", "ss_com_2": "b", "ss_com_3": "b", "ss_com_4": "a",
        "ss_team_1": "c", "ss_team_2": "a", "ss_team_3": "c", "ss_team_4": "a",
        "ss_org_1": "a", "ss_org_2": "b", "ss_org_3": "b", "ss_org_4": "a",
        "ss_crit_1": "a", "ss_crit_2": "b", "ss_crit_3": "b", "ss_crit_4": "a",
        "ss_cre_1": "c", "ss_cre_2": "a", "ss_cre_3": "c", "ss_cre_4": "a",
    }  # fmt: skip
    result = score(catalogue.current_form(Stage.SOFT_SKILLS, 6), weakest).result
    assert isinstance(result, SoftSkillsResult)
    assert {(s.score, s.level) for s in result.levels} == {(0, Level.INITIAL)}


# The right option of each knowledge question, hand-copied from the bank 1.0.0.
KNOWLEDGE_KEY = {
    "pk_safe_1": "a", "pk_smart_1": "b", "pk_social_1": "c", "pk_healthy_1": "d",
    "pk_comfortable_1": "a", "pk_industrial_1": "b", "pk_creative_1": "c",
    "pk_business_1": "d", "pk_agrarian_1": "a",
    "pk_safe_2": "b", "pk_smart_2": "c", "pk_social_2": "d", "pk_healthy_2": "a",
    "pk_comfortable_2": "b", "pk_industrial_2": "c", "pk_creative_2": "d",
    "pk_business_2": "a", "pk_agrarian_2": "b",
    "pk_safe_3": "c", "pk_smart_3": "d", "pk_social_3": "a", "pk_healthy_3": "b",
    "pk_comfortable_3": "c", "pk_industrial_3": "d", "pk_creative_3": "a",
    "pk_business_3": "b", "pk_agrarian_3": "c",
}  # fmt: skip


def wrong(option: str) -> str:
    return "a" if option != "a" else "b"


def test_knowledge_sheet(catalogue: InstrumentCatalogue) -> None:
    right_answers = {  # how many of its three questions each environment gets right
        "safe": 3, "smart": 2, "social": 1, "healthy": 0, "comfortable": 3,
        "industrial": 2, "creative": 1, "business": 0, "agrarian": 3,
    }  # fmt: skip
    sheet = {
        item_id: right if int(item_id[-1]) <= right_answers[item_id[3:-2]] else wrong(right)
        for item_id, right in KNOWLEDGE_KEY.items()
    }
    result = score(catalogue.current_form(Stage.PROFESSIONS_KNOWLEDGE, 11), sheet).result
    assert isinstance(result, ProfessionsKnowledgeResult)
    # Basic from 60 % of 3 (2 right), advanced at 100 % (all 3).
    assert [(k.environment.value, k.score, k.max_score, k.level) for k in result.levels] == [
        ("safe", 3, 3, Level.ADVANCED),
        ("smart", 2, 3, Level.BASIC),
        ("social", 1, 3, Level.INITIAL),
        ("healthy", 0, 3, Level.INITIAL),
        ("comfortable", 3, 3, Level.ADVANCED),
        ("industrial", 2, 3, Level.BASIC),
        ("creative", 1, 3, Level.INITIAL),
        ("business", 0, 3, Level.INITIAL),
        ("agrarian", 3, 3, Level.ADVANCED),
    ]


@pytest.mark.parametrize("favourite", [N, T, P, S, A])
def test_all_to_one_klimov_type_gives_it_eight(
    catalogue: InstrumentCatalogue, favourite: str
) -> None:
    sheet = {
        f"ddo_{number:02d}": "b" if b == favourite else "a"
        for number, (_, b) in enumerate(PAIRS, start=1)
    }
    result = score(catalogue.form(Stage.INTERESTS, 7, (ref(Instrument.KLIMOV_DDO),)), sheet)
    assert isinstance(result.result, InterestsResult)
    assert result.result.klimov is not None
    assert result.result.klimov.scores.model_dump()[favourite] == 8


@pytest.mark.parametrize(("option", "points"), [("0", 0), ("4", 40)])
def test_all_riasec_answers_alike(catalogue: InstrumentCatalogue, option: str, points: int) -> None:
    form = catalogue.form(Stage.INTERESTS, 7, (ref(Instrument.ONET_IP_SHORT),))
    result = score(form, {item.item_id: option for item in form.items}).result
    assert isinstance(result, InterestsResult)
    assert result.riasec is not None
    assert set(result.riasec.scores.model_dump().values()) == {points}
    scores = result.environments.scores.model_dump()
    assert set(scores.values()) == {points * 100 // 40}
    assert result.environments.leading == (  # all tie: the first three in the programme's order
        Environment.SAFE,
        Environment.SMART,
        Environment.SOCIAL,
    )


@pytest.mark.parametrize(
    ("thresholds", "max_score", "expected"),
    [
        (
            (50, 75),
            8,
            [(3, Level.INITIAL), (4, Level.BASIC), (5, Level.BASIC), (6, Level.ADVANCED)],
        ),
        ((60, 100), 3, [(1, Level.INITIAL), (2, Level.BASIC), (3, Level.ADVANCED)]),
        (
            (50, 75),
            6,
            [(2, Level.INITIAL), (3, Level.BASIC), (4, Level.BASIC), (5, Level.ADVANCED)],
        ),
    ],
)
def test_level_thresholds_at_the_boundary(
    thresholds: tuple[int, int], max_score: int, expected: list[tuple[int, Level]]
) -> None:
    levels = LevelThresholds(*thresholds)
    assert [(points, levels.level(points, max_score)) for points, _ in expected] == expected


def test_an_incomplete_sheet_is_not_scored(catalogue: InstrumentCatalogue) -> None:
    form = catalogue.current_form(Stage.SOFT_SKILLS, 9)
    partial = {k: v for k, v in SOFT_SKILLS_SHEET.items() if k not in {"ss_com_2", "ss_cre_4"}}
    assert missing(form, partial) == ("ss_com_2", "ss_cre_4")
    assert missing(form, SOFT_SKILLS_SHEET) == ()
    with pytest.raises(AnswerSheetError, match="2 items not answered: ss_com_2, ss_cre_4"):
        score(form, partial)


def test_unknown_items_and_options_are_refused(catalogue: InstrumentCatalogue) -> None:
    form = catalogue.current_form(Stage.SOFT_SKILLS, 9)
    with pytest.raises(AnswerSheetError, match="'ss_com_9' is not in this form"):
        score(form, SOFT_SKILLS_SHEET | {"ss_com_9": "a"})
    with pytest.raises(AnswerSheetError, match="'ss_com_1' has no option 'd'"):
        score(form, SOFT_SKILLS_SHEET | {"ss_com_1": "d"})
