"""Personal details as the deciders check them: names, health categories, the person key."""

from datetime import date

import pytest

from bilet_identity.domain.errors import InvalidDetails, InvalidSnilsError
from bilet_identity.domain.people import (
    FullName,
    HealthLimitationKind,
    HealthLimitations,
    PersonalDetails,
    check_birth_date,
    parse_snils,
    person_key_material,
)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        (
            ("  Салтыков-Щедрин ", "Михаил", "Евграфович"),
            ("Салтыков-Щедрин", "Михаил", "Евграфович"),
        ),
        (("Алиев", "Рашад", "Мамед  оглы"), ("Алиев", "Рашад", "Мамед оглы")),
        (("Иванова", "Анна", ""), ("Иванова", "Анна", None)),
        (("O'Connor", "Anna", None), ("O'Connor", "Anna", None)),
    ],
)
def test_names_are_kept_as_written_with_spacing_cleaned(
    given: tuple[str, str, str | None], kept: tuple[str, str, str | None]
) -> None:
    name = FullName.parse(*given)
    assert (name.last_name, name.first_name, name.patronymic) == kept


@pytest.mark.parametrize(
    ("given", "field"),
    [
        (("", "Анна", None), "last_name"),
        (("Иванова", "  ", None), "first_name"),
        (("Иванова1", "Анна", None), "last_name"),
        (("Иванова", "Анна", "<script>"), "middle_name"),
        (("И" * 101, "Анна", None), "last_name"),
        (("-Иванова", "Анна", None), "last_name"),
    ],
)
def test_what_is_no_name_is_refused_naming_the_field(
    given: tuple[str, str, str | None], field: str
) -> None:
    with pytest.raises(InvalidDetails) as refused:
        FullName.parse(*given)
    assert refused.value.field == field


@pytest.mark.parametrize(
    ("given", "field"),
    [
        (("Иванoв", "Пётр", None), "last_name"),  # a Latin o among Cyrillic letters
        (("Иванов", "Пётp", None), "first_name"),  # a Latin p
        (("Иванов", "Пётр", "Ивaнович"), "middle_name"),  # a Latin a
        (("Smith", "Аnna", None), "first_name"),  # a Cyrillic А leading Latin letters
        (("Салтыков-Shchedrin", "Михаил", None), "last_name"),  # each part is one alphabet
        (("Ιβανοβ", "Пётр", None), "last_name"),  # Greek: neither alphabet
    ],
)
def test_a_name_part_mixing_alphabets_is_refused_naming_the_field(
    given: tuple[str, str, str | None], field: str
) -> None:
    with pytest.raises(InvalidDetails) as refused:
        FullName.parse(*given)
    assert refused.value.field == field
    assert refused.value.code == "invalid_details"


def test_parts_of_a_name_may_each_keep_their_own_alphabet() -> None:
    name = FullName.parse("O'Connor", "Анна-Мария", "Ёжикова")
    assert (name.last_name, name.first_name, name.patronymic) == (
        "O'Connor",
        "Анна-Мария",
        "Ёжикова",
    )
    assert FullName.parse("Müller-Lüdenscheidt", "José", None).first_name == "José"
    assert FullName.parse("Гарипова", "Әлфия", None).first_name == "Әлфия"  # Tatar Cyrillic


def test_an_invalid_snils_is_invalid_snils() -> None:
    with pytest.raises(InvalidSnilsError) as refused:
        parse_snils("112-233-445 96")
    assert refused.value.code == "invalid_snils"
    assert parse_snils("11223344595").formatted == "112-233-445 95"


def test_a_health_kind_needs_limitations() -> None:
    with pytest.raises(InvalidDetails):
        HealthLimitations(False, HealthLimitationKind.VISION)


def test_the_person_key_material_ignores_case_yo_and_spacing() -> None:
    birth = date(2007, 4, 12)
    one = person_key_material(FullName("Соловьёв", "Фёдор", "Ильич"), birth)
    assert one == person_key_material(FullName("СОЛОВЬЕВ", " федор", "ильич"), birth)
    assert one != person_key_material(FullName("Соловьёв", "Фёдор", "Ильич"), date(2007, 4, 13))
    assert one != person_key_material(FullName("Соловьёв", "Фёдор", None), birth)


def test_reprs_never_show_personal_data() -> None:
    details = PersonalDetails(
        FullName("Соколова", "Дарья", None), date(2007, 4, 12), parse_snils("11223344595")
    )
    shown = repr(details) + repr(details.full_name) + repr(details.snils)
    assert "Соколова" not in shown
    assert "112" not in shown


def test_a_pupil_is_5_to_25_years_old_when_the_season_starts() -> None:
    starts = date(2019, 9, 1)
    assert check_birth_date(date(2014, 9, 1), starts) == date(2014, 9, 1)
    assert check_birth_date(date(1994, 9, 1), starts) == date(1994, 9, 1)
    for too_young_or_old in (date(2014, 9, 2), date(1993, 8, 31)):
        with pytest.raises(InvalidDetails):
            check_birth_date(too_young_or_old, starts)
