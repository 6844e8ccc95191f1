"""Events of the diagnostics service (topic `bilet.diagnostics`): the instruments and the three
online stages a participant takes, with the scores and levels each produced.

Every score names the instrument version it was computed with, and every result names the answer
sheet behind it (id and digest), so a recommendation can be traced back to the answers. The
answers themselves stay in the diagnostics service.
"""

from typing import Annotated, ClassVar, Self
from uuid import UUID

from pydantic import Field, model_validator

from bilet.contracts.base import ContractModel, DomainEvent
from bilet.contracts.registry import published
from bilet.contracts.vocabulary import (
    Code,
    Environment,
    Environments,
    Instrument,
    InstrumentRef,
    Level,
    MappingRef,
    Season,
    SemVer,
    Sha256,
    Stage,
)

KlimovPoints = Annotated[int, Field(ge=0, le=8)]
RiasecPoints = Annotated[int, Field(ge=0, le=40)]
Percent = Annotated[int, Field(ge=0, le=100)]

KLIMOV_PAIRS: int = 20


def _require(instrument: InstrumentRef, *expected: Instrument) -> None:
    if instrument.instrument not in expected:
        raise ValueError(f"instrument {instrument.instrument} does not give this result")


class KlimovScores(ContractModel):
    """Klimov's ДДО: one point per forced-choice pair to the chosen type. Each type is in 8 of
    the 20 pairs, so each scores 0–8 and the five sum to 20."""

    nature: KlimovPoints = Field(description="Человек–Природа.")
    technology: KlimovPoints = Field(description="Человек–Техника.")
    person: KlimovPoints = Field(description="Человек–Человек.")
    sign_system: KlimovPoints = Field(description="Человек–Знаковая система.")
    artistic_image: KlimovPoints = Field(description="Человек–Художественный образ.")

    @model_validator(mode="after")
    def _all_pairs_answered(self) -> Self:
        total = self.nature + self.technology + self.person + self.sign_system
        if total + self.artistic_image != KLIMOV_PAIRS:
            raise ValueError(f"the five ДДО scores sum to {KLIMOV_PAIRS}, one per pair")
        return self


class KlimovResult(ContractModel):
    instrument: InstrumentRef
    scores: KlimovScores

    @model_validator(mode="after")
    def _instrument(self) -> Self:
        _require(self.instrument, Instrument.KLIMOV_DDO)
        return self


class RiasecScores(ContractModel):
    """Holland RIASEC, O*NET Interest Profiler short form: ten items per type, each answered
    0 (strongly dislike) to 4 (strongly like), summed: 0–40 per type."""

    realistic: RiasecPoints
    investigative: RiasecPoints
    artistic: RiasecPoints
    social: RiasecPoints
    enterprising: RiasecPoints
    conventional: RiasecPoints


class RiasecResult(ContractModel):
    instrument: InstrumentRef
    scores: RiasecScores

    @model_validator(mode="after")
    def _instrument(self) -> Self:
        _require(self.instrument, Instrument.ONET_IP_SHORT)
        return self


class EnvironmentScores(ContractModel):
    """Interest in each of the nine environments (среды), 0–100."""

    safe: Percent
    smart: Percent
    social: Percent
    healthy: Percent
    comfortable: Percent
    industrial: Percent
    creative: Percent
    business: Percent
    agrarian: Percent


class EnvironmentProfile(ContractModel):
    """The interests as the programme reports them: environments, computed from the scale scores
    by a versioned mapping; `leading` is "which sphere interests the child most"."""

    mapping: MappingRef
    scores: EnvironmentScores
    leading: Environments = Field(max_length=3, description="Strongest first, one to three.")


class InterestsResult(ContractModel):
    klimov: KlimovResult | None = None
    riasec: RiasecResult | None = None
    environments: EnvironmentProfile

    @model_validator(mode="after")
    def _some_instrument(self) -> Self:
        if self.klimov is None and self.riasec is None:
            raise ValueError("interests come from ДДО, RIASEC or both")
        return self


