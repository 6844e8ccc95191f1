"""The signer of a consent: a parent or legal representative, as the consent form states them.

Checked for format here (a passport series of 4 digits and a number of 6, a name of letters),
stored only sealed with the participant's key (`ConsentSubmitted`, `GuardianLinked`).
"""

import re
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from bilet_consent.domain.errors import InvalidConsent, InvalidGuardian
from bilet_consent.domain.reference import request_reference_problem

_NAME: Final = re.compile(r"^[A-Za-zА-Яа-яЁё](?:[A-Za-zА-Яа-яЁё' .-]{0,58}[A-Za-zА-Яа-яЁё.])?$")
_SERIES: Final = re.compile(r"^[0-9]{2} ?[0-9]{2}$")
_NUMBER: Final = re.compile(r"^[0-9]{6}$")
_TEXT: Final = re.compile(r"^[^\x00-\x1f\x7f]{1,300}$")
_REFERENCE: Final = re.compile(r"^[0-9A-Za-zА-Яа-яЁё№/\-. ]{1,50}$")
_PHONE: Final = re.compile(r"^\+7[0-9]{10}$")
_EMAIL: Final = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{2,63}$")
# The passport of a citizen of Russia in its current form is issued since 1 October 1997.
FIRST_PASSPORT_DAY: Final = date(1997, 10, 1)


def _name_part(field: str, value: str | None, *, required: bool = True) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise InvalidGuardian(field, "This part of the name is required.")
        return None
    if not _NAME.match(text):
        raise InvalidGuardian(field, "A name is letters, with spaces, hyphens or apostrophes.")
    return text


def _text(field: str, value: str) -> str:
    text = value.strip()
    if not _TEXT.match(text):
        raise InvalidGuardian(field, "Give up to 300 characters of text.")
    return text


def _past(field: str, value: date, today: date) -> date:
    if value > today:
        raise InvalidGuardian(field, "The date is in the future.")
    return value


@dataclass(frozen=True, slots=True)
class GuardianName:
    last_name: str
    first_name: str
    patronymic: str | None

    def __repr__(self) -> str:
        return "GuardianName(<hidden>)"

    @classmethod
    def parse(cls, last: str, first: str, patronymic: str | None) -> "GuardianName":
        return cls(
            _name_part("guardian.last_name", last) or "",
            _name_part("guardian.first_name", first) or "",
            _name_part("guardian.patronymic", patronymic, required=False),
        )

    def plain(self) -> dict[str, Any]:
        return {
            "last_name": self.last_name,
            "first_name": self.first_name,
            "patronymic": self.patronymic,
        }


@dataclass(frozen=True, slots=True)
class Passport:
    series: str  # 4 digits, without the space
    number: str  # 6 digits
    issued_by: str
    issued_on: date

    def __repr__(self) -> str:
        return "Passport(<hidden>)"

    @classmethod
    def parse(
        cls, series: str, number: str, issued_by: str, issued_on: date, today: date
    ) -> "Passport":
        series = series.strip()
        if not _SERIES.match(series):
            raise InvalidGuardian("guardian.passport.series", "A passport series is 4 digits.")
        number = number.strip()
        if not _NUMBER.match(number):
            raise InvalidGuardian("guardian.passport.number", "A passport number is 6 digits.")
        if issued_on < FIRST_PASSPORT_DAY:
            raise InvalidGuardian(
                "guardian.passport.issued_on", "Passports of this form are issued since 1997."
            )
        return cls(
            series.replace(" ", ""),
            number,
            _text("guardian.passport.issued_by", issued_by),
            _past("guardian.passport.issued_on", issued_on, today),
        )

    def plain(self) -> dict[str, Any]:
        return {
            "series": self.series,
            "number": self.number,
            "issued_by": self.issued_by,
            "issued_on": self.issued_on.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Authority:
    """The act that appoints a custodian (опекун) or curator (попечитель)."""

    document: str
    number: str
    issued_on: date

    def __repr__(self) -> str:
        return "Authority(<hidden>)"

    @classmethod
    def parse(cls, document: str, number: str, issued_on: date, today: date) -> "Authority":
        number = number.strip()
        if not _REFERENCE.match(number):
            raise InvalidGuardian("guardian.authority.number", "Up to 50 letters and digits.")
        return cls(
            _text("guardian.authority.document", document),
            number,
            _past("guardian.authority.issued_on", issued_on, today),
        )

    def plain(self) -> dict[str, Any]:
        return {
            "document": self.document,
            "number": self.number,
            "issued_on": self.issued_on.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Contact:
    phone: str | None
    email: str | None

    def __repr__(self) -> str:
        return "Contact(<hidden>)"

    @classmethod
    def parse(cls, phone: str | None, email: str | None) -> "Contact":
        phone_text = re.sub(r"[\s()-]", "", phone or "")
        if phone_text.startswith("8") and len(phone_text) == 11:
            phone_text = "+7" + phone_text[1:]
        if phone_text and not _PHONE.match(phone_text):
            raise InvalidGuardian("guardian.phone", "A phone number is +7 and 10 digits.")
        email_text = (email or "").strip()
        if email_text and not _EMAIL.match(email_text):
            raise InvalidGuardian("guardian.email", "This is not an e-mail address.")
        return cls(phone_text or None, email_text or None)

    def plain(self) -> dict[str, Any]:
        return {"phone": self.phone, "email": self.email}


@dataclass(frozen=True, slots=True)
class Guardian:
    name: GuardianName
    passport: Passport
    authority: Authority | None
    contact: Contact

    def __repr__(self) -> str:
        return "Guardian(<hidden>)"


def check_written_request(reference: str, received_on: date, today: date) -> tuple[str, date]:
    """A guardian's written request (заявление) as the school registered it: its registration
    number and the day it was received. The number stays in the clear after the participant's
    data is destroyed (it is the ground of the withdrawal), so it must be unable to carry
    personal data (see `bilet_consent.domain.reference`)."""
    text = reference.strip()
    if problem := request_reference_problem(text):
        raise InvalidConsent("request.reference", problem)
    if received_on > today:
        raise InvalidConsent("request.received_on", "The request is dated in the future.")
    return text, received_on
