"""The signer's details: formats checked, plaintext never in a repr."""

from datetime import date

import pytest

from bilet_consent.domain.errors import InvalidConsent, InvalidGuardian
from bilet_consent.domain.guardian import (
    Authority,
    Contact,
    GuardianName,
    Passport,
    written_request_reference,
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
    assert written_request_reference(" 17/2019 ") == "17/2019"
    with pytest.raises(InvalidConsent):
        written_request_reference("a;b")
