"""What diagnostics' use cases answer: an attempt as the pupil resumes it, a saved answer, a
completed stage with its explanation, and the instruments in use."""

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from bilet.application import RequestContext
from bilet.contracts.catalogue.diagnostics import AnswerSheetRef, StageCompleted
from bilet.contracts.vocabulary import Instrument, InstrumentRef, Stage
from bilet_diagnostics.domain.attempt import StageResult

# Who asks, the correlation id of their request, and the position tokens it carried.
CommandContext = RequestContext


@dataclass(frozen=True)
class ChoiceView:
    option_id: str
    text: str


@dataclass(frozen=True)
class ItemView:
    item_id: str
    instrument: Instrument
    prompt: str
    choices: tuple[ChoiceView, ...]
    answered: bool
    # The chosen option: shown to the pupil only; never in a repr (logs, tracebacks).
    answer: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class AttemptView:
    attempt_id: UUID
    participant_id: UUID
    season: int
    stage: Stage
    grade: int
    instruments: tuple[InstrumentRef, ...]
    status: str  # in_progress | completed | expired
    started_at: datetime
    deadline: datetime
    seconds_left: int
    items: tuple[ItemView, ...]
    answers_shown: bool
    result: StageResult | None
    answer_sheet: AnswerSheetRef | None
    position: int

    @property
    def answered(self) -> int:
        return sum(1 for item in self.items if item.answered)


@dataclass(frozen=True)
class AnswerSaved:
    attempt_id: UUID
    item_id: str
    recorded: bool  # False: it was the answer already (nothing written)
    answered: int
    item_count: int
    option_id: str = field(repr=False)


@dataclass(frozen=True)
class Completion:
    event: StageCompleted
    position: int


@dataclass(frozen=True)
class StageOutcome:
    """A completed stage: what was published, and the explanation computed again from the stored
    answers and versions (None when the answers were erased with the participant's key)."""

    completed: StageCompleted
    grade: int
    instruments: tuple[InstrumentRef, ...]
    explanation: dict[str, object] | None
    reproduced: bool | None  # scoring the stored sheet again gave the published result


@dataclass(frozen=True)
class ResultsView:
    participant_id: UUID
    stages: tuple[StageOutcome, ...]
    position: int
