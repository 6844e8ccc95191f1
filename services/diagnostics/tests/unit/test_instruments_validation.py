"""A bank, mapping table or current list that breaks a rule is refused at load with an error
naming the file and the item (or row): each test edits one copy of the shipped banks."""

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bilet_diagnostics.adapters.item_banks import load_catalogue, shipped
from bilet_diagnostics.domain.instruments import ItemBankError

KLIMOV = "klimov_ddo/1.0.0.json"
RIASEC = "onet_ip_short/1.0.0.json"
SKILLS = "soft_skills_bank/1.0.0.json"
KNOWLEDGE = "professions_knowledge_bank/1.0.0.json"
MAPPING = "mappings/interests_environments/1.0.0.json"
Edit = Callable[[dict[str, Any]], None]


@pytest.fixture
def banks(tmp_path: Path) -> Path:
    root = tmp_path / "item_banks"
    shutil.copytree(Path(str(shipped())), root)
    return root


def edit(root: Path, path: str, change: Edit) -> None:
    data = json.loads((root / path).read_text(encoding="utf-8"))
    change(data)
    (root / path).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def refused(root: Path) -> ItemBankError:
    with pytest.raises(ItemBankError) as caught:
        load_catalogue(root)
    return caught.value


def item(data: dict[str, Any], item_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(i for i in data["items"] if i["item_id"] == item_id)
    return found


def test_the_untouched_copy_loads(banks: Path) -> None:
    assert len(load_catalogue(banks).versions()) == 4


def test_an_option_scoring_an_unknown_scale(banks: Path) -> None:
    edit(banks, SKILLS, lambda d: item(d, "ss_team_2")["options"][1].update(scale="empathy"))
    error = refused(banks)
    assert (error.source, error.where) == (SKILLS, "item ss_team_2")
    assert "unknown scale 'empathy'" in str(error)


def test_an_item_scoring_an_unknown_scale(banks: Path) -> None:
    edit(banks, RIASEC, lambda d: item(d, "ip_07").update(scale="curious"))
    assert str(refused(banks)) == f"{RIASEC}: item ip_07: option 0: unknown scale 'curious'"


def test_duplicate_item_ids(banks: Path) -> None:
    edit(banks, KNOWLEDGE, lambda d: item(d, "pk_smart_2").update(item_id="pk_smart_1"))
    assert str(refused(banks)) == f"{KNOWLEDGE}: item pk_smart_1: duplicate item id"


def test_duplicate_option_ids(banks: Path) -> None:
    edit(banks, SKILLS, lambda d: item(d, "ss_com_1")["options"][2].update(option_id="a"))
    assert str(refused(banks)) == f"{SKILLS}: item ss_com_1: duplicate option id 'a'"


def test_an_item_id_used_by_another_instrument(banks: Path) -> None:
    edit(banks, SKILLS, lambda d: item(d, "ss_com_1").update(item_id="pk_safe_1"))
    # Banks load in the order of their folders: the knowledge bank is read first.
    assert str(refused(banks)) == f"{SKILLS}: item pk_safe_1: also in {KNOWLEDGE}"


def test_klimov_types_out_of_balance(banks: Path) -> None:
    # ddo_01 pairs nature with technology; making it nature–person gives person 9 pairs.
    edit(banks, KLIMOV, lambda d: item(d, "ddo_01")["options"][1].update(scale="person"))
    assert str(refused(banks)) == f"{KLIMOV}: items: type technology is in 7 pairs, not 8"


def test_a_klimov_pair_of_one_type(banks: Path) -> None:
    edit(banks, KLIMOV, lambda d: item(d, "ddo_02")["options"][1].update(scale="person"))
    error = refused(banks)
    assert (error.source, error.where) == (KLIMOV, "item ddo_02")


def test_a_klimov_bank_without_twenty_pairs(banks: Path) -> None:
    edit(banks, KLIMOV, lambda d: d.update(items=d["items"][:19]))
    assert "ДДО has 20 pairs, this bank 19" in str(refused(banks))


def test_a_riasec_item_not_scored_zero_to_four(banks: Path) -> None:
    def five_points(data: dict[str, Any]) -> None:
        data["shared_options"][4]["points"] = 5

    edit(banks, RIASEC, five_points)
    error = refused(banks)
    assert (error.source, error.where) == (RIASEC, "item ip_01")


def test_missing_band_wording(banks: Path) -> None:
    edit(banks, SKILLS, lambda d: item(d, "ss_org_1")["prompt"].pop("8-9"))
    assert str(refused(banks)) == f"{SKILLS}: item ss_org_1: no wording for grade band 8-9"


def test_missing_band_wording_of_an_option(banks: Path) -> None:
    edit(banks, KNOWLEDGE, lambda d: item(d, "pk_safe_2")["options"][0]["text"].pop("10-11"))
    error = str(refused(banks))
    assert error == f"{KNOWLEDGE}: item pk_safe_2: option a: no wording for grade band 10-11"


def test_an_unknown_band(banks: Path) -> None:
    edit(banks, KLIMOV, lambda d: item(d, "ddo_03")["prompt"].update({"5-6": "Что лучше?"}))
    assert "item ddo_03: unknown grade band '5-6'" in str(refused(banks))


def test_a_knowledge_item_with_two_right_answers(banks: Path) -> None:
    def all_right(data: dict[str, Any]) -> None:
        for option in item(data, "pk_agrarian_3")["options"]:
            option["points"] = 1

    edit(banks, KNOWLEDGE, all_right)
    assert str(refused(banks)).startswith(f"{KNOWLEDGE}: item pk_agrarian_3: exactly one correct")


def test_a_soft_skills_bank_without_a_required_skill(banks: Path) -> None:
    def drop_creativity(data: dict[str, Any]) -> None:
        data["scales"] = [s for s in data["scales"] if s["scale"] != "creativity"]
        data["items"] = [i for i in data["items"] if i["scale"] != "creativity"]

    edit(banks, SKILLS, drop_creativity)
    assert "scores 'creativity' too" in str(refused(banks))


def test_levels_out_of_order(banks: Path) -> None:
    edit(banks, SKILLS, lambda d: d["levels"].update(basic_from=80))
    assert str(refused(banks)).startswith(f"{SKILLS}: levels:")


def test_a_mapping_row_naming_an_unknown_scale(banks: Path) -> None:
    edit(banks, MAPPING, lambda d: d["rows"][3].update(scale="explorer"))
    error = refused(banks)
    assert str(error) == (
        f"{MAPPING}: row safe.ria.realistic: unknown scale 'explorer' of onet_ip_short"
    )


def test_a_mapping_row_of_an_instrument_that_does_not_use_the_table(banks: Path) -> None:
    edit(banks, MAPPING, lambda d: d["rows"][0].update(instrument="soft_skills_bank"))
    error = refused(banks)
    assert (error.source, error.where) == (MAPPING, "row safe.ddo.technology")


def test_an_environment_without_rows(banks: Path) -> None:
    edit(
        banks,
        MAPPING,
        lambda d: d.update(rows=[r for r in d["rows"] if r["environment"] != "agrarian"]),
    )
    assert str(refused(banks)) == f"{MAPPING}: rows: no row gives points to agrarian"


def test_a_bank_naming_an_unknown_mapping_table(banks: Path) -> None:
    edit(banks, KLIMOV, lambda d: d["mapping"].update(version="1.1.0"))
    error = str(refused(banks))
    assert error == f"{KLIMOV}: mapping: unknown table interests_environments 1.1.0"


def test_a_version_in_a_file_named_for_another(banks: Path) -> None:
    edit(banks, SKILLS, lambda d: d.update(version="1.0.1"))
    error = refused(banks)
    assert str(error) == f"{SKILLS}: version: this version belongs in soft_skills_bank/1.0.1.json"


def test_a_malformed_item_is_named(banks: Path) -> None:
    edit(banks, RIASEC, lambda d: item(d, "ip_12").pop("prompt"))
    error = refused(banks)
    assert (error.source, error.where, error.problem) == (
        RIASEC,
        "item ip_12: prompt",
        "Field required",
    )


def test_a_file_that_is_not_json(banks: Path) -> None:
    (banks / KNOWLEDGE).write_text("{ not json", encoding="utf-8")
    assert refused(banks).where == "json"


def test_current_naming_an_unknown_version(banks: Path) -> None:
    edit(banks, "current.json", lambda d: d["stages"]["soft_skills"][0].update(version="2.0.0"))
    error = refused(banks)
    assert (error.source, error.where) == ("current.json", "soft_skills")


def test_current_without_a_stage(banks: Path) -> None:
    edit(banks, "current.json", lambda d: d["stages"].pop("professions_knowledge"))
    error = refused(banks)
    assert (error.source, error.where) == ("current.json", "professions_knowledge")
