"""A participant's diagnostics record (internal stream `diagnosticsrecord-<participant id>`):
every attempt they started and which of them were completed, season by season.

Starting an attempt is decided here, so that it is atomic (the start appends to this stream at
the version it read, with the attempt's own streams, in one commit): two starts at once cannot
both succeed. The rules (ADR 0021):
- a stage runs only in a season whose rules list it (`stage_not_in_season`);
- stages run in the order of the season's rules: a stage starts when every earlier one is
  completed in the season (`stage_locked`);
- a stage is taken once a season: once completed, it is not started again that season
  (`stage_completed`); a new season starts afresh;
- one attempt at a time per stage (`attempt_in_progress`): an attempt is in progress until it
  is completed or its time, with the grace to complete, is up. An attempt whose time ran out
  unfinished is abandoned: the stage may be started again.
"""

from dataclasses import dataclass, replace
from datetime import datetime
from typing import assert_never
from uuid import UUID

from bilet.contracts.vocabulary import Stage
from bilet_diagnostics.domain.answer_sheet import COMPLETION_GRACE
from bilet_diagnostics.domain.errors import (
    AttemptCompleted,
    AttemptInProgress,
    StageAlreadyCompleted,
    StageLocked,
    StageNotInSeason,
    UnknownAttempt,
)
from bilet_diagnostics.domain.internal import RECORD_CATEGORY, AttemptFinished, AttemptOpened


@dataclass(frozen=True)
class AttemptEntry:
    attempt_id: UUID
    season: int
    stage: Stage
    deadline: datetime
    completed: bool = False

    def in_progress(self, now: datetime) -> bool:
        return not self.completed and now < self.deadline + COMPLETION_GRACE


@dataclass(frozen=True)
class Record:
    participant_id: UUID
    attempts: tuple[AttemptEntry, ...] = ()

    def completed(self, season: int) -> frozenset[Stage]:
        return frozenset(a.stage for a in self.attempts if a.season == season and a.completed)

    def in_progress(self, season: int, stage: Stage, now: datetime) -> AttemptEntry | None:
        for entry in self.attempts:
            if entry.season == season and entry.stage == stage and entry.in_progress(now):
                return entry
        return None

    def find(self, attempt_id: UUID) -> AttemptEntry | None:
        return next((a for a in self.attempts if a.attempt_id == attempt_id), None)

    def completed_attempts(self) -> tuple[AttemptEntry, ...]:
        return tuple(a for a in self.attempts if a.completed)


def initial(participant_id: UUID) -> Record:
    return Record(participant_id)


def stream_id(participant_id: UUID) -> str:
    return f"{RECORD_CATEGORY}-{participant_id}"


@dataclass(frozen=True)
class StartStage:
    """`stages`: the season's stages in the order its rules give."""

    attempt_id: UUID
    season: int
    stage: Stage
    stages: tuple[Stage, ...]
    now: datetime
    deadline: datetime


@dataclass(frozen=True)
class FinishAttempt:
    attempt_id: UUID


Command = StartStage | FinishAttempt
RecordEvent = AttemptOpened | AttemptFinished


def decide(command: Command, state: Record) -> list[RecordEvent]:
    match command:
        case StartStage():
            _may_start(command, state)
            return [
                AttemptOpened(
                    participant_id=state.participant_id,
                    attempt_id=command.attempt_id,
                    season=command.season,
                    stage=command.stage,
                    deadline=command.deadline,
                )
            ]
        case FinishAttempt():
            entry = state.find(command.attempt_id)
            if entry is None:
                raise UnknownAttempt()
            if entry.completed:
                raise AttemptCompleted()
            if entry.stage in state.completed(entry.season):
                raise StageAlreadyCompleted(entry.stage.value)
            return [
                AttemptFinished(
                    participant_id=state.participant_id,
                    attempt_id=entry.attempt_id,
                    season=entry.season,
                    stage=entry.stage,
                )
            ]
        case _:
            assert_never(command)


def _may_start(command: StartStage, state: Record) -> None:
    if command.stage not in command.stages:
        raise StageNotInSeason(command.stage.value, command.season)
    completed = state.completed(command.season)
    if command.stage in completed:
        raise StageAlreadyCompleted(command.stage.value)
    running = state.in_progress(command.season, command.stage, command.now)
    if running is not None:
        raise AttemptInProgress(running.attempt_id)
    for earlier in command.stages[: command.stages.index(command.stage)]:
        if earlier not in completed:
            raise StageLocked(earlier.value)


def evolve(state: Record, event: RecordEvent) -> Record:
    match event:
        case AttemptOpened():
            entry = AttemptEntry(event.attempt_id, event.season, event.stage, event.deadline)
            return replace(state, attempts=(*state.attempts, entry))
        case AttemptFinished():
            attempts = tuple(
                replace(a, completed=True) if a.attempt_id == event.attempt_id else a
                for a in state.attempts
            )
            return replace(state, attempts=attempts)
        case _:
            assert_never(event)