class SkillLevel(ContractModel):
    skill: Code = Field(description="A soft skill of the item bank, e.g. teamwork.")
    level: Level
    score: int = Field(ge=0)
    max_score: int = Field(ge=1)

    @model_validator(mode="after")
    def _within(self) -> Self:
        if self.score > self.max_score:
            raise ValueError("score above the maximum")
        return self


class SoftSkillsResult(ContractModel):
    instrument: InstrumentRef
    levels: tuple[SkillLevel, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _instrument(self) -> Self:
        _require(self.instrument, Instrument.SOFT_SKILLS_BANK)
        return self


class KnowledgeLevel(ContractModel):
    environment: Environment
    level: Level
    score: int = Field(ge=0)
    max_score: int = Field(ge=1)

    @model_validator(mode="after")
    def _within(self) -> Self:
        if self.score > self.max_score:
            raise ValueError("score above the maximum")
        return self


class ProfessionsKnowledgeResult(ContractModel):
    instrument: InstrumentRef
    levels: tuple[KnowledgeLevel, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _instrument(self) -> Self:
        _require(self.instrument, Instrument.PROFESSIONS_KNOWLEDGE_BANK)
        return self


class AnswerSheetRef(ContractModel):
    """The answers a result was computed from; they stay in the diagnostics service."""

    answer_sheet_id: UUID
    item_count: int = Field(ge=1)
    digest: Sha256 = Field(description="SHA-256 of the answer sheet's canonical JSON.")


class DiagnosticsEvent(DomainEvent):
    service: ClassVar[str] = "diagnostics"


@published
class InstrumentVersionPublished(DiagnosticsEvent):
    """A version of a diagnostics instrument (its item bank and scoring) came into use. Results
    name this version; it is never changed afterwards, only followed by a newer one."""

    event_type: ClassVar[str] = "InstrumentVersionPublished"
    stream_category: ClassVar[str] = "instrument"
    stream_key: ClassVar[str] = "instrument"

    instrument: Instrument
    version: SemVer
    stage: Stage
    item_count: int = Field(ge=1)
    scales: tuple[Code, ...] = Field(min_length=1, description="The scales it scores.")
    item_bank_digest: Sha256
    environment_mapping: MappingRef | None = Field(
        default=None, description="For interests instruments: the scales → environments mapping."
    )


class _Attempt(DiagnosticsEvent):
    stream_category: ClassVar[str] = "attempt"
    stream_key: ClassVar[str] = "attempt_id"


@published
class StageStarted(_Attempt):
    """A participant with a verified consent started a diagnostics stage within their region's
    window, with these instrument versions."""

    event_type: ClassVar[str] = "StageStarted"

    attempt_id: UUID
    participant_id: UUID
    season: Season
    stage: Stage
    instruments: tuple[InstrumentRef, ...] = Field(min_length=1, max_length=4)


_RESULT_OF_STAGE = {
    Stage.INTERESTS: "interests",
    Stage.SOFT_SKILLS: "soft_skills",
    Stage.PROFESSIONS_KNOWLEDGE: "professions_knowledge",
}


@published
class StageCompleted(_Attempt):
    """A participant finished a diagnostics stage and it was scored: exactly the result of that
    stage is set (interests: ДДО and/or RIASEC scores and the nine environments; soft skills and
    knowledge of professions: criterion-referenced levels). Results are for guidance only: they
    never affect school marks or admission."""

    event_type: ClassVar[str] = "StageCompleted"

    attempt_id: UUID
    participant_id: UUID
    season: Season
    stage: Stage
    answer_sheet: AnswerSheetRef
    interests: InterestsResult | None = None
    soft_skills: SoftSkillsResult | None = None
    professions_knowledge: ProfessionsKnowledgeResult | None = None

    @model_validator(mode="after")
    def _result_of_its_stage(self) -> Self:
        for stage, name in _RESULT_OF_STAGE.items():
            if (getattr(self, name) is not None) != (stage == self.stage):
                raise ValueError(f"a {self.stage} stage has exactly the {self.stage} result")
        return self
