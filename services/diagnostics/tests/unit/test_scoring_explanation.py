"""The explanation of a scored sheet (which answers gave which scale points, which mapping rows
gave which environment, in Russian lines with the ids) and the answer sheet's digest."""

import hashlib
import json
from typing import Any

import pytest

from bilet.contracts.vocabulary import Instrument, InstrumentRef, Stage
from bilet_diagnostics.adapters.item_banks import load_catalogue
from bilet_diagnostics.domain.instruments import InstrumentCatalogue
from bilet_diagnostics.domain.scoring import AnswerSheetError, answer_sheet_digest, score

# Option a of every ДДО pair: each type is option a in 4 of its 8 pairs, so all five get 4.
ALL_A = {f"ddo_{number:02d}": "a" for number in range(1, 21)}
KLIMOV = InstrumentRef(instrument=Instrument.KLIMOV_DDO, version="1.0.0")


@pytest.fixture(scope="module")
def catalogue() -> InstrumentCatalogue:
    return load_catalogue()


def klimov_explanation(catalogue: InstrumentCatalogue) -> dict[str, Any]:
    form = catalogue.form(Stage.INTERESTS, 8, (KLIMOV,))
    explained: dict[str, Any] = json.loads(score(form, ALL_A).explanation_json())
    return explained


def test_a_scale_names_the_answers_that_gave_its_points(catalogue: InstrumentCatalogue) -> None:
    scales = {s["scale"]: s for s in klimov_explanation(catalogue)["scales"]}
    technology = scales["technology"]
    assert (technology["score"], technology["max_score"]) == (4, 8)
    # Technology is option a of ddo_04 (T–P), 07 (T–S), 10 (T–A) and 11 (T–N).
    assert technology["answers"] == [
        {"item_id": "ddo_04", "option_id": "a", "points": 1},
        {"item_id": "ddo_07", "option_id": "a", "points": 1},
        {"item_id": "ddo_10", "option_id": "a", "points": 1},
        {"item_id": "ddo_11", "option_id": "a", "points": 1},
    ]
    assert technology["text"] == (
        "«Человек — Техника»: 4 из 8 баллов. Баллы дали ответы: ddo_04, ddo_07, ddo_10, ddo_11."
    )


def test_an_environment_names_the_mapping_rows_that_gave_its_score(
    catalogue: InstrumentCatalogue,
) -> None:
    explained = klimov_explanation(catalogue)
    assert explained["mapping"] == {"mapping_id": "interests_environments", "version": "1.0.0"}
    industrial = next(e for e in explained["environments"] if e["environment"] == "industrial")
    assert (industrial["score"], industrial["leading"]) == (50, False)
    assert industrial["text"] == "Индустриальная среда: 50 из 100."
    # weight 3 of 4 × 4/8 = 37.5; weight 1 of 4 × 4/8 = 12.5
    assert [(r["row"], r["weight"], r["score"], r["share"]) for r in industrial["rows"]] == [
        ("industrial.ddo.technology", 3, 4, "37.5"),
        ("industrial.ddo.sign_system", 1, 4, "12.5"),
    ]
    assert industrial["rows"][1]["text"] == (
        "Чертежи, расчёты и программы станков — знаковые системы производства. "
        "«Человек — Знаковая система»: 4 из 8, вес 1 — +12,5 балла."
    )
    # Every environment gets 50: the first three in the programme's order lead.
    assert {e["score"] for e in explained["environments"]} == {50}
    assert explained["leading"] == ["safe", "smart", "social"]
    assert explained["text"][:3] == [
        "Этап «Интересы и профессиональные склонности».",
        "Сильнее всего интерес к средам: безопасная среда (50 из 100), "
        "умная среда (50 из 100), социальная среда (50 из 100).",
        "Больше всего баллов — «Человек — Природа», «Человек — Техника», «Человек — Человек», "
        "«Человек — Знаковая система», «Человек — Художественный образ»: 4 из 8.",
    ]
    assert "не влияют на школьные оценки" in explained["text"][-1]


def test_a_scale_without_points_says_no_answer_gave_any(catalogue: InstrumentCatalogue) -> None:
    form = catalogue.current_form(Stage.PROFESSIONS_KNOWLEDGE, 7)
    answers = {item.item_id: "a" for item in form.items}  # smart's right answers: b, c, d
    explained: dict[str, Any] = json.loads(score(form, answers).explanation_json())
    smart = next(s for s in explained["scales"] if s["scale"] == "smart")
    assert smart["answers"] == [
        {"item_id": "pk_smart_1", "option_id": "a", "points": 0},
        {"item_id": "pk_smart_2", "option_id": "a", "points": 0},
        {"item_id": "pk_smart_3", "option_id": "a", "points": 0},
    ]
    assert smart["text"] == (
        "«Умная среда»: 0 из 3 — начальный уровень (базовый — от 2, продвинутый — от 3 баллов). "
        "Баллы дали ответы: ни один."
    )


def test_a_levelled_scale_says_its_level_and_thresholds(catalogue: InstrumentCatalogue) -> None:
    form = catalogue.current_form(Stage.SOFT_SKILLS, 10)
    answers = {item.item_id: "b" for item in form.items}  # teamwork: 2 + 1 + 1 + 1 = 5
    explained: dict[str, Any] = json.loads(score(form, answers).explanation_json())
    teamwork = next(s for s in explained["scales"] if s["scale"] == "teamwork")
    assert (teamwork["score"], teamwork["level"], teamwork["thresholds"]) == (
        5,
        "basic",
        {"basic": 4, "advanced": 6},
    )
    assert teamwork["text"] == (
        "«Работа в команде»: 5 из 8 — базовый уровень (базовый — от 4, продвинутый — от 6 "
        "баллов). Баллы дали ответы: ss_team_1, ss_team_2, ss_team_3, ss_team_4."
    )
    assert "mapping" not in explained
    assert "environments" not in explained


def test_the_answer_sheet_digest_is_of_its_canonical_json(catalogue: InstrumentCatalogue) -> None:
    form = catalogue.form(Stage.INTERESTS, 6, (KLIMOV,))
    answers = ",".join(  # ALL_A's keys are already in the form's order
        f'{{"item_id":"{item_id}","option_id":"a"}}' for item_id in ALL_A
    )
    canonical = (
        f'{{"answers":[{answers}],"band":"6-7",'
        '"instruments":[{"instrument":"klimov_ddo","version":"1.0.0"}],"stage":"interests"}'
    )
    expected = hashlib.sha256(canonical.encode()).hexdigest()
    assert answer_sheet_digest(form, ALL_A) == expected
    assert answer_sheet_digest(form, dict(reversed(list(ALL_A.items())))) == expected


def test_the_digest_changes_with_an_answer_or_the_band(catalogue: InstrumentCatalogue) -> None:
    form = catalogue.form(Stage.INTERESTS, 6, (KLIMOV,))
    digest = answer_sheet_digest(form, ALL_A)
    assert answer_sheet_digest(form, ALL_A | {"ddo_20": "b"}) != digest
    older = catalogue.form(Stage.INTERESTS, 11, (KLIMOV,))
    assert answer_sheet_digest(older, ALL_A) != digest
    with pytest.raises(AnswerSheetError):
        answer_sheet_digest(form, ALL_A | {"ip_01": "4"})
