"""Reading a school's class list: whole-file refusals, and one error per bad row."""

from datetime import date

import pytest

from bilet.contracts.vocabulary import AccessibilityNeed
from bilet_identity.application.classlist import ClassListRefused, parse_class_list
from bilet_identity.domain.people import HealthLimitationKind, parse_class_letter
from bilet_identity.domain.region import region_id_for

RUSSIAN = (
    "\ufeffФамилия;Имя;Отчество;Дата рождения;СНИЛС;Класс;ОВЗ;Потребности;Семейное обучение\n"
    "Соколова;Дарья;Андреевна;12.04.2007;112-233-445 95;7;vision;large_print|quiet_space;нет\n"
    "Громов;Фёдор;;2008-01-30;11223344595;6;нет;;да\n"
)


def test_a_russian_excel_export_is_read() -> None:
    first, second = parse_class_list(RUSSIAN.encode())
    assert first.line == 2
    assert first.error is None
    assert first.pupil is not None
    assert (first.pupil.last_name, first.pupil.middle_name) == ("Соколова", "Андреевна")
    assert first.pupil.birth_date == date(2007, 4, 12)
    assert first.pupil.grade == 7
    assert first.pupil.citizenship == "RU"
    assert first.pupil.health_limitation_kind is HealthLimitationKind.VISION
    assert first.pupil.has_health_limitations
    assert first.pupil.accessibility_needs == (
        AccessibilityNeed.LARGE_PRINT,
        AccessibilityNeed.QUIET_SPACE,
    )
    assert second.pupil is not None
    assert second.pupil.middle_name is None
    assert second.pupil.home_schooled
    assert not second.pupil.has_health_limitations


def test_english_headers_commas_and_optional_columns() -> None:
    text = (
        "No,last_name,first_name,birth_date,snils,grade,citizenship,residence_region_code\n"
        "1,Ivanova,Anna,2007-04-12,112-233-445 95,7,by,78\n"
    )
    [row] = parse_class_list(text.encode())
    assert row.pupil is not None
    assert row.pupil.citizenship == "BY"
    assert row.pupil.residence_region_id == region_id_for("78")


def test_each_bad_row_gets_its_own_error_and_the_rest_is_read() -> None:
    text = (
        "last_name;first_name;birth_date;snils;grade;accessibility_needs\n"
        "Иванова;Анна;31.02.2007;11223344595;7;\n"
        "Иванова;Анна;2007-04-12;11223344595;семь;\n"
        "Иванова;Анна;2007-04-12;11223344595;7;wheelchair\n"
        "Иванова;Анна;2007-04-12\n"
        "Иванова;Анна;2007-04-12;11223344595;7;\n"
    )
    rows = parse_class_list(text.encode())
    errors = [(r.line, r.error.details.get("field") if r.error else None) for r in rows]
    assert errors == [
        (2, "birth_date"),
        (3, "grade"),
        (4, "accessibility_needs"),
        (5, "row"),
        (6, None),
    ]
    assert all("Иванова" not in (r.error.message if r.error else "") for r in rows)


def test_a_file_not_in_utf8_is_refused_as_a_whole() -> None:
    with pytest.raises(ClassListRefused) as refused:
        parse_class_list(RUSSIAN.replace("\ufeff", "").encode("cp1251"))
    assert refused.value.code == "invalid_encoding"


def test_missing_required_columns_are_named() -> None:
    with pytest.raises(ClassListRefused) as refused:
        parse_class_list("Фамилия;Имя;Класс\nИванова;Анна;7\n".encode())
    assert refused.value.code == "missing_columns"
    assert refused.value.details["missing_columns"] == ["birth_date", "snils"]


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "invalid_csv"),
        (b"\n\n", "invalid_csv"),
        (b"last_name,first_name,birth_date,snils,grade\n", "invalid_csv"),
        (b"last_name,last_name,first_name,birth_date,snils,grade\n", "invalid_csv"),
        (
            'last_name,first_name,birth_date,snils,grade\n"Ив"анова,А,2007-01-01,1,7\n'.encode(),
            "invalid_csv",
        ),
        (
            "last_name,first_name,birth_date,snils,grade\nИв\x00,А,2007-01-01,1,7\n".encode(),
            "invalid_text",
        ),
    ],
)
def test_broken_files_are_refused(content: bytes, code: str) -> None:
    with pytest.raises(ClassListRefused) as refused:
        parse_class_list(content)
    assert refused.value.code == code


def test_too_many_rows_are_refused() -> None:
    text = "last_name,first_name,birth_date,snils,grade\n" + "А,Б,2007-01-01,1,7\n" * 4
    assert len(parse_class_list(text.encode(), max_rows=4)) == 4
    with pytest.raises(ClassListRefused, match="more than 3"):
        parse_class_list(text.encode(), max_rows=3)


@pytest.mark.parametrize(
    ("grade", "letter", "expected"),
    [
        ("7", "", (7, None)),
        ("7Б", "", (7, "Б")),
        ("7 «б»", "", (7, "Б")),
        ("10-А", "", (10, "А")),
        ("8", "г", (8, "Г")),
    ],
)
def test_the_class_letter_comes_with_the_grade_or_in_a_column_of_its_own(
    grade: str, letter: str, expected: tuple[int, str | None]
) -> None:
    content = (
        "Фамилия;Имя;Дата рождения;СНИЛС;Класс;Буква\n"
        f"Иванов;Пётр;12.04.2007;112-233-445 95;{grade};{letter}\n"
    ).encode()
    [row] = parse_class_list(content)
    assert row.pupil is not None, row.error
    assert (row.pupil.grade, parse_class_letter(row.pupil.class_letter)) == expected


@pytest.mark.parametrize(("grade", "field"), [("7Q", "class_letter"), ("семь", "grade")])
def test_a_grade_that_is_no_grade_with_a_letter_is_rejected(grade: str, field: str) -> None:
    content = f"Фамилия;Имя;Дата рождения;СНИЛС;Класс\nИванов;Пётр;12.04.2007;1;{grade}\n"
    [row] = parse_class_list(content.encode())
    assert row.error is not None
    assert row.error.details.get("field") == field
