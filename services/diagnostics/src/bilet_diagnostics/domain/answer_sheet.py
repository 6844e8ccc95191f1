"""An attempt's answer sheet (internal stream `answersheet-<attempt id>`): the form it was
started with, its time limit, the answers, and its closing when the attempt is completed.

Answers are appended without expecting a version (ADR 0021), so many saves to one sheet never
conflict: the latest answer to an item wins by stream order, and answers recorded after the
closing count for nothing (a save that raced the completion; the application answers it as
refused). Answers are personal data: the state keeps which items are answered, never how; a
decision that needs the current answer (is this the same answer again?) gets it in its command.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Final, assert_never
from uuid import UUID

from bilet.contracts.drafts import Unsealed
from bilet.contracts.vocabulary import InstrumentRef, Stage
from bilet_diagnostics.domain.errors import (
    AttemptCompleted,
    AttemptExists,
    TimeLimitPassed,
    UnknownAttempt,
    UnknownItem,
    UnknownOption,
)
from bilet_diagnostics.domain.internal import (
    SHEET_CATEGORY,
    AnswerRecorded,
    SheetClosed,
    SheetOpened,
)

# A completion is taken this long after the time is up: the last answer was saved in time and
# the "complete" request may still be on its way. The attempt counts as in progress until then.
COMPLETION_GRACE: Final = timedelta(minutes=2)


@dataclass(frozen=True)
class Sheet:
    attempt_id: UUID
    opened: SheetOpened | None = None
    answered: frozenset[str] = field(default_factory=frozenset)
    closed: SheetClosed | None = None

    @property
    def deadline(self) -> datetime | None:
        return self.opened.deadline if self.opened is not None else None

    def open_at(self, now: datetime) -> bool:
        """Whether answers are taken at `now`."""
        return self.opened is not None and self.closed is None and now < self.opened.deadline


def initial(attempt_id: UUID) -> Sheet:
    return Sheet(attempt_id)


def stream_id(attempt_id: UUID) -> str:
    return f"{SHEET_CATEGORY}-{attempt_id}"


@dataclass(frozen=True)
class Open:
    participant_id: UUID
    season: int
    stage: Stage
    grade: int
    instruments: tuple[InstrumentRef, ...]
    started_at: datetime
    time_limit: timedelta


@dataclass(frozen=True)
class SaveAnswer:
    """`options`: the item's options on the sheet's form (None: the form has no such item);
    `current`: the option the item is answered with now (decrypted), if any."""

    item_id: str
    option_id: str
    options: tuple[str, ...] | None
    current: str | None
    now: datetime


@dataclass(frozen=True)
class Close:
    answer_sheet_id: UUID
    item_count: int
    digest: str
    now: datetime


Command = Open | SaveAnswer | Close
SheetEvent = SheetOpened | AnswerRecorded | SheetClosed
Decided = SheetOpened | Unsealed[AnswerRecorded] | SheetClosed  # what `decide` decides


def decide(command: Command, state: Sheet) -> list[Decided]:
    match command:
        case Open():
            if state.opened is not None:
                raise AttemptExists()
            return [
                SheetOpened(
                    attempt_id=state.attempt_id,
                    participant_id=command.participant_id,
                    season=command.season,
                    stage=command.stage,
                    grade=command.grade,
                    instruments=command.instruments,
                    started_at=command.started_at,
                    deadline=command.started_at + command.time_limit,
                )
            ]
        case SaveAnswer():
            return list(_save(command, state))
        case Close():
            opened = _usable(state)
            if command.now >= opened.deadline + COMPLETION_GRACE:
                raise TimeLimitPassed(opened.deadline)
            return [
                SheetClosed(
                    attempt_id=state.attempt_id,
                    participant_id=opened.participant_id,
                    answer_sheet_id=command.answer_sheet_id,
                    item_count=command.item_count,
                    digest=command.digest,
                    closed_at=command.now,
                )
            ]
        case _:
            assert_never(command)


def _usable(state: Sheet) -> SheetOpened:
    if state.opened is None:
        raise UnknownAttempt()
    if state.closed is not None:
        raise AttemptCompleted()
    return state.opened


def _save(command: SaveAnswer, state: Sheet) -> list[Unsealed[AnswerRecorded]]:
    opened = _usable(state)
    if command.options is None:
        raise UnknownItem(command.item_id)
    if command.option_id not in command.options:
        raise UnknownOption(command.item_id, command.options)
    if command.now >= opened.deadline:
        raise TimeLimitPassed(opened.deadline)
    if command.current == command.option_id:
        return []  # the same answer again is one answer
    return [
        Unsealed(
            AnswerRecorded,
            {
                "attempt_id": state.attempt_id,
                "participant_id": opened.participant_id,
                "item_id": command.item_id,
            },
            {"option": command.option_id},
        )
    ]


def evolve(state: Sheet, event: SheetEvent) -> Sheet:
    match event:
        case SheetOpened():
            return replace(state, opened=event)
        case AnswerRecorded():
            if state.closed is not None:
                return state  # after the closing: counts for nothing
            return _answered(state, state.answered | {event.item_id})
        case SheetClosed():
            if state.closed is not None:
                return state
            return replace(state, closed=event)
        case _:
            assert_never(event)


def fold(state: Sheet, events: Iterable[SheetEvent]) -> Sheet:
    """`evolve` of each event in turn, a run of answers folded at once: one state and one set
    of answered items for the run, not one per answer (a completion folds a sheet's 40-80
    answers: docs/adr/0111)."""
    answered: set[str] | None = None  # the run's answered items, while in a run of answers
    for event in events:
        if isinstance(event, AnswerRecorded) and state.closed is None:
            if answered is None:
                answered = set(state.answered)
            answered.add(event.item_id)
            continue
        if answered is not None:
            state = _answered(state, frozenset(answered))
            answered = None
        state = evolve(state, event)
    return state if answered is None else _answered(state, frozenset(answered))


def _answered(state: Sheet, answered: frozenset[str]) -> Sheet:
    """An open sheet with these items answered. Built directly, not with `dataclasses.replace`:
    a sheet's every answer is folded through here, and `replace` looks the fields up again each
    time (docs/adr/0088). Every field is named (`closed` is None here): a field added to `Sheet`
    must be added here."""
    return Sheet(
        attempt_id=state.attempt_id,
        opened=state.opened,
        answered=answered,
        closed=None,
    )
