"""Schools: a coordinator registers them in an admitted region, each once."""

from uuid import UUID

import pytest

from bilet.contracts.catalogue.identity import SchoolRegistered
from bilet_identity.domain.errors import DuplicateSchool, InvalidDetails, UnknownRegion
from bilet_identity.domain.region import Region, region_id_for
from bilet_identity.domain.school import RegisterSchool, School, decide, evolve, school_id_for

LENINGRAD = region_id_for("47")
REGION = Region(
    LENINGRAD, "47", "Ленинградская область", "Europe/Moscow", "ГБУ ДО", frozenset({2019})
)
LUGA = "Лужский муниципальный район"


def register(name: str = "МОУ «СОШ № 3»", region: Region | None = REGION) -> RegisterSchool:
    return RegisterSchool(region, name, LUGA)


def test_given_no_school_when_registered_then_school_registered_in_the_region() -> None:
    school_id = school_id_for(LENINGRAD, LUGA, "МОУ «СОШ № 3»")
    assert decide(register(), None) == [
        SchoolRegistered(
            school_id=school_id, region_id=LENINGRAD, name="МОУ «СОШ № 3»", municipality=LUGA
        )
    ]


def test_the_same_school_spelt_with_other_spacing_or_case_is_the_same_school() -> None:
    assert school_id_for(LENINGRAD, LUGA, "МОУ «СОШ № 3»") == school_id_for(
        LENINGRAD, "  лужский   муниципальный район ", "моу  «сош № 3» "
    )
    assert school_id_for(LENINGRAD, LUGA, "МОУ «СОШ № 3»") != school_id_for(
        LENINGRAD, LUGA, "МБОУ «СОШ № 5»"
    )


def test_given_the_school_when_registered_again_then_duplicate_school() -> None:
    [event] = decide(register(), None)
    state: School = evolve(None, event)
    with pytest.raises(DuplicateSchool) as refused:
        decide(register(), state)
    assert refused.value.existing == state.school_id


def test_a_school_only_in_a_region_of_the_programme() -> None:
    with pytest.raises(UnknownRegion):
        decide(register(region=None), None)


def test_a_blank_name_is_refused() -> None:
    with pytest.raises(InvalidDetails) as refused:
        decide(register(name="   "), None)
    assert refused.value.field == "name"


def test_school_ids_are_stable() -> None:
    assert school_id_for(LENINGRAD, LUGA, "МОУ «СОШ № 3»") == UUID(
        "16fae2ab-d1c8-5e70-ba8f-657ddc885c03"
    )
