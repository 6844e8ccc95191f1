"""The registration number of a guardian's written withdrawal request, as a school enters it.

It is the ground of the withdrawal and stays in the clear after the pupil's data is destroyed, so
it must be unable to carry personal data. A school's register numbers look like «№ 15/2026»,
«ВХ-1234» or «01-15/123»; what a number must not be able to hold, and the rule that shuts it out:

- a СНИЛС (11 digits, the first 9 identify), a passport (10), a phone number (10–11): at most
  8 digits in all;
- a name, a surname with initials: at most 3 letters in all (a register's index such as «ВХ» or
  «ИСХ»), capitals only, no dots or spaces to write initials with;
- a date (of birth): no digits that read as a day, month and year, whether separated
  (1-2-2010, 01/02/10, 2010-02-01) or not (010210, 01022010, 20100201).

The shape and the counts are one pattern (`REQUEST_REFERENCE_PATTERN`, published in the API
schema); the date rule is checked beside it. The rare register number that happens to read as a
date (1203/2026) is refused too: a false refusal costs a school a retyped number, a false
acceptance would keep a child's birth date after its destruction. What no pattern can stop is a
school that sets out to encode data in digits; the rule stops a person's identifiers as people
write them.
"""

import re
from datetime import date
from itertools import pairwise
from typing import Final

REQUEST_REFERENCE_MAX_LENGTH: Final = 20
_LETTER: Final = "A-ZА-ЯЁ"
REQUEST_REFERENCE_PATTERN: Final = (
    # 1 to 8 digits in all, at most 3 letters in all ...
    rf"^(?=(?:[^0-9]*[0-9]){{1,8}}[^0-9]*$)(?!(?:[^{_LETTER}]*[{_LETTER}]){{4}})"
    # ... in at most 4 groups of capital letters and digits joined by - or /, after an optional №.
    rf"(?:№ ?)?[0-9{_LETTER}]+(?:[-/][0-9{_LETTER}]+){{0,3}}$"
)
_SHAPE: Final = re.compile(REQUEST_REFERENCE_PATTERN)
_DIGITS: Final = re.compile(r"[0-9]+")

RULE: Final = (
    "Give the request's registration number as the school's register has it (for example "
    "«№ 15/2026» or «ВХ-1234»): capital letters and digits in up to 4 groups joined by - or /, "
    f"after an optional №; at most {REQUEST_REFERENCE_MAX_LENGTH} characters, 8 digits and "
    "3 letters, and no date. It stays after the pupil's data is destroyed: never a name, a "
    "СНИЛС or a birth date."
)


def _is_day(day: str, month: str, year: str) -> bool:
    """Whether these digits make a calendar date: a 2-digit year is any year, a 4-digit one
    1900–2099."""
    if len(year) == 4:
        if not 1900 <= int(year) <= 2099:
            return False
        full_year = int(year)
    elif len(year) == 2:
        full_year = 2000 + int(year)
    else:
        return False
    if not (1 <= len(day) <= 2 and 1 <= len(month) <= 2):
        return False
    try:
        date(full_year, int(month), int(day))
    except ValueError:
        return False
    return True


def _reads_as_date(digits: str) -> bool:
    """One run of digits as ddmmyy, ddmmyyyy or yyyymmdd."""
    if len(digits) == 6:
        return _is_day(digits[:2], digits[2:4], digits[4:])
    if len(digits) == 8:
        return _is_day(digits[:2], digits[2:4], digits[4:]) or _is_day(
            digits[6:], digits[4:6], digits[:4]
        )
    return False


def holds_a_date(reference: str) -> bool:
    """Whether some digits of the reference read as a date: three runs in a row as day, month,
    year (either order), or one run, or two in a row taken together, as a date written without
    separators."""
    runs = _DIGITS.findall(reference)
    for first, second, third in zip(runs, runs[1:], runs[2:], strict=False):
        if _is_day(first, second, third) or (len(first) == 4 and _is_day(third, second, first)):
            return True
    return any(_reads_as_date(run) for run in runs) or any(
        _reads_as_date(first + second) for first, second in pairwise(runs)
    )


def request_reference_problem(reference: str) -> str | None:
    """Why this (stripped) reference cannot be a request's registration number, or None."""
    if len(reference) > REQUEST_REFERENCE_MAX_LENGTH or not _SHAPE.fullmatch(reference):
        return RULE
    if holds_a_date(reference):
        return RULE.replace("and no date.", "and no date (this one reads as one).")
    return None
