"""A pupil's personal details as the deciders see them: plaintext, validated, normalised.

What is personal data here (ФИО, date of birth, СНИЛС, health limitations, citizenship,
home schooling) is only ever stored sealed. Health limitations (ОВЗ) are a closed list of the
categories the law names, never a free-text diagnosis; what a career event must arrange is the
separate `AccessibilityNeed` list. Both are health data, a special category sealed with a key of
its own (docs/adr/0017): they can be destroyed, or withheld, while the rest stays.
"""

import functools
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Final

from bilet.contracts.vocabulary import AccessibilityNeed
from bilet_identity.domain.errors import (
    BirthDateImplausibleForGrade,
    InvalidDetails,
    InvalidSnilsError,
)
from bilet_identity.domain.snils import InvalidSnils, Snils

RUSSIA: Final = "RU"
NAME_MAX: Final = 100
# Letters, inner spaces, hyphens, apostrophes and dots (Салтыков-Щедрин, Мамед оглы,
# д'Артаньян); the letters of one part all Cyrillic or all Latin (`_alphabet`).
_NAME: Final = re.compile(r"^[^\W\d_](?:[^\W\d_]|[ '’.\-])*$")
_NAME_SEPARATORS: Final = frozenset(" '’.-")
# Unicode names the letters of each alphabet alike: CYRILLIC SMALL LETTER O, LATIN SMALL LETTER O.
_ALPHABETS: Final = ("CYRILLIC", "LATIN")
_SPACES: Final = re.compile(r"\s+")
_CITIZENSHIP: Final = re.compile(r"^[A-Z]{2}$")


class HealthLimitationKind(StrEnum):
    """Categories of health limitations (ОВЗ) as the education law groups them."""

    HEARING = "hearing"  # нарушения слуха
    VISION = "vision"  # нарушения зрения
    SPEECH = "speech"  # тяжёлые нарушения речи
    MUSCULOSKELETAL = "musculoskeletal"  # нарушения опорно-двигательного аппарата
    DEVELOPMENTAL_DELAY = "developmental_delay"  # задержка психического развития
    AUTISM_SPECTRUM = "autism_spectrum"  # расстройства аутистического спектра
    INTELLECTUAL = "intellectual"  # нарушения интеллекта
    MULTIPLE = "multiple"  # сложные дефекты
    OTHER = "other"


def _clean(text: str) -> str:
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()


def _name_part(field: str, text: str | None, *, required: bool) -> str | None:
    cleaned = _clean(text or "")
    if not cleaned:
        if required:
            raise InvalidDetails(field, f"{field} is required.")
        return None
    if len(cleaned) > NAME_MAX:
        raise InvalidDetails(field, f"{field} is longer than {NAME_MAX} characters.")
    if not _NAME.match(cleaned):
        raise InvalidDetails(field, f"{field} holds characters a name does not have.")
    _alphabet(field, cleaned)
    return cleaned


@functools.lru_cache(maxsize=1024)
def _alphabet_of(letter: str) -> str:
    """The first word of a letter's Unicode name (CYRILLIC, LATIN, …): looked up once per
    letter, not once per letter of every name (a single letter says nothing of a person)."""
    return unicodedata.name(letter, "").partition(" ")[0]


def _alphabet(field: str, name: str) -> str:
    """The one alphabet a name part is written in. A register of children must not hold
    «Иванoв» with a Latin o: it reads as «Иванов» and neither matches, sorts nor finds it."""
    alphabets = {_alphabet_of(letter) for letter in name if letter not in _NAME_SEPARATORS}
    if not alphabets <= set(_ALPHABETS):
        raise InvalidDetails(field, f"{field} holds letters neither Cyrillic nor Latin.")
    if len(alphabets) > 1:
        raise InvalidDetails(field, f"{field} mixes Cyrillic and Latin letters.")
    return alphabets.pop()


@dataclass(frozen=True, slots=True)
class FullName:
    last_name: str
    first_name: str
    patronymic: str | None = None

    @classmethod
    def parse(cls, last_name: str, first_name: str, patronymic: str | None) -> "FullName":
        last = _name_part("last_name", last_name, required=True)
        first = _name_part("first_name", first_name, required=True)
        assert last is not None
        assert first is not None
        return cls(last, first, _name_part("middle_name", patronymic, required=False))

    def plaintext(self) -> dict[str, str | None]:
        """The JSON value sealed in `full_name` (its contract form)."""
        return {
            "last_name": self.last_name,
            "first_name": self.first_name,
            "patronymic": self.patronymic,
        }

    def __repr__(self) -> str:
        return "FullName(<hidden>)"


@dataclass(frozen=True, slots=True)
class HealthLimitations:
    has_limitations: bool
    kind: HealthLimitationKind | None = None

    def __post_init__(self) -> None:
        if self.kind is not None and not self.has_limitations:
            raise InvalidDetails("health_limitations", "A kind is given without limitations.")

    def plaintext(self) -> dict[str, object]:
        return {
            "has_limitations": self.has_limitations,
            "kind": None if self.kind is None else self.kind.value,
        }


