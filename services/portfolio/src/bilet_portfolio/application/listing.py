"""A school's list of participants: filters, sort orders and opaque cursors (keyset paging).

A cursor is the position after the last row of a page: the sort key's value and the participant
id, base64url-encoded JSON, then a dot and its signature (HMAC-SHA256 under the service's cursor
key, over the school, the filters, the sort and the position). A row whose portfolio the caller
does not see (closed, or a registrar's list) has no progress or update time: it sorts as NULL,
after every other row in both directions, and a cursor after it carries `null`, never the hidden
value. Clients pass it back as it is; a cursor that was altered, truncated, signed under another
key (a rotated one: stale), or used with another school, other filters or another sort is refused
(`invalid_cursor`) before it reaches a query: a forged position could otherwise put values into
the query that no page ever gave (an integer beyond the database's, a string with NUL).
"""

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from bilet_portfolio.application.errors import InvalidCursor
from bilet_portfolio.domain.consent import ConsentState
from bilet_portfolio.domain.progress import ProgressFilter

DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 200
MAX_CURSOR_LENGTH: Final = 512
MAX_SURNAME_LENGTH: Final = 60
# A surname's start as schools type it: letters (Cyrillic or Latin) in runs separated by
# hyphens, apostrophes or spaces; nothing else reaches the index. Letters and separators are
# disjoint classes, so the pattern is unambiguous (no backtracking blow-up in a client's engine).
SURNAME_PATTERN: Final = r"^ *[A-Za-zА-Яа-яЁё]+(?:[ '’-]+[A-Za-zА-Яа-яЁё]+)*[ '’-]*$"
CURSOR_KEY_BYTES: Final = 32
# Unpadded base64url: what `encode` writes, and all `decode` reads.
_BASE64URL: Final = re.compile(r"^[A-Za-z0-9_-]+$")
# What each signature is of: a key signs nothing else with this prefix.
_SIGNED_AS: Final = b"bilet.portfolio.school-list-cursor.v1"


class SortKey(StrEnum):
    """`?sort=`: a key, descending with a leading `-`; ties are broken by participant id."""

    PARTICIPANT = "participant_id"
    GRADE = "grade"
    GRADE_DESC = "-grade"
    PROGRESS = "progress"  # stages completed + career events attended
    PROGRESS_DESC = "-progress"
    UPDATED = "updated_at"  # when the portfolio last changed
    UPDATED_DESC = "-updated_at"

    @property
    def column(self) -> str:
        return self.value.removeprefix("-")

    @property
    def descending(self) -> bool:
        return self.value.startswith("-")


@dataclass(frozen=True, slots=True)
class After:
    """Where the previous page ended."""

    value: int | str | None
    participant_id: str


@dataclass(frozen=True, slots=True)
class SchoolQuery:
    grade: int | None = None
    consent: ConsentState | None = None
    progress: ProgressFilter | None = None
    sort: SortKey = SortKey.PARTICIPANT
    limit: int = DEFAULT_LIMIT
    after: After | None = None
    surname: str | None = None  # a prefix of the surname (names the caller sees only)

    def fingerprint(self) -> str:
        """What a cursor is bound to: the filters and the sort (hashed: a cursor never carries
        the surname searched for)."""
        bound: list[object] = [
            self.grade,
            self.consent and self.consent.value,
            self.progress and self.progress.value,
            self.sort.value,
        ]
        if self.surname is not None:  # cursors of lists without a search stay as they were
            bound.append(self.surname)
        text = json.dumps(bound)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class ListCursors:
    """Makes and reads the cursors of a school's list, signed under the service's cursor key.

    Every replica of the service must hold the same key (the composition root derives it from
    configuration, never at random per process), so a cursor from one replica pages on another.
    """

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) < CURSOR_KEY_BYTES:
            raise ValueError(f"a cursor key has at least {CURSOR_KEY_BYTES} bytes")
        self._key = key

    def __repr__(self) -> str:
        return "ListCursors(<key hidden>)"

    def encode(self, school_id: str, query: SchoolQuery, after: After) -> str:
        payload = json.dumps(
            {"v": after.value, "id": after.participant_id}, separators=(",", ":")
        ).encode()
        signature = self._sign(school_id, query, payload)
        return f"{_unpadded_base64(payload)}.{_unpadded_base64(signature)}"

    def decode(self, school_id: str, query: SchoolQuery, cursor: str) -> After:
        """The position a cursor names, for this school and query; `InvalidCursor` otherwise."""
        refused = InvalidCursor(
            "The cursor is not one this list gave for this school, these filters and this "
            "sort; start again without a cursor."
        )
        if not cursor or len(cursor) > MAX_CURSOR_LENGTH:
            raise refused
        encoded_payload, _, encoded_signature = cursor.partition(".")
        try:
            payload = _from_unpadded_base64(encoded_payload)
            signature = _from_unpadded_base64(encoded_signature)
        except ValueError:
            raise refused from None
        if not hmac.compare_digest(signature, self._sign(school_id, query, payload)):
            raise refused
        # Signed by this service: what follows holds unless the code that wrote it changed.
        try:
            position = json.loads(payload)
        except ValueError:
            raise refused from None
        after = _position(query, position)
        if after is None:
            raise refused
        return after

    def _sign(self, school_id: str, query: SchoolQuery, payload: bytes) -> bytes:
        bound = b"\0".join((_SIGNED_AS, school_id.encode(), query.fingerprint().encode(), payload))
        return hmac.new(self._key, bound, hashlib.sha256).digest()


def _position(query: SchoolQuery, position: object) -> After | None:
    """The `After` a decoded payload names for `query`'s sort; None when it names none."""
    if not isinstance(position, dict):
        return None
    value, participant_id = position.get("v"), position.get("id")
    if not isinstance(participant_id, str) or not participant_id:
        return None
    column = query.sort.column
    if column == "participant_id":
        value = participant_id
    elif value is None:
        pass  # the page ended among rows without the key (a portfolio the caller does not see)
    elif column in ("grade", "progress"):
        if not isinstance(value, int) or isinstance(value, bool):
            return None
    elif not isinstance(value, str):
        return None
    return After(value, participant_id)


def _unpadded_base64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _from_unpadded_base64(text: str) -> bytes:
    if not _BASE64URL.match(text):
        raise ValueError("not unpadded base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error:
        raise ValueError("not base64url") from None
