"""The shipped instruments: what the catalogue holds, the forms per grade band, the published
versions, and the rule that a published bank is never edited (its digest is recorded here)."""

import hashlib
from collections import Counter
from datetime import timedelta

import pytest

from bilet.contracts.catalogue.diagnostics import InstrumentVersionPublished
from bilet.contracts.vocabulary import Environment, Instrument, InstrumentRef, MappingRef, Stage
from bilet_diagnostics.adapters.instruments import load_instruments
from bilet_diagnostics.adapters.item_banks import load_catalogue, shipped
from bilet_diagnostics.domain.instruments import (
    InstrumentCatalogue,
    Item,
    ItemBankError,
    StageForm,
    band_of,
)

# Every version ever published, with the SHA-256 of its file. A published version is never
# changed: editing a bank means a new file with a new version (and a new line here), never a new
# digest on an old line. Old versions stay shipped: results name them.
PUBLISHED = {
    "klimov_ddo/1.0.0.json": "5aa2b9bc1c381c36ad211962a2cc96af5c94ad990571b148828c92f0a0120862",
    "onet_ip_short/1.0.0.json": "c3a88c6ac0b772a1b58d1ccb5227accd8b012396d085f03cd292049e185907f7",
    "soft_skills_bank/1.0.0.json": (
        "ef42e628d2a4bac632c28541d5f7cf19f68ff9f70c6469a4a80933802306a472"
    ),
    "professions_knowledge_bank/1.0.0.json": (
        "1230822233779c29183250dd61b226278803314539cd7250a349204bb7c7d145"
    ),
    "mappings/interests_environments/1.0.0.json": (
        "22476982f26a1929b876a57a35d44b897ea0dd46d19aa83443c82870dee41f46"
    ),
}
INTERESTS_MAPPING = MappingRef(mapping_id="interests_environments", version="1.0.0")


def ref(instrument: Instrument, version: str = "1.0.0") -> InstrumentRef:
    return InstrumentRef(instrument=instrument, version=version)


def item_of(form: StageForm, item_id: str) -> Item:
    (item,) = (item for item in form.items if item.item_id == item_id)
    return item


@pytest.fixture(scope="module")
def catalogue() -> InstrumentCatalogue:
    return load_catalogue()


