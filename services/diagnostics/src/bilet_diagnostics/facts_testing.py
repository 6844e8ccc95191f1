"""For tests of the read side: published events of identity, consent and diagnostics built with
few words, and `FactsHistory`, which appends them to in-memory stores of their services and feeds
the facts projection from them as the embedded path does. Sealed fields are well-formed envelopes
of no key: nothing here is a real person."""

import contextlib
import json
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import UUID, uuid4

from bilet.contracts import DomainEvent, EventMetadata, encode, sealed_fields
from bilet.contracts.catalogue.consent import (
    ConsentPurposesWithdrawn,
    ConsentVerified,
    ConsentWithdrawn,
    ErasureReason,
    ParticipantErased,
    Purpose,
)
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
    ParticipantRegistered,
    RegionAdmitted,
    SchoolRegistered,
    SeasonRulesPublished,
)
from bilet.contracts.examples import DIGEST, EXAMPLES, sealed
from bilet.contracts.sealed import SealedValue
from bilet.contracts.vocabulary import (
    Environment,
    GradeRange,
    Instrument,
    InstrumentRef,
    Level,
    Stage,
)
from bilet.eventstore import ANY, EventStore
from bilet.eventstore.memory import InMemoryEventStore
from bilet.projections import EmbeddedFeed, ReadModel
from bilet.projections.sqlite import SqliteReadModel
from bilet_diagnostics.adapters.facts import (
    CONSENT,
    DIAGNOSTICS,
    FACTS_PROJECTION,
    IDENTITY,
    ReadModelFacts,
)

REGION = UUID("5e2a3c10-4b1d-4f7e-9c2a-470000000047")  # Ленинградская область
OTHER_REGION = UUID("5e2a3c10-4b1d-4f7e-9c2a-470000000078")
SCHOOL_3 = UUID("0c3b9a52-7f3e-4d8a-8a10-000000000003")
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


def registered(
    participant_id: UUID,
    school_id: UUID = SCHOOL_3,
    region_id: UUID = REGION,
    *,
    season: int = 2019,
    grade: int = 7,
) -> ParticipantRegistered:
    envelopes = {
        name: SealedValue.model_validate(sealed(name))
        for name in sealed_fields(ParticipantRegistered)
    }
    return ParticipantRegistered(
        participant_id=participant_id,
        school_id=school_id,
        region_id=region_id,
        season=season,
        grade=grade,
        **envelopes,
    )


def verified(
    participant_id: UUID,
    valid_until: date,
    purposes: Iterable[Purpose] = (Purpose.PROGRAMME_PARTICIPATION, Purpose.ONLINE_DIAGNOSTICS),
    *,
    consent_id: UUID | None = None,
) -> ConsentVerified:
    return ConsentVerified(
        participant_id=participant_id,
        consent_id=consent_id or uuid4(),
        purposes=tuple(purposes),
        valid_until=valid_until,
    )


def purposes_withdrawn(
    participant_id: UUID,
    consent_id: UUID,
    withdrawn: Iterable[Purpose],
    remaining: Iterable[Purpose],
) -> ConsentPurposesWithdrawn:
    return ConsentPurposesWithdrawn(
        participant_id=participant_id,
        consent_id=consent_id,
        withdrawn=tuple(withdrawn),
        remaining=tuple(remaining),
        withdrawn_on=date(2019, 10, 1),
    )


def withdrawn(participant_id: UUID, on: date) -> ConsentWithdrawn:
    return ConsentWithdrawn(
        participant_id=participant_id, consent_id=uuid4(), withdrawn_on=on, erase_by=on
    )


def erased(participant_id: UUID) -> ParticipantErased:
    return ParticipantErased(
        participant_id=participant_id,
        reason=ErasureReason.CONSENT_WITHDRAWN,
        erased_at=datetime(2019, 11, 1, tzinfo=UTC),
        destruction_record_id=uuid4(),
    )


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


class FactsHistory:
    """Identity's, consent's and diagnostics' stores (in memory), the facts projection fed from
    them into `read_model`, and the facts it answers."""

    def __init__(self, read_model: ReadModel) -> None:
        self.stores: dict[str, EventStore] = {
            IDENTITY: InMemoryEventStore(),
            CONSENT: InMemoryEventStore(),
            DIAGNOSTICS: InMemoryEventStore(),
        }
        self.feed = EmbeddedFeed(read_model, FACTS_PROJECTION, self.stores)
        self.facts = ReadModelFacts(read_model)

    async def given(self, *events: DomainEvent) -> None:
        """Append each event to its service's store, then feed everything appended so far."""
        for event in events:
            store = self.stores[type(event).service]
            await store.append(event.stream_id, [encode(event, EventMetadata())], ANY)
        await self.feed.catch_up({})


@contextlib.asynccontextmanager
async def facts_on_sqlite(folder: Path) -> AsyncIterator[FactsHistory]:
    """A `FactsHistory` over a new SQLite read model in `folder`, closed on exit."""
    read_model = await SqliteReadModel.open(folder / "diagnostics-readmodel.sqlite3")
    try:
        yield FactsHistory(read_model)
    finally:
        await read_model.close()
