"""The attempt: one participant taking one stage once (stream `attempt-<attempt id>`, published).

It says what leaves the service: `StageStarted` (who, which season and stage, with which
instrument versions) and `StageCompleted` (the scores and levels, and a reference to the answer
sheet they were computed from, never the answers). Everything else about an attempt stays
inside: its answers and time limit (`answer_sheet`), and the participant's stages
(`participant`), the aggregate that decides whether a stage may start.
"""

from dataclasses import dataclass, replace
from typing import Final, assert_never
from uuid import UUID

from bilet.contracts.catalogue.diagnostics import (
    AnswerSheetRef,
    InterestsResult,
    ProfessionsKnowledgeResult,
    SoftSkillsResult,
    StageCompleted,
    StageStarted,
)
from bilet.contracts.vocabulary import InstrumentRef, Stage
from bilet_diagnostics.domain.errors import (
    AttemptCompleted,
    AttemptExists,
    IncompleteSheet,
    UnknownAttempt,
)

CATEGORY: Final = StageStarted.stream_category

StageResult = InterestsResult | SoftSkillsResult | ProfessionsKnowledgeResult


@dataclass(frozen=True)
class Attempt:
    attempt_id: UUID
    participant_id: UUID | None = None
    season: int | None = None
    stage: Stage | None = None
    instruments: tuple[InstrumentRef, ...] = ()
    answer_sheet: AnswerSheetRef | None = None

    @property
    def started(self) -> bool:
        return self.participant_id is not None

    @property
    def completed(self) -> bool:
        return self.answer_sheet is not None


def initial(attempt_id: UUID) -> Attempt:
    return Attempt(attempt_id)


def stream_id(attempt_id: UUID) -> str:
    return f"{CATEGORY}-{attempt_id}"


@dataclass(frozen=True)
class Start:
    participant_id: UUID
    season: int
    stage: Stage
    instruments: tuple[InstrumentRef, ...]


@dataclass(frozen=True)
class Complete:
    """Complete with the sheet as it stands: `missing` are the form's unanswered items (in form
    order); when none is, `result` is what scoring the sheet gave and `sheet` names it."""

    missing: tuple[str, ...]
    sheet: AnswerSheetRef | None = None
    result: StageResult | None = None


Command = Start | Complete
AttemptEvent = StageStarted | StageCompleted


def decide(command: Command, state: Attempt) -> list[AttemptEvent]:
    match command:
        case Start():
            if state.started:
                raise AttemptExists()
            return [
                StageStarted(
                    attempt_id=state.attempt_id,
                    participant_id=command.participant_id,
                    season=command.season,
                    stage=command.stage,
                    instruments=command.instruments,
                )
            ]
        case Complete():
            return _complete(command, state)
        case _:
            assert_never(command)


def _complete(command: Complete, state: Attempt) -> list[AttemptEvent]:
    if state.participant_id is None or state.season is None or state.stage is None:
        raise UnknownAttempt()
    if state.completed:
        raise AttemptCompleted()
    if command.missing:
        raise IncompleteSheet(command.missing)
    if command.sheet is None or command.result is None:
        raise ValueError("a complete sheet is completed with its result and reference")
    result = command.result
    # StageCompleted itself checks that exactly the result of the attempt's stage is set.
    return [
        StageCompleted(
            attempt_id=state.attempt_id,
            participant_id=state.participant_id,
            season=state.season,
            stage=state.stage,
            answer_sheet=command.sheet,
            interests=result if isinstance(result, InterestsResult) else None,
            soft_skills=result if isinstance(result, SoftSkillsResult) else None,
            professions_knowledge=(
                result if isinstance(result, ProfessionsKnowledgeResult) else None
            ),
        )
    ]


def evolve(state: Attempt, event: AttemptEvent) -> Attempt:
    match event:
        case StageStarted():
            return replace(
                state,
                participant_id=event.participant_id,
                season=event.season,
                stage=event.stage,
                instruments=event.instruments,
            )
        case StageCompleted():
            return replace(state, answer_sheet=event.answer_sheet)
        case _:
            assert_never(event)