def test_every_published_bank_is_shipped_unchanged() -> None:
    for path, digest in PUBLISHED.items():
        data = shipped().joinpath(path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, f"{path} was edited: bump its version"


def test_every_shipped_version_is_recorded_as_published(catalogue: InstrumentCatalogue) -> None:
    digests = {v.digest for v in catalogue.versions()} | {t.digest for t in catalogue.mappings}
    assert digests == set(PUBLISHED.values())


def test_each_version_publishes_its_scales_items_and_digest(
    catalogue: InstrumentCatalogue,
) -> None:
    published = {v.ref.instrument: v.published() for v in catalogue.versions()}
    assert published[Instrument.KLIMOV_DDO] == InstrumentVersionPublished(
        instrument=Instrument.KLIMOV_DDO,
        version="1.0.0",
        stage=Stage.INTERESTS,
        item_count=20,
        scales=("nature", "technology", "person", "sign_system", "artistic_image"),
        item_bank_digest=PUBLISHED["klimov_ddo/1.0.0.json"],
        environment_mapping=INTERESTS_MAPPING,
    )
    riasec = published[Instrument.ONET_IP_SHORT]
    assert (riasec.item_count, riasec.environment_mapping) == (60, INTERESTS_MAPPING)
    assert riasec.scales == (
        "realistic",
        "investigative",
        "artistic",
        "social",
        "enterprising",
        "conventional",
    )
    skills = published[Instrument.SOFT_SKILLS_BANK]
    assert (skills.stage, skills.item_count, skills.environment_mapping) == (
        Stage.SOFT_SKILLS,
        20,
        None,
    )
    assert skills.scales == (
        "communication",
        "teamwork",
        "self_organisation",
        "critical_thinking",
        "creativity",
    )
    knowledge = published[Instrument.PROFESSIONS_KNOWLEDGE_BANK]
    assert (knowledge.stage, knowledge.item_count) == (Stage.PROFESSIONS_KNOWLEDGE, 27)
    assert knowledge.scales == tuple(e.value for e in Environment)


@pytest.mark.parametrize(
    ("grade", "band"),
    [(6, "6-7"), (7, "6-7"), (8, "8-9"), (9, "8-9"), (10, "10-11"), (11, "10-11")],
)
def test_band_of_grade(grade: int, band: str) -> None:
    assert band_of(grade) == band


@pytest.mark.parametrize("grade", [1, 5, 12])
def test_grades_outside_six_to_eleven_have_no_band(grade: int) -> None:
    with pytest.raises(ValueError, match=f"grade {grade}"):
        band_of(grade)


def test_current_forms_hold_their_instruments_items_and_time_limits(
    catalogue: InstrumentCatalogue,
) -> None:
    interests = catalogue.current_form(Stage.INTERESTS, 8)
    assert interests.instruments == (ref(Instrument.KLIMOV_DDO), ref(Instrument.ONET_IP_SHORT))
    assert len(interests.items) == 80
    assert interests.items[0].item_id == "ddo_01"
    assert interests.items[20].item_id == "ip_01"
    assert interests.time_limit == timedelta(minutes=25)  # 10 for ДДО + 15 for RIASEC
    skills = catalogue.current_form(Stage.SOFT_SKILLS, 8)
    assert (len(skills.items), skills.time_limit) == (20, timedelta(minutes=20))
    knowledge = catalogue.current_form(Stage.PROFESSIONS_KNOWLEDGE, 8)
    assert (len(knowledge.items), knowledge.time_limit) == (27, timedelta(minutes=20))


def test_wording_differs_by_band_while_options_stay_the_same(
    catalogue: InstrumentCatalogue,
) -> None:
    young = item_of(catalogue.current_form(Stage.SOFT_SKILLS, 6), "ss_org_1")
    old = item_of(catalogue.current_form(Stage.SOFT_SKILLS, 11), "ss_org_1")
    assert "поделку" in young.prompt
    assert "индивидуальный проект" in old.prompt
    assert [c.option_id for c in young.choices] == [c.option_id for c in old.choices]
    interests = catalogue.current_form(Stage.INTERESTS, 6)
    likert = item_of(interests, "ip_01")
    assert [c.option_id for c in likert.choices] == ["0", "1", "2", "3", "4"]
    assert interests.options["ip_01"] == ("0", "1", "2", "3", "4"), "in the item's order"
    assert likert.choices[2].text == "Не знаю"


def test_a_form_of_named_versions_and_unknown_ones(catalogue: InstrumentCatalogue) -> None:
    form = catalogue.form(Stage.INTERESTS, 7, (ref(Instrument.ONET_IP_SHORT),))
    assert [item.item_id for item in form.items][:2] == ["ip_01", "ip_02"]
    assert form.time_limit == timedelta(minutes=15)
    assert "ddo_01" not in form.options
    assert form.offers("ddo_01", "1") is None, "not an item of this form"
    assert (form.offers("ip_01", "4"), form.offers("ip_01", "5")) == (True, False)
    with pytest.raises(KeyError):
        catalogue.form(Stage.INTERESTS, 7, (ref(Instrument.KLIMOV_DDO, "9.9.9"),))
    with pytest.raises(KeyError):  # a version of another stage
        catalogue.form(Stage.INTERESTS, 7, (ref(Instrument.SOFT_SKILLS_BANK),))


def test_klimov_pairs_each_type_in_exactly_eight(catalogue: InstrumentCatalogue) -> None:
    bank = catalogue.bank(ref(Instrument.KLIMOV_DDO))
    pairs = Counter(frozenset(o.scale for o in item.options) for item in bank.items)
    assert len(pairs) == 10  # every two of the five types meet ...
    assert set(pairs.values()) == {2}  # ... twice, so each type is in 4 × 2 = 8 pairs


def test_the_mapping_table_covers_all_nine_environments(catalogue: InstrumentCatalogue) -> None:
    table = catalogue.mapping_table(INTERESTS_MAPPING)
    assert {row.environment for row in table.rows} == set(Environment)
    assert table.leading_within == 10
    assert table.row_ref("smart.ddo.sign_system").row == "smart.ddo.sign_system"
    with pytest.raises(KeyError):
        catalogue.mapping_table(MappingRef(mapping_id="interests_environments", version="2.0.0"))


def test_current_versions_per_stage(catalogue: InstrumentCatalogue) -> None:
    assert [v.ref for v in catalogue.current_versions(Stage.INTERESTS)] == [
        ref(Instrument.KLIMOV_DDO),
        ref(Instrument.ONET_IP_SHORT),
    ]
    assert [v.item_count for v in catalogue.current_versions(Stage.SOFT_SKILLS)] == [20]


def test_only_versions_not_yet_published_are_published(catalogue: InstrumentCatalogue) -> None:
    everything = [v.published() for v in catalogue.versions()]
    assert catalogue.unpublished([]) == catalogue.versions()
    assert catalogue.unpublished(everything) == ()
    rest = catalogue.unpublished(everything[:1])
    assert [v.ref for v in rest] == [v.ref for v in catalogue.versions()[1:]]


def test_a_published_version_whose_bank_changed_is_refused(
    catalogue: InstrumentCatalogue,
) -> None:
    earlier = catalogue.versions()[0].published().model_copy(update={"item_bank_digest": "0" * 64})
    with pytest.raises(ItemBankError) as refused:
        catalogue.unpublished([earlier])
    assert str(refused.value).startswith(
        "klimov_ddo/1.0.0.json: version: published with digest 0000"
    )


def test_each_scales_maximum_is_the_best_option_for_it_in_every_item(
    catalogue: InstrumentCatalogue,
) -> None:
    """`max_score` is worked out once per bank (docs/adr/0077): the same as scanning the items."""
    for bank in catalogue.banks:
        scales = {option.scale for item in bank.items for option in item.options}
        for scale in scales | {"no-such-scale"}:
            scanned = sum(
                max((o.points for o in item.options if o.scale == scale), default=0)
                for item in bank.items
            )
            assert bank.max_score(scale) == scanned, (bank.source, scale)


def test_the_current_form_is_the_form_of_the_current_versions() -> None:
    instruments = load_instruments()
    for stage in Stage:
        for grade in (6, 8, 11):
            current = instruments.current_form(stage, grade)
            assert current == instruments.form(stage, grade, current.instruments)
            assert current.instruments == dict(load_catalogue().current)[stage]
