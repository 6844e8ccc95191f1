"""A school's list of participants: filters, sort orders and opaque cursors (keyset paging).

A cursor is the position after the last row of a page: the sort key's value and the participant
id, with the sort and filters it was made for, base64url-encoded. A row whose portfolio the caller
does not see (closed, or a registrar's list) has no progress or update time: it sorts as NULL,
after every other row in both directions, and a cursor after it carries `null`, never the hidden
value. Clients pass it back as it is;
a cursor that was altered, or used with other filters or another sort, is refused
(`invalid_cursor`) rather than giving a page of something else.
"""

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from bilet_portfolio.application.errors import InvalidCursor
from bilet_portfolio.domain.consent import ConsentState
from bilet_portfolio.domain.progress import ProgressFilter

DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 200
MAX_CURSOR_LENGTH: Final = 512


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

    def fingerprint(self) -> str:
        """What a cursor is bound to: the filters and the sort."""
        text = json.dumps(
            [
                self.grade,
                self.consent and self.consent.value,
                self.progress and self.progress.value,
                self.sort.value,
            ]
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode_cursor(query: SchoolQuery, after: After) -> str:
    payload = {"f": query.fingerprint(), "v": after.value, "id": after.participant_id}
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(query: SchoolQuery, cursor: str) -> After:
    """The position a cursor names, for this query; `InvalidCursor` otherwise."""
    refused = InvalidCursor(
        "The cursor is not one this list gave for these filters and this sort; "
        "start again without a cursor."
    )
    if not cursor or len(cursor) > MAX_CURSOR_LENGTH:
        raise refused
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError):
        raise refused from None
    if not isinstance(payload, dict) or payload.get("f") != query.fingerprint():
        raise refused
    value, participant_id = payload.get("v"), payload.get("id")
    if not isinstance(participant_id, str) or not participant_id:
        raise refused
    column = query.sort.column
    if column == "participant_id":
        value = participant_id
    elif value is None:
        pass  # the page ended among rows without the key (a portfolio the caller does not see)
    elif column in ("grade", "progress"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise refused
    elif not isinstance(value, str):
        raise refused
    return After(value, participant_id)
