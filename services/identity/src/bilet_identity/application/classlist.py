"""A school's class list as CSV (UTF-8, Russian or English headers): parsed into one pupil per
row, each row with its own error, so one bad row never hides the others.

Whole-file refusals (not UTF-8, no header, required columns missing, malformed quoting, too many
rows) raise `ClassListRefused`; row errors are returned beside their line number. Messages never
quote a cell: cells are personal data.
"""

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final, TypeVar
from uuid import UUID

from bilet.contracts.vocabulary import AccessibilityNeed
from bilet.http.guard import has_hostile_text
from bilet_identity.application.inputs import PupilInput
from bilet_identity.domain.errors import DomainError, InvalidDetails
from bilet_identity.domain.people import RUSSIA, HealthLimitationKind, parse_class_letter
from bilet_identity.domain.region import region_id_for

_T = TypeVar("_T")

MAX_ROWS: Final = 20_000
_HEADER_NOISE: Final = re.compile(r"[\s\-]+")
_SPLIT_LIST: Final = re.compile(r"[|;,\s]+")
_REGION_CODE: Final = re.compile(r"^[0-9]{2}$")

# Canonical column → the header spellings accepted for it (folded: lower case, ё→е, _ for spaces).
COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "last_name": ("last_name", "фамилия"),
    "first_name": ("first_name", "имя"),
    "middle_name": ("middle_name", "patronymic", "отчество"),
    "birth_date": ("birth_date", "дата_рождения"),
    "snils": ("snils", "снилс"),
    "grade": ("grade", "класс"),
    "class_letter": ("class_letter", "буква", "буква_класса", "литера"),
    "citizenship": ("citizenship", "гражданство"),
    "residence_region_code": ("residence_region_code", "регион_проживания", "код_региона"),
    "home_schooled": ("home_schooled", "семейное_обучение"),
    "health_limitations": ("health_limitations", "овз"),
    "accessibility_needs": ("accessibility_needs", "потребности", "особые_потребности"),
}
REQUIRED: Final = ("last_name", "first_name", "birth_date", "snils", "grade")
_ALIASES: Final = {alias: name for name, aliases in COLUMNS.items() for alias in aliases}
_YES: Final = frozenset({"да", "yes", "true", "1", "д", "y"})
_NO: Final = frozenset({"", "нет", "no", "false", "0", "н", "n"})


class ClassListRefused(DomainError):
    """The file as a whole cannot be read as a class list."""

    def __init__(self, code: str, message: str, **details: object) -> None:
        super().__init__(message, **details)
        self.code = code


@dataclass(frozen=True, slots=True)
class ParsedRow:
    line: int
    pupil: PupilInput | None
    error: DomainError | None


def _fold_header(cell: str) -> str:
    return _HEADER_NOISE.sub("_", cell.strip().casefold().replace("ё", "е")).strip("_")


def _decode(content: bytes) -> str:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ClassListRefused(
            "invalid_encoding", "The file is not UTF-8: save the class list as «CSV UTF-8»."
        ) from None
    if has_hostile_text(text):  # the request guard's set: controls, bidi, invisible characters
        raise ClassListRefused("invalid_text", "The file holds control or invisible characters.")
    return text


