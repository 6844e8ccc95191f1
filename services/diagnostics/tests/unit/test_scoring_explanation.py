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

# Hand-made sheets, see test_scoring.py: ДДО T 8, N 6, S 4, P 2, A 0.
KLIMOV_SHEET = {
    "ddo_01": "b", "ddo_02": "b", "ddo_03": "b", "ddo_04": "a", "ddo_05": "a",
    "ddo_06": "a", "ddo_07": "a", "ddo_08": "b", "ddo_09": "a", "ddo_10": "a",
    "ddo_11": "a", "ddo_12": "a", "ddo_13": "a", "ddo_14": "b", "ddo_15": "b",
    "ddo_16": "b", "ddo_17": "b", "ddo_18": "a", "ddo_19": "b", "ddo_20": "b",
}  # fmt: skip
KLIMOV = InstrumentRef(instrument=Instrument.KLIMOV_DDO, version="1.0.0")


@pytest.fixture(scope="module")
def catalogue() -> InstrumentCatalogue:
    return load_catalogue()


def klimov_explanation(catalogue: InstrumentCatalogue) -> dict[str, Any]:
    form = catalogue.form(Stage.INTERESTS, 8, (KLIMOV,))
    explained: dict[str, Any] = json.loads(score(form, KLIMOV_SHEET).explanation_json())
    return explained


def test_a_scale_names_the_answers_that_gave_its_points(catalogue: InstrumentCatalogue) -> None:
    scales = {s["scale"]: s for s in klimov_explanation(catalogue)["scales"]}
    technology = scales["technology"]
    assert (technology["score"], technology["max_score"]) == (8, 8)
    assert technology["answers"] == [
        {"item_id": "ddo_01", "option_id": "b", "points": 1},
        {"item_id": "ddo_04", "option_id": "a", "points": 1},
        {"item_id": "ddo_07", "option_id": "a", "points": 1},
        {"item_id": "ddo_10", "option_id": "a", "points": 1},
        {"item_id": "ddo_11", "option_id": "a", "points": 1},
        {"item_id": "ddo_14", "option_id": "b", "points": 1},
        {"item_id": "ddo_17", "option_id": "b", "points": 1},
        {"item_id": "ddo_20", "option_id": "b", "points": 1},
    ]
    assert technology["text"] == (
        "«Человек — Техника»: 8 из 8 баллов. Баллы дали ответы: "
        "ddo_01, ddo_04, ddo_07, ddo_10, ddo_11, ddo_14, ddo_17, ddo_20."
    )
    assert scales["artistic_image"]["answers"] == []
    assert scales["artistic_image"]["text"].endswith("Баллы дали ответы: ни один.")


def test_an_environment_names_the_mapping_rows_that_gave_its_score(
    catalogue: InstrumentCatalogue,
) -> None:
    explained = klimov_explanation(catalogue)
    assert explained["mapping"] == {"mapping_id": "interests_environments", "version": "1.0.0"}
    industrial = next(e for e in explained["environments"] if e["environment"] == "industrial")
    assert (industrial["score"], industrial["leading"]) == (88, True)
    assert industrial["text"] == "Индустриальная среда: 88 из 100 — одна из ведущих сред."
    # weight 3 of 4 × 8/8 = 75; weight 1 of 4 × 4/8 = 12.5
    assert [(r["row"], r["weight"], r["score"], r["share"]) for r in industrial["rows"]] == [
        ("industrial.ddo.technology", 3, 8, "75.0"),
        ("industrial.ddo.sign_system", 1, 4, "12.5"),
    ]
    assert industrial["rows"][1]["text"] == (
        "Чертежи, расчёты и программы станков — знаковые системы производства. "
        "«Человек — Знаковая система»: 4 из 8, вес 1 — +12,5 балла."
    )
    assert explained["leading"] == ["industrial", "agrarian"]
    assert explained["text"][:3] == [
        "Этап «Интересы и профессиональные склонности».",
        "Сильнее всего интерес к средам: индустриальная среда (88 из 100), "
        "аграрная среда (81 из 100).",
        "Больше всего баллов — «Человек — Техника»: 8 из 8.",
    ]
    assert "не влияют на школьные оценки" in explained["text"][-1]


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
    answers = ",".join(
        f'{{"item_id":"{item_id}","option_id":"{option}"}}'
        for item_id, option in sorted(KLIMOV_SHEET.items())
    )
    canonical = (
        f'{{"answers":[{answers}],"band":"6-7",'
        '"instruments":[{"instrument":"klimov_ddo","version":"1.0.0"}],"stage":"interests"}'
    )
    expected = hashlib.sha256(canonical.encode()).hexdigest()
    assert answer_sheet_digest(form, KLIMOV_SHEET) == expected
    assert answer_sheet_digest(form, dict(reversed(list(KLIMOV_SHEET.items())))) == expected


def test_the_digest_changes_with_an_answer_or_the_band(catalogue: InstrumentCatalogue) -> None:
    form = catalogue.form(Stage.INTERESTS, 6, (KLIMOV,))
    digest = answer_sheet_digest(form, KLIMOV_SHEET)
    assert answer_sheet_digest(form, KLIMOV_SHEET | {"ddo_20": "a"}) != digest
    older = catalogue.form(Stage.INTERESTS, 11, (KLIMOV,))
    assert answer_sheet_digest(older, KLIMOV_SHEET) != digest
    with pytest.raises(AnswerSheetError):
        answer_sheet_digest(form, KLIMOV_SHEET | {"ip_01": "4"})