NO_LIMITATIONS: Final = HealthLimitations(False)


def parse_snils(text: str) -> Snils:
    try:
        return Snils.parse(text)
    except InvalidSnils as error:
        raise InvalidSnilsError(str(error)) from None


def check_birth_date(birth_date: date, season_starts_on: date) -> date:
    """A pupil of grades 1–11 is between 5 and 25 years old when the season starts."""
    age = season_starts_on.year - birth_date.year
    if (season_starts_on.month, season_starts_on.day) < (birth_date.month, birth_date.day):
        age -= 1
    if not 5 <= age <= 25:
        raise InvalidDetails("birth_date", "The birth date is not that of a school pupil.")
    return birth_date


@dataclass(frozen=True, slots=True)
class GradeAgeBand:
    """How old a pupil of a grade may plausibly be on 1 September of the school year: a pupil
    of grade g is usually g + 5 or g + 6 (a first-former is 6 or 7), widened by `years_younger`
    (an early start) and `years_older` (a late start, a repeated year). Configurable per
    deployment (docs/adr/0041)."""

    years_younger: int = 1
    years_older: int = 2

    def birth_dates(self, grade: int, school_year: int) -> tuple[date, date]:
        """The earliest and the latest plausible birth date, both included."""
        youngest = grade + 5 - self.years_younger
        oldest = grade + 6 + self.years_older
        # Aged at most `oldest` on 1 September: born after 1 September `oldest + 1` years before.
        return date(school_year - oldest - 1, 9, 2), date(school_year - youngest, 9, 1)

    def check(self, birth_date: date, grade: int, school_year: int) -> None:
        earliest, latest = self.birth_dates(grade, school_year)
        if not earliest <= birth_date <= latest:
            raise BirthDateImplausibleForGrade(grade, earliest, latest)


# The band when a deployment sets none: a year younger, two years older than usual.
DEFAULT_AGE_BAND: Final = GradeAgeBand()


_CLASS_LETTER: Final = re.compile(r"^[А-ЯЁ]$")
_LETTER_QUOTES: Final = "«»\"'“”„ "


def parse_class_letter(text: str | None) -> str | None:
    """The letter of a pupil's class (7«Б»: Б), upper case; None when none is given."""
    if text is None:
        return None
    letter = text.strip(_LETTER_QUOTES).upper()
    if not letter:
        return None
    if not _CLASS_LETTER.match(letter):
        raise InvalidDetails("class_letter", "A class letter is one Cyrillic letter, e.g. А.")
    return letter


def check_citizenship(code: str) -> str:
    if not _CITIZENSHIP.match(code):
        raise InvalidDetails("citizenship", "Citizenship is an ISO 3166 alpha-2 code, e.g. RU.")
    return code


@dataclass(frozen=True, slots=True)
class PersonalDetails:
    """What identifies the child (ФИО + birth date + СНИЛС), and their health data: health
    limitations and accessibility needs, each None when it is not known here (its health key was
    destroyed, it was written before it had one, or the caller did not ask for health data)."""

    full_name: FullName
    birth_date: date
    snils: Snils
    health: HealthLimitations | None = NO_LIMITATIONS
    accessibility_needs: tuple[AccessibilityNeed, ...] | None = ()

    @property
    def health_known(self) -> bool:
        return self.health is not None and self.accessibility_needs is not None

    def plaintext(self) -> dict[str, object]:
        """Each sealed field's JSON value, by its name in the published events (health data
        only where it is known)."""
        values: dict[str, object] = {
            "full_name": self.full_name.plaintext(),
            "birth_date": self.birth_date.isoformat(),
            "snils": self.snils.formatted,
        }
        if self.health is not None:
            values["health_limitations"] = self.health.plaintext()
        if self.accessibility_needs is not None:
            values["accessibility_needs"] = [need.value for need in self.accessibility_needs]
        return values

    def __repr__(self) -> str:
        return "PersonalDetails(<hidden>)"


def fold_name(text: str | None) -> str:
    """A name part in the form two spellings of one name agree on: case, «ё» and spacing do not
    tell two children apart (nor two searches for them)."""
    return _clean(text or "").casefold().replace("ё", "е").replace("’", "'")


def person_key_material(full_name: FullName, birth_date: date) -> str:
    """Name and birth date in the form two registrations of one child agree on. The application
    hashes it with a secret key."""
    parts = (
        fold_name(full_name.last_name),
        fold_name(full_name.first_name),
        fold_name(full_name.patronymic),
        birth_date.isoformat(),
    )
    return "\x1f".join(parts)


def surname_prefixes(last_name: str) -> tuple[str, ...]:
    """Every prefix of the folded surname, the shortest first: what a search by surname prefix
    may ask for («Ив», «Иванов»). The application hashes each with a secret key (a blind index,
    docs/adr/0041); the plaintext is kept nowhere."""
    folded = fold_name(last_name)
    return tuple(folded[:length] for length in range(1, len(folded) + 1))
