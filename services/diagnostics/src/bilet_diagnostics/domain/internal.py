"""Events that stay inside the diagnostics service: never relayed, never published.

They live in their own stream categories (`INTERNAL_CATEGORIES`) and their own registry:
- `answersheet-<attempt id>`: an attempt's answer sheet: which form it is (the grade it was
  started in, the instrument versions), when its time is up, every answer saved (sealed with the
  participant's key: answers are personal data, erased with the key) and its closing with the
  digest the result was scored from. Answers are appended expecting any version (ADR 0021):
  parallel saves never conflict; the latest answer per item wins by stream order, and nothing
  after the closing counts;
- `diagnosticsrecord-<participant id>`: the participant's attempts, season by season: the
  aggregate that makes starting atomic (one attempt in progress per stage, stages in order,
  a stage completed once a season);
- `audit-…`: `bilet.audit`'s trail, in the same store.
"""

from typing import Annotated, ClassVar, Final
from uuid import UUID

from pydantic import AwareDatetime, Field

from bilet.contracts import DomainEvent
from bilet.contracts.registry import EventRegistry
from bilet.contracts.sealed import Sealed, personal
from bilet.contracts.vocabulary import InstrumentRef, Season, Sha256, Stage

SHEET_CATEGORY: Final = "answersheet"
RECORD_CATEGORY: Final = "diagnosticsrecord"
AUDIT_CATEGORY: Final = "audit"
INTERNAL_CATEGORIES: Final = frozenset({SHEET_CATEGORY, RECORD_CATEGORY, AUDIT_CATEGORY})

INTERNAL_EVENTS: Final = EventRegistry()

# Item and option ids of the item banks: lower-case letters, digits, `_` and `-`.
ID_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]{0,63}$"
ItemId = Annotated[str, Field(pattern=ID_PATTERN)]


class _Internal(DomainEvent):
    service: ClassVar[str] = "diagnostics"


class _Sheet(_Internal):
    stream_category: ClassVar[str] = SHEET_CATEGORY
    stream_key: ClassVar[str] = "attempt_id"


@INTERNAL_EVENTS.register
class SheetOpened(_Sheet):
    """The attempt's sheet: the form is the stage's for `grade` with these instrument versions;
    answers are taken until `deadline`."""

    event_type: ClassVar[str] = "SheetOpened"

    attempt_id: UUID
    participant_id: UUID
    season: Season
    stage: Stage
    grade: int = Field(ge=1, le=11)
    instruments: tuple[InstrumentRef, ...] = Field(min_length=1, max_length=4)
    started_at: AwareDatetime
    deadline: AwareDatetime


@INTERNAL_EVENTS.register
class AnswerRecorded(_Sheet):
    """One answer: the option chosen for an item (sealed: the answers are the participant's)."""

    event_type: ClassVar[str] = "AnswerRecorded"

    attempt_id: UUID
    participant_id: UUID
    item_id: ItemId
    option: Sealed = personal("The option the participant chose.", "string (option id)")


@INTERNAL_EVENTS.register
class SheetClosed(_Sheet):
    """The sheet was scored and closed: exactly the answers before this event, whose canonical
    JSON has `digest`, gave the attempt's result."""

    event_type: ClassVar[str] = "SheetClosed"

    attempt_id: UUID
    participant_id: UUID
    answer_sheet_id: UUID
    item_count: int = Field(ge=1)
    digest: Sha256
    closed_at: AwareDatetime


class _Record(_Internal):
    stream_category: ClassVar[str] = RECORD_CATEGORY
    stream_key: ClassVar[str] = "participant_id"


@INTERNAL_EVENTS.register
class AttemptOpened(_Record):
    """The participant started an attempt at a stage of a season; it is in progress until it is
    completed or its time (and the grace to complete) is up."""

    event_type: ClassVar[str] = "AttemptOpened"

    participant_id: UUID
    attempt_id: UUID
    season: Season
    stage: Stage
    deadline: AwareDatetime


@INTERNAL_EVENTS.register
class AttemptFinished(_Record):
    """The attempt was completed and scored: the stage is completed for the season."""

    event_type: ClassVar[str] = "AttemptFinished"

    participant_id: UUID
    attempt_id: UUID
    season: Season
    stage: Stage


INTERNAL_EVENTS.check()
