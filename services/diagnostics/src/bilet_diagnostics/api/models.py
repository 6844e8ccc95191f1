"""Request and response bodies of `/diagnostics/v1`. Every constraint the server enforces on a
request is in its schema; answers carry ids, items, scores and levels, never a name."""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from bilet.contracts.catalogue.diagnostics import (
    AnswerSheetRef,
    InstrumentVersionPublished,
    InterestsResult,
    ProfessionsKnowledgeResult,
    SoftSkillsResult,
    StageCompleted,
)
from bilet.contracts.vocabulary import Instrument, InstrumentRef, MappingRef, Stage
from bilet_diagnostics.application.catalogue import CatalogueView
from bilet_diagnostics.application.inputs import AnswerSaved, AttemptView, StageOutcome
from bilet_diagnostics.domain.internal import ID_PATTERN

OptionId = Annotated[str, Field(pattern=ID_PATTERN, description="An option of the item.")]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StartAttemptRequest(_Request):
    participant_id: UUID = Field(description="The pupil who takes the stage.")
    stage: Stage = Field(description="The stage to start; the season's rules give their order.")


class SaveAnswerRequest(_Request):
    option_id: OptionId


class ChoiceModel(BaseModel):
    option_id: str
    text: str


class ItemModel(BaseModel):
    item_id: str
    instrument: Instrument
    prompt: str
    choices: list[ChoiceModel]
    answered: bool
    answer: str | None = Field(
        description="The chosen option: shown to the pupil; null for the navigator and when "
        "the item is not answered."
    )


class _StageResults(BaseModel):
    """Exactly the result of the stage is set (as in the published `StageCompleted`)."""

    interests: InterestsResult | None = None
    soft_skills: SoftSkillsResult | None = None
    professions_knowledge: ProfessionsKnowledgeResult | None = None


class AttemptModel(_StageResults):
    attempt_id: UUID
    participant_id: UUID
    season: int
    stage: Stage
    grade: int = Field(description="The grade the pupil started in: it chose the form's wording.")
    instruments: list[InstrumentRef]
    status: Literal["in_progress", "completed", "expired"] = Field(
        description="`expired`: the time ran out before the attempt was completed; the stage "
        "may be started again."
    )
    started_at: datetime
    deadline: datetime = Field(description="No answer is taken from this moment on.")
    seconds_left: int = Field(ge=0)
    item_count: int
    answered: int
    items: list[ItemModel] = Field(description="In the order the form gives them.")
    answer_sheet: AnswerSheetRef | None = None

    @classmethod
    def of(cls, view: AttemptView) -> "AttemptModel":
        results = {view.stage.value: view.result} if view.result is not None else {}
        return cls(
            attempt_id=view.attempt_id,
            participant_id=view.participant_id,
            season=view.season,
            stage=view.stage,
            grade=view.grade,
            instruments=list(view.instruments),
            status=view.status,
            started_at=view.started_at,
            deadline=view.deadline,
            seconds_left=view.seconds_left,
            item_count=len(view.items),
            answered=view.answered,
            items=[
                ItemModel(
                    item_id=item.item_id,
                    instrument=item.instrument,
                    prompt=item.prompt,
                    choices=[ChoiceModel(option_id=c.option_id, text=c.text) for c in item.choices],
                    answered=item.answered,
                    answer=item.answer,
                )
                for item in view.items
            ],
            answer_sheet=view.answer_sheet,
            **results,
        )


class AnswerModel(BaseModel):
    attempt_id: UUID
    item_id: str
    option_id: str
    recorded: bool = Field(
        description="False when this was the item's answer already: nothing was written."
    )
    answered: int
    item_count: int

    @classmethod
    def of(cls, saved: AnswerSaved) -> "AnswerModel":
        return cls(
            attempt_id=saved.attempt_id,
            item_id=saved.item_id,
            option_id=saved.option_id,
            recorded=saved.recorded,
            answered=saved.answered,
            item_count=saved.item_count,
        )


class CompletedModel(_StageResults):
    """The stage's result as it was published (`StageCompleted`)."""

    attempt_id: UUID
    participant_id: UUID
    season: int
    stage: Stage
    answer_sheet: AnswerSheetRef

    @classmethod
    def of(cls, event: StageCompleted) -> "CompletedModel":
        return cls.model_validate(event.model_dump())


class StageResultModel(CompletedModel):
    grade: int
    instruments: list[InstrumentRef]
    explanation: dict[str, Any] | None = Field(
        description="Which answers gave which scale points and which mapping rows gave which "
        "environment, computed again from the stored answers and versions; null when the "
        "answers were destroyed with the participant's data."
    )
    reproduced: bool | None = Field(
        description="Scoring the stored answers again gave exactly the published result."
    )

    @classmethod
    def of_outcome(cls, outcome: StageOutcome) -> "StageResultModel":
        return cls.model_validate(
            {
                **outcome.completed.model_dump(),
                "grade": outcome.grade,
                "instruments": list(outcome.instruments),
                "explanation": outcome.explanation,
                "reproduced": outcome.reproduced,
            }
        )


class ResultsModel(BaseModel):
    participant_id: UUID
    stages: list[StageResultModel] = Field(description="Every completed stage, in order done.")


class BandModel(BaseModel):
    band: str = Field(description="Grades 6-7, 8-9 or 10-11.")
    instruments: list[InstrumentRef]
    item_count: int
    time_limit_minutes: int


class StageInstrumentsModel(BaseModel):
    stage: Stage
    bands: list[BandModel]


class MappingTableModel(BaseModel):
    mapping: MappingRef
    table: dict[str, Any] = Field(description="The rows: scale, environment, weight, reason.")


class InstrumentsModel(BaseModel):
    stages: list[StageInstrumentsModel] = Field(description="The versions in use per stage.")
    versions: list[InstrumentVersionPublished] = Field(description="Every version known.")
    mappings: list[MappingTableModel]

    @classmethod
    def of(cls, view: CatalogueView) -> "InstrumentsModel":
        return cls(
            stages=[
                StageInstrumentsModel(
                    stage=stage.stage,
                    bands=[
                        BandModel(
                            band=band,
                            instruments=list(refs),
                            item_count=stage.items_per_band[band],
                            time_limit_minutes=stage.time_limit_minutes[band],
                        )
                        for band, refs in stage.in_use.items()
                    ],
                )
                for stage in view.stages
            ],
            versions=[version.published() for version in view.versions],
            mappings=[
                MappingTableModel(
                    mapping=ref, table=table if isinstance(table, dict) else {"table": table}
                )
                for ref, table in view.mappings
            ],
        )
