"""For tests of the read side: published events of identity, consent and diagnostics built with
few words, and `FactsHistory`, which appends them to in-memory stores of their services and feeds
the facts projection from them as the embedded path does (identity's and consent's own from
`bilet.facts.testing`, with diagnostics' defaults). Sealed fields are well-formed envelopes
of no key: nothing here is a real person."""

import contextlib
import json
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Final
from uuid import UUID, uuid4

from bilet.contracts.catalogue.consent import Purpose
from bilet.contracts.catalogue.diagnostics import (
    AnswerSheetRef,
    InterestsResult,
    KnowledgeLevel,
    ProfessionsKnowledgeResult,
    SkillLevel,
    SoftSkillsResult,
    StageCompleted,
    StageStarted,
)
from bilet.contracts.catalogue.identity import (
    DiagnosticsWindowScheduled,
    RegionAdmitted,
    SchoolRegistered,
    SeasonRulesPublished,
)
from bilet.contracts.examples import DIGEST, EXAMPLES
from bilet.contracts.vocabulary import (
    Environment,
    GradeRange,
    Instrument,
    InstrumentRef,
    Level,
    Stage,
)
from bilet.facts import testing
from bilet.facts.testing import OTHER_REGION, REGION, erased, purposes_withdrawn, withdrawn
from bilet.projections import ReadModel
from bilet_diagnostics.adapters.facts import FACTS_PROJECTION, SOURCES, ReadModelFacts

__all__ = [
    "OTHER_REGION",
    "REGION",
    "SCHOOL_3",
    "SCHOOL_5",
    "SPB_SCHOOL",
    "STAGES",
    "FactsHistory",
    "completed",
    "erased",
    "facts_on_sqlite",
    "purposes_withdrawn",
    "region",
    "registered",
    "rules",
    "school",
    "started",
    "verified",
    "window",
    "withdrawn",
]

SCHOOL_3 = testing.SCHOOL
SCHOOL_5 = UUID("0c3b9a52-7f3e-4d8a-8a10-000000000005")
SPB_SCHOOL = UUID("0c3b9a52-7f3e-4d8a-8a10-000000000078")
STAGES = (Stage.INTERESTS, Stage.SOFT_SKILLS, Stage.PROFESSIONS_KNOWLEDGE)
_VERSION = "1.0.0"


def rules(
    season: int,
    version: int = 1,
    stages: Iterable[Stage] = STAGES,
    applies_from: date | None = None,
) -> SeasonRulesPublished:
    """A version of the season's rules, applying from the season's start unless told."""
    return SeasonRulesPublished(
        season=season,
        rules_version=version,
        eligible_grades=GradeRange(lowest=6, highest=11),
        max_career_events=3,
        diagnostics_stages=tuple(stages),
        starts_on=date(season, 9, 1),
        ends_on=date(season + 1, 5, 31),
        applies_from=applies_from or date(season, 9, 1),
    )


def region(region_id: UUID, time_zone: str, season: int = 2019) -> RegionAdmitted:
    return RegionAdmitted(
        region_id=region_id,
        region_code="47" if region_id == REGION else "78",
        name="Ленинградская область",
        season=season,
        time_zone=time_zone,
        coordinator="ГБУ ДО «Интеллект»",
    )


def school(school_id: UUID, region_id: UUID = REGION) -> SchoolRegistered:
    return SchoolRegistered(
        school_id=school_id,
        region_id=region_id,
        name="МОУ «СОШ № 3»",
        municipality="Лужский муниципальный район",
    )


def window(
    opens_on: date,
    closes_on: date,
    stages: Iterable[Stage] = STAGES,
    *,
    region_id: UUID = REGION,
    season: int = 2019,
) -> DiagnosticsWindowScheduled:
    return DiagnosticsWindowScheduled(
        region_id=region_id,
        season=season,
        stages=tuple(stages),
        opens_on=opens_on,
        closes_on=closes_on,
    )


# A pupil registers in the 7th grade; a consent covers the online diagnostics.
_EVENTS: Final = testing.FactsEvents(
    grade=7, purposes=(Purpose.PROGRAMME_PARTICIPATION, Purpose.ONLINE_DIAGNOSTICS)
)
registered = _EVENTS.registered
verified = _EVENTS.verified


_INSTRUMENTS = {
    Stage.INTERESTS: (
        InstrumentRef(instrument=Instrument.KLIMOV_DDO, version=_VERSION),
        InstrumentRef(instrument=Instrument.ONET_IP_SHORT, version=_VERSION),
    ),
    Stage.SOFT_SKILLS: (InstrumentRef(instrument=Instrument.SOFT_SKILLS_BANK, version=_VERSION),),
    Stage.PROFESSIONS_KNOWLEDGE: (
        InstrumentRef(instrument=Instrument.PROFESSIONS_KNOWLEDGE_BANK, version=_VERSION),
    ),
}


def started(
    participant_id: UUID, stage: Stage, *, season: int = 2019, attempt_id: UUID | None = None
) -> StageStarted:
    return StageStarted(
        attempt_id=attempt_id or uuid4(),
        participant_id=participant_id,
        season=season,
        stage=stage,
        instruments=_INSTRUMENTS[stage],
    )


def completed(attempt: StageStarted) -> StageCompleted:
    """The completion of a started attempt, with a result of its stage."""
    results: dict[str, object] = {}
    if attempt.stage is Stage.INTERESTS:
        example = EXAMPLES[("StageCompleted", 1)]["interests"]
        results["interests"] = InterestsResult.model_validate_json(json.dumps(example))
    elif attempt.stage is Stage.SOFT_SKILLS:
        results["soft_skills"] = SoftSkillsResult(
            instrument=_INSTRUMENTS[Stage.SOFT_SKILLS][0],
            levels=(SkillLevel(skill="teamwork", level=Level.BASIC, score=3, max_score=5),),
        )
    else:
        results["professions_knowledge"] = ProfessionsKnowledgeResult(
            instrument=_INSTRUMENTS[Stage.PROFESSIONS_KNOWLEDGE][0],
            levels=(
                KnowledgeLevel(
                    environment=Environment.SMART, level=Level.ADVANCED, score=9, max_score=10
                ),
            ),
        )
    return StageCompleted(
        attempt_id=attempt.attempt_id,
        participant_id=attempt.participant_id,
        season=attempt.season,
        stage=attempt.stage,
        answer_sheet=AnswerSheetRef(answer_sheet_id=uuid4(), item_count=20, digest=DIGEST),
        **results,  # type: ignore[arg-type]
    )


class FactsHistory(testing.FactsHistory):
    """Identity's, consent's and diagnostics' stores (in memory), the facts projection fed from
    them into `read_model`, and the facts it answers."""

    def __init__(self, read_model: ReadModel) -> None:
        super().__init__(read_model, FACTS_PROJECTION, SOURCES)
        self.facts = ReadModelFacts(read_model)


def facts_on_sqlite(folder: Path) -> contextlib.AbstractAsyncContextManager[FactsHistory]:
    """A `FactsHistory` over a new SQLite read model in `folder`, closed on exit."""
    return testing.history_on_sqlite(folder / "diagnostics-readmodel.sqlite3", FactsHistory)
