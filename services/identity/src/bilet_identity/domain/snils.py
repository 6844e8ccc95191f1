"""СНИЛС, the insurance number that identifies a person nationwide: parsing and its check number.

`XXX-XXX-XXX YY`: nine body digits and a two-digit check number. The check number applies only to
bodies above 001-001-998: multiply the body digits by 9, 8, …, 1 (left to right) and sum; a sum
below 100 is the check number itself, 100 and 101 give 00, and a larger sum gives its remainder
modulo 101, where a remainder of 100 again gives 00. Input is accepted with or without the usual
separators; the canonical form kept is the eleven digits.
"""

import random
import re
from dataclasses import dataclass
from typing import Final

_SEPARATORS: Final = re.compile(r"[\s\-]")
_ELEVEN_DIGITS: Final = re.compile(r"^[0-9]{11}$")
# Bodies up to and including 001-001-998 were issued before check numbers existed.
_LAST_BODY_WITHOUT_CHECK: Final = 1_001_998


class InvalidSnils(ValueError):
    """Not a СНИЛС: wrong shape, or a check number that does not match the body."""


def check_number(body: str) -> int:
    """The check number of a nine-digit body (for bodies above 001-001-998)."""
    total = sum(int(digit) * weight for digit, weight in zip(body, range(9, 0, -1), strict=True))
    if total < 100:
        return total
    if total in (100, 101):
        return 0
    remainder = total % 101
    return 0 if remainder == 100 else remainder


@dataclass(frozen=True, slots=True)
class Snils:
    """A valid СНИЛС in canonical form (eleven digits). Its `repr` never shows the number."""

    digits: str

    @classmethod
    def parse(cls, text: str) -> "Snils":
        digits = _SEPARATORS.sub("", text)
        if not _ELEVEN_DIGITS.match(digits):
            raise InvalidSnils("a СНИЛС is eleven digits: XXX-XXX-XXX YY")
        body, check = digits[:9], int(digits[9:])
        if int(body) == 0:
            raise InvalidSnils("a СНИЛС body cannot be all zeros")
        if int(body) > _LAST_BODY_WITHOUT_CHECK and check_number(body) != check:
            raise InvalidSnils("the check number does not match the СНИЛС body")
        return cls(digits)

    @property
    def formatted(self) -> str:
        d = self.digits
        return f"{d[0:3]}-{d[3:6]}-{d[6:9]} {d[9:11]}"

    def __repr__(self) -> str:
        return "Snils(<hidden>)"

    __str__ = __repr__


def generate(rng: random.Random) -> Snils:
    """A valid, randomly generated СНИЛС (for demo data: never a real person's on purpose)."""
    body = f"{rng.randint(_LAST_BODY_WITHOUT_CHECK + 1, 999_999_999):09d}"
    return Snils(f"{body}{check_number(body):02d}")
