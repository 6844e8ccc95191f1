"""The signer's details: formats checked, plaintext never in a repr."""

from datetime import date

import pytest

from bilet_consent.domain.errors import InvalidConsent, InvalidGuardian
from bilet_consent.domain.guardian import (
    Authority,
    Contact,
    GuardianName,
    Passport,
    check_written_request,
)

TODAY = date(2019, 9, 20)


def test_a_passport_is_canonical_and_hidden() -> None:
    passport = Passport.parse("41 05", "731592", " ТП № 1 ", date(2010, 3, 15), TODAY)
    assert (passport.series, passport.number, passport.issued_by) == ("4105", "731592", "ТП № 1")
    assert "731592" not in repr(passport)


@pytest.mark.parametrize(
    ("series", "number", "issued_on", "field"),
    [
        ("410", "731592", date(2010, 1, 1), "guardian.passport.series"),
        ("41a5", "731592", date(2010, 1, 1), "guardian.passport.series"),
        ("4105", "73159", date(2010, 1, 1), "guardian.passport.number"),
        ("4105", "7315921", date(2010, 1, 1), "guardian.passport.number"),
        ("4105", "731592", date(1996, 1, 1), "guardian.passport.issued_on"),
        ("4105", "731592", date(2019, 9, 21), "guardian.passport.issued_on"),
    ],
)
def test_bad_passports(series: str, number: str, issued_on: date, field: str) -> None:
    with pytest.raises(InvalidGuardian) as raised:
        Passport.parse(series, number, "ТП № 1", issued_on, TODAY)
    assert raised.value.details["field"] == field


def test_names() -> None:
    name = GuardianName.parse(" Салтыкова-Щедрина ", "Анна-Мария", "")
    assert name.plain() == {
        "last_name": "Салтыкова-Щедрина",
        "first_name": "Анна-Мария",
        "patronymic": None,
    }
    for bad in ("", "Иван0в", "<b>", "-Иван"):
        with pytest.raises(InvalidGuardian):
            GuardianName.parse(bad, "Анна", None)


def test_contact_is_normalised() -> None:
    assert Contact.parse("8 (921) 123-45-67", " a@b.ru ").plain() == {
        "phone": "+79211234567",
        "email": "a@b.ru",
    }
    assert Contact.parse(None, None).plain() == {"phone": None, "email": None}
    with pytest.raises(InvalidGuardian):
        Contact.parse("+1 555 0100", None)


def test_authority_and_request_references() -> None:
    act = Authority.parse("Распоряжение", "112-р", date(2018, 5, 4), TODAY)
    assert act.plain()["number"] == "112-р"
    with pytest.raises(InvalidGuardian):
        Authority.parse("Распоряжение", "<script>", date(2018, 5, 4), TODAY)
    assert check_written_request(" 17/2019 ", TODAY, TODAY) == ("17/2019", TODAY)
    assert check_written_request("ВХ-125", date(2019, 9, 1), TODAY)[0] == "ВХ-125"
    with pytest.raises(InvalidConsent):
        check_written_request("a;b", TODAY, TODAY)


@pytest.mark.parametrize(
    "reference",
    [
        "№ 15/2026",
        "№15/2026",
        "ВХ-1234",
        "17/2019",
        "01-15/123",  # a case index and a number
        "ИСХ-12/2026",
        "№ 7",
        "2026/0012",
        "12/10",  # a month and a year: no day
        "A-5",
    ],
)
def test_a_registration_number_is_a_written_request_reference(reference: str) -> None:
    assert check_written_request(reference, TODAY, TODAY) == (reference, TODAY)


@pytest.mark.parametrize(
    "reference",
    [
        # A pupil's СНИЛС, with and without its separators, whole or its 9 identifying digits.
        "112-233-445 95",
        "112-233-445-95",
        "11223344595",
        "112/233/445/95",
        "112-233-445",
        "112233445",
        # A name, a surname with initials, with or without dots and spaces.
        "Иванова И.И. заявл",
        "ИВАНОВА",
        "ИВАНОВА-1",
        "ИВАНОВ-ИИ-1",
        "ПЕТРОВ-И.И.",
        "ЛИ-ИИ-15",
        "IVANOV-1",
        # The "SURNAME-I.O.-birth date" of the issue, and a birth date alone in several forms.
        "ИВАНОВ-И.О.-01.02.2010",
        "И-И-010210",
        "01.02.2010",
        "01-02-2010",
        "1/2/2010",
        "01/02/10",
        "2010-02-01",
        "2010/2/1",
        "01022010",
        "20100201",
        "010210",
        "0102/2010",
        "ВХ-01-02-10",
        "№ 01/02/2010",
        # Not a registration number's shape.
        "ВХ",  # no digit
        "вх-17",  # lower case
        "17 2019",  # a space between groups
        "ВХ-125.1",  # a dot (dates and initials are written with them)
        "17//2019",
        "-17",
        "1-2-3-4-5",  # more than 4 groups
        "1" * 21,
        "17/2019\n18",  # a line break inside
        "17/2019 №",
        "",
    ],
)
def test_a_written_request_reference_cannot_hold_personal_data(reference: str) -> None:
    with pytest.raises(InvalidConsent) as raised:
        check_written_request(reference, TODAY, TODAY)
    assert raised.value.details["field"] == "request.reference"


def test_a_written_request_is_not_received_in_the_future() -> None:
    with pytest.raises(InvalidConsent) as raised:
        check_written_request("17/2019", date(2019, 9, 21), TODAY)
    assert raised.value.details["field"] == "request.received_on"