def _delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (";", ",", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def parse_class_list(content: bytes, *, max_rows: int = MAX_ROWS) -> list[ParsedRow]:
    text = _decode(content)
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    if not first_line.strip():
        raise ClassListRefused("invalid_csv", "The file is empty.")
    reader = csv.reader(io.StringIO(text), delimiter=_delimiter(first_line), strict=True)
    try:
        header: list[str] | None = None
        while header is None:
            cells = next(reader, None)
            if cells is None:
                raise ClassListRefused("invalid_csv", "The file is empty.")
            if any(c.strip() for c in cells):
                header = cells
        positions = _columns(header)
        rows: list[ParsedRow] = []
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if len(rows) >= max_rows:
                raise ClassListRefused(
                    "invalid_csv",
                    f"The file has more than {max_rows} pupils: split it.",
                    max_rows=max_rows,
                )
            rows.append(_row(reader.line_num, cells, positions, len(header)))
    except csv.Error as error:
        raise ClassListRefused(
            "invalid_csv", f"Line {reader.line_num} is not valid CSV ({error})."
        ) from None
    if not rows:
        raise ClassListRefused("invalid_csv", "The file lists no pupils.")
    return rows


def _columns(header: list[str]) -> dict[str, int]:
    positions: dict[str, int] = {}
    for index, cell in enumerate(header):
        name = _ALIASES.get(_fold_header(cell))
        if name is None:
            continue  # a column we do not use (a row number, a remark)
        if name in positions:
            raise ClassListRefused("invalid_csv", f"The column {name} appears twice.")
        positions[name] = index
    missing = [name for name in REQUIRED if name not in positions]
    if missing:
        raise ClassListRefused(
            "missing_columns",
            "Required columns are missing: " + ", ".join(missing) + ".",
            missing_columns=missing,
        )
    return positions


def _row(line: int, cells: list[str], positions: dict[str, int], width: int) -> ParsedRow:
    if len(cells) != width:
        error = InvalidDetails("row", f"The row has {len(cells)} cells, the header {width}.")
        return ParsedRow(line, None, error)

    def cell(name: str) -> str:
        index = positions.get(name)
        return "" if index is None else cells[index].strip()

    try:
        pupil = PupilInput(
            last_name=cell("last_name"),
            first_name=cell("first_name"),
            middle_name=cell("middle_name") or None,
            birth_date=_field("birth_date", cell("birth_date"), _date),
            snils=cell("snils"),
            grade=_field("grade", cell("grade"), _grade),
            # The letter in a column of its own, or with the grade («7Б», «7 «Б»», «7-Б»).
            class_letter=cell("class_letter") or _letter_of_grade(cell("grade")),
            citizenship=(cell("citizenship") or RUSSIA).upper(),
            residence_region_id=_field(
                "residence_region_code", cell("residence_region_code"), _region
            ),
            home_schooled=_field("home_schooled", cell("home_schooled"), _yes_no),
            has_health_limitations=_field(
                "health_limitations", cell("health_limitations"), _has_limitations
            ),
            health_limitation_kind=_field(
                "health_limitations", cell("health_limitations"), _limitation_kind
            ),
            accessibility_needs=_field("accessibility_needs", cell("accessibility_needs"), _needs),
        )
    except InvalidDetails as error:
        return ParsedRow(line, None, error)
    return ParsedRow(line, pupil, None)


def _field(name: str, text: str, parse: Callable[[str], _T]) -> _T:
    try:
        return parse(text)
    except (ValueError, KeyError):
        raise InvalidDetails(name, f"The column {name} does not hold a valid value.") from None


def _date(text: str) -> date:
    for pattern in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise ValueError("no date")


_GRADE_WITH_LETTER: Final = re.compile(r"^\s*([0-9]{1,2})\s*[-\s]?\s*(.*)$")


def _letter_of_grade(text: str) -> str | None:
    match = _GRADE_WITH_LETTER.match(text)
    return (match.group(2) or None) if match else None


def _grade(text: str) -> int:
    match = _GRADE_WITH_LETTER.match(text)
    if match is None:
        raise ValueError("no grade")
    if match.group(2):
        parse_class_letter(match.group(2))  # «7Б» is grade 7 only if Б is a class letter
    grade = int(match.group(1))
    if not 1 <= grade <= 11:
        raise ValueError("no grade")
    return grade


def _region(text: str) -> UUID | None:
    if not text:
        return None
    if not _REGION_CODE.match(text):
        raise ValueError("no region code")
    return region_id_for(text)


def _yes_no(text: str) -> bool:
    folded = text.casefold()
    if folded in _YES:
        return True
    if folded in _NO:
        return False
    raise ValueError("neither yes nor no")


def _has_limitations(text: str) -> bool:
    folded = text.casefold()
    if folded in _NO:
        return False
    if folded in _YES:
        return True
    HealthLimitationKind(folded)
    return True


def _limitation_kind(text: str) -> HealthLimitationKind | None:
    folded = text.casefold()
    if folded in _NO or folded in _YES:
        return None
    return HealthLimitationKind(folded)


def _needs(text: str) -> tuple[AccessibilityNeed, ...]:
    return tuple(AccessibilityNeed(part) for part in _SPLIT_LIST.split(text.casefold()) if part)
