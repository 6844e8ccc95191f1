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
    assert check_written_request("ВХ-125.1", date(2019, 9, 1), TODAY)[0] == "ВХ-125.1"
    with pytest.raises(InvalidConsent):
        check_written_request("a;b", TODAY, TODAY)


@pytest.mark.parametrize(
    "reference",
    [
        "Иванова И.И. заявл",  # a name, in free text: it would outlive the destruction
        "ИВАНОВА",  # no digit: not a registration number
        "вх-17",  # lower case
        "17 2019",  # a space
        "№17",
        "1" * 41,
        "17/2019\n18",  # a line break inside
        "",
    ],
)
def test_a_written_request_reference_is_a_document_number(reference: str) -> None:
    with pytest.raises(InvalidConsent) as raised:
        check_written_request(reference, TODAY, TODAY)
    assert raised.value.details["field"] == "request.reference"


def test_a_written_request_is_not_received_in_the_future() -> None:
    with pytest.raises(InvalidConsent) as raised:
        check_written_request("17/2019", date(2019, 9, 21), TODAY)
    assert raised.value.details["field"] == "request.received_on"
